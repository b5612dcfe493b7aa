//! One-line renderings as Delve's DAP server shows them (Delve's
//! `api.Variable.SinglelineString` over a value loaded with the DAP load
//! config, plus `convertVariable`'s touches): `[]int len: 3, cap: 5, [1,2,3]`,
//! `main.point {X: 1, Y: 2, Label: "end"}`, `map[string]int ["a": 1, ]`,
//! `error(*errors.errorString) *{s: "boom"}`, `chan int 2/3`.
//!
//! Delve loads nested values to a depth (MaxVariableRecurse = 1): the
//! children of a value at level <= 1 are loaded at level + 1, pointers and
//! interfaces keep their level; deeper structs show as `(*T)(0xaddr)` and
//! deeper slices and maps as `[...]`.

use super::types::Kind;
use super::value::{Ctx, Val};
use super::{maps, Expand, Var};
use crate::debugger::api::Value;

pub(crate) const MAX_STRING: u64 = 512;
pub(crate) const MAX_ARRAY: u64 = 64;
pub(crate) const MAX_RECURSE: u32 = 1;
/// DAP shows at most this much of an expandable value's one-line rendering.
const MAX_VALUE_LEN: usize = 256;
/// Rendering stops adding to a value past this (bounds work on huge values).
const MAX_RENDER: usize = 64 << 10;
const MAX_NESTING: u32 = 32;

pub(crate) const OPTIMIZED: &str = "(optimized away)";

#[derive(Clone, Copy)]
pub(crate) struct Flags {
    pub include_type: bool,
}

const TOP: Flags = Flags { include_type: true };

/// Go's `strconv.Quote`.
pub(crate) fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    let mut rest = bytes;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, None),
            Err(e) => {
                let (ok, tail) = rest.split_at(e.valid_up_to());
                (std::str::from_utf8(ok).unwrap_or(""), tail.first().copied())
            }
        };
        for c in valid.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\x07' => out.push_str("\\a"),
                '\x08' => out.push_str("\\b"),
                '\x0c' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\x0b' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c == '\x7f' => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                    if (c as u32) < 0x10000 {
                        out.push_str(&format!("\\u{:04x}", c as u32));
                    } else {
                        out.push_str(&format!("\\U{:08x}", c as u32));
                    }
                }
                c => out.push(c),
            }
        }
        rest = &rest[valid.len()..];
        if let Some(b) = bad {
            out.push_str(&format!("\\x{b:02x}"));
            rest = &rest[1..];
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.FormatFloat(f, 'f', -1, bits)`.
pub(crate) fn go_float(f: f64, bits32: bool) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if bits32 {
        format!("{}", f as f32)
    } else {
        format!("{f}")
    }
}

fn unreadable(out: &mut String, e: anyhow::Error) {
    out.push_str(&format!("(unreadable {e})"));
}

/// Renders a scalar (bool, number) or `None` for other kinds.
pub(crate) fn scalar(ctx: &Ctx, v: &Val) -> anyhow::Result<Option<String>> {
    let t = ctx.ty(v.ty)?;
    let size = t.size.clamp(1, 8);
    Ok(Some(match t.kind {
        Kind::Bool => (ctx.uint(v, 0, 1)? != 0).to_string(),
        Kind::Int => named_constant(ctx, v.ty, ctx.int(v, 0, size)?),
        Kind::Uint => named_constant(ctx, v.ty, ctx.uint(v, 0, size)? as i64),
        Kind::Float if t.size == 4 => {
            go_float(f32::from_bits(ctx.uint(v, 0, 4)? as u32) as f64, true)
        }
        Kind::Float => go_float(f64::from_bits(ctx.uint(v, 0, 8)?), false),
        Kind::Complex if t.size == 8 => {
            let re = f32::from_bits(ctx.uint(v, 0, 4)? as u32) as f64;
            let im = f32::from_bits(ctx.uint(v, 4, 4)? as u32) as f64;
            format!("({} + {}i)", go_float(re, true), go_float(im, true))
        }
        Kind::Complex => {
            let re = f64::from_bits(ctx.uint(v, 0, 8)?);
            let im = f64::from_bits(ctx.uint(v, 8, 8)?);
            format!("({} + {}i)", go_float(re, false), go_float(im, false))
        }
        _ => return Ok(None),
    }))
}

/// An integer of a named type with constants, as Delve shows it: the
/// constant's name (`Int (2)`), or an OR of single-bit constants
/// (`TFlagUncommon|TFlagNamed (5)`); otherwise just the number.
fn named_constant(ctx: &Ctx, ty: super::types::TypeId, n: i64) -> String {
    let unsigned = matches!(ctx.ty(ty).map(|t| t.kind.clone()), Ok(Kind::Uint));
    let number = if unsigned {
        (n as u64).to_string()
    } else {
        n.to_string()
    };
    let Some(consts) = ctx.info.constants.get(&ty) else {
        return number;
    };
    // Only user-defined types (every int would have names otherwise), and
    // C enums.
    if !ctx.type_name(ty).contains('.') && !ctx.info.types.is_c(ty) {
        return number;
    }
    if let Some((_, name)) = consts.iter().find(|(v, _)| *v == n) {
        return format!("{name} ({number})");
    }
    if n == 0 {
        return number;
    }
    let mut rest = n;
    let mut names = Vec::new();
    for (v, name) in consts {
        if *v != 0 && v & (v - 1) == 0 && rest & v != 0 {
            names.push(name.as_str());
            rest &= !v;
        }
    }
    if rest == 0 {
        format!("{} ({number})", names.join("|"))
    } else {
        number
    }
}

/// A string as Delve shows it: at most 512 bytes, then `...+N more`.
pub(crate) fn string(ctx: &Ctx, v: &Val, max: u64) -> anyhow::Result<String> {
    let (mut bytes, len) = ctx.string(v, max)?;
    if (bytes.len() as u64) < len {
        bytes.extend_from_slice(format!("...+{} more", len - bytes.len() as u64).as_bytes());
    }
    Ok(go_quote(&bytes))
}

pub(crate) fn write(ctx: &Ctx, v: &Val, level: u32, f: Flags, out: &mut String) {
    write_nested(ctx, v, level, f, out, 0)
}

/// `nesting` bounds the recursion (pointers do not raise the level, so a
/// pointer cycle would not stop otherwise).
fn write_nested(ctx: &Ctx, v: &Val, level: u32, f: Flags, out: &mut String, nesting: u32) {
    if out.len() > MAX_RENDER || nesting > MAX_NESTING {
        out.push_str("...");
        return;
    }
    if let Err(e) = write_inner(ctx, v, level, f, out, nesting + 1) {
        unreadable(out, e);
    }
}

fn write_inner(
    ctx: &Ctx,
    v: &Val,
    level: u32,
    f: Flags,
    out: &mut String,
    nesting: u32,
) -> anyhow::Result<()> {
    let t = ctx.ty(v.ty)?;
    let name = ctx.type_name(v.ty);
    if let Some(s) = scalar(ctx, v)? {
        out.push_str(&s);
        return Ok(());
    }
    let inner = Flags {
        include_type: f.include_type,
    };
    match &t.kind {
        Kind::String => out.push_str(&string(ctx, v, MAX_STRING)?),
        // Delve shows a nil one as unsafe.Pointer(0x0) too.
        Kind::Ptr(None) => out.push_str(&format!("unsafe.Pointer({:#x})", ctx.uint(v, 0, 8)?)),
        Kind::Ptr(Some(_)) if ctx.is_c_string(v) && ctx.uint(v, 0, 8)? != 0 => {
            let (mut bytes, done) = ctx.c_string(ctx.uint(v, 0, 8)?, MAX_STRING)?;
            if !done {
                bytes.extend_from_slice(b"...");
            }
            out.push_str(&go_quote(&bytes));
        }
        Kind::Ptr(Some(target)) => {
            out.push('*');
            match ctx.deref(v)? {
                None => {
                    if f.include_type {
                        out.push_str(&format!("{} nil", ctx.type_name(*target)));
                    } else {
                        out.push_str("nil");
                    }
                }
                Some(p) => {
                    // Pointers do not count as a level, except to interfaces
                    // (which could loop).
                    let is_iface = matches!(
                        ctx.ty(*target).map(|t| t.kind.clone()),
                        Ok(Kind::Iface { .. })
                    );
                    write_nested(ctx, &p, level + u32::from(is_iface), inner, out, nesting);
                }
            }
        }
        Kind::Slice(elem) => {
            let (base, len, cap) = ctx.slice(v)?;
            if f.include_type {
                out.push_str(&format!("{name} len: {len}, cap: {cap}, "));
            }
            if base == 0 {
                out.push_str("nil");
                return Ok(());
            }
            let base = Val {
                ty: *elem,
                loc: super::value::Loc::Mem(base),
            };
            write_elements(ctx, &base, *elem, len, level, out, nesting);
        }
        Kind::Array(elem, n) => {
            if f.include_type {
                out.push_str(&format!("{name} "));
            }
            write_elements(ctx, v, *elem, *n, level, out, nesting);
        }
        Kind::Struct(fields) => {
            if level > MAX_RECURSE && !fields.is_empty() {
                match v.address() {
                    Some(a) => out.push_str(&format!("(*{})({a:#x})", quoted_type(&name))),
                    None => out.push_str("{...}"),
                }
                return Ok(());
            }
            if name == "time.Time" {
                // Delve: the time before the fields, `time.Time(…){wall: …}`.
                if let Ok(Some(t)) = time_value(ctx, v) {
                    out.push_str(&format!("{name}({t})"));
                } else if f.include_type {
                    out.push_str(&format!("{name} "));
                }
            } else if f.include_type {
                out.push_str(&format!("{name} "));
            }
            out.push('{');
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&field.name);
                out.push_str(": ");
                match ctx.sub(v, field.offset, field.ty) {
                    Ok(fv) => write_nested(
                        ctx,
                        &fv,
                        level + 1,
                        Flags { include_type: true },
                        out,
                        nesting,
                    ),
                    Err(e) => unreadable(out, e),
                }
            }
            out.push('}');
        }
        Kind::Map { key, elem, hdr } => {
            if f.include_type {
                out.push_str(&format!("{name} "));
            }
            let Some(h) = ctx.header(v, *hdr)? else {
                out.push_str("nil");
                return Ok(());
            };
            if level > MAX_RECURSE {
                let len = maps::len(ctx, &h)?;
                out.push_str(if len > 0 { "[...]" } else { "[]" });
                return Ok(());
            }
            let m = maps::entries(ctx, &h, *key, *elem, 0, MAX_ARRAY)?;
            let plain = Flags {
                include_type: false,
            };
            out.push('[');
            for (k, val) in &m.entries {
                write_nested(ctx, k, level + 1, plain, out, nesting);
                out.push_str(": ");
                write_nested(ctx, val, level + 1, plain, out, nesting);
                out.push_str(", ");
            }
            let shown = m.entries.len() as u64;
            if m.len > shown {
                if shown > 0 {
                    out.push_str(&format!(",...+{} more", m.len - shown));
                } else {
                    out.push_str("...");
                }
            }
            out.push(']');
        }
        Kind::Chan { hdr, .. } => match ctx.header(v, *hdr)? {
            None => out.push_str(&format!("{name} nil")),
            Some(h) => {
                let q = ctx.field_uint(&h, "qcount")?;
                let d = ctx.field_uint(&h, "dataqsiz")?;
                out.push_str(&format!("{name} {q}/{d}"));
            }
        },
        Kind::Func => match ctx.func_name(v)? {
            Some(n) => out.push_str(&n),
            None => out.push_str("nil"),
        },
        Kind::Iface { .. } => match ctx.iface_data(v)? {
            None => {
                if f.include_type {
                    out.push_str(&format!("{name} nil"));
                } else {
                    out.push_str("nil");
                }
            }
            Some((dynamic, data)) => {
                if f.include_type {
                    out.push_str(&format!("{name}({}) ", dynamic.name));
                }
                let data_flags = Flags {
                    include_type: !f.include_type,
                };
                match data {
                    None => out.push_str("(unknown type)"),
                    Some(d) => {
                        let is_ptr = matches!(ctx.ty(d.ty)?.kind, Kind::Ptr(_));
                        if is_ptr && ctx.uint(&d, 0, 8)? == 0 {
                            out.push_str("nil");
                        } else if level > MAX_RECURSE {
                            if is_ptr {
                                out.push_str(&format!("{:#x}", ctx.uint(&d, 0, 8)?));
                            } else {
                                out.push_str("...");
                            }
                        } else {
                            write_nested(ctx, &d, level, data_flags, out, nesting);
                        }
                    }
                }
            }
        },
        Kind::Alias(_)
        | Kind::Param { .. }
        | Kind::Unknown
        | Kind::Bool
        | Kind::Int
        | Kind::Uint
        | Kind::Float
        | Kind::Complex => out.push_str(&format!("(unknown type {name})")),
    }
    Ok(())
}

/// Seconds from time.Time's wall epoch (1885-01-01) to the Unix epoch.
const UNIX_OF_WALL_EPOCH: i64 = -2_682_288_000;
/// Seconds from 0001-01-01 (time.Time's absolute epoch) to the Unix epoch.
const UNIX_OF_YEAR_ONE: i64 = -62_135_596_800;

/// A time.Time as Delve shows it (its formatTime): RFC 3339 to the
/// second in the time's location, then the monotonic clock reading when
/// the time has one (`2024-01-02T15:04:05Z, +123456`). The location's
/// offset is the program's own (its zone table), where Delve loads a zone
/// of that name on its own machine; both agree for UTC and for a local
/// zone the two machines share. None when the time is out of range.
fn time_value(ctx: &Ctx, v: &Val) -> anyhow::Result<Option<String>> {
    let wall = ctx.field_uint(v, "wall")?;
    let ext = ctx.field_uint(v, "ext")? as i64;
    let (unix, mono) = if wall >> 63 != 0 {
        (((wall << 1) >> 31) as i64 + UNIX_OF_WALL_EPOCH, Some(ext))
    } else {
        // Delve declines times more than ~292 million years out.
        if !(-9_223_372_036..=9_223_372_036_000).contains(&ext) {
            return Ok(None);
        }
        (ext + UNIX_OF_YEAR_ONE, None)
    };
    let offset = ctx
        .field(v, "loc")
        .and_then(|l| ctx.deref(&l))
        .ok()
        .flatten()
        .and_then(|loc| zone_offset(ctx, &loc, unix).ok())
        .unwrap_or(0);
    let mut s = rfc3339(unix, offset);
    if let Some(m) = mono {
        s.push_str(&format!(", {m:+}"));
    }
    Ok(Some(s))
}

/// The UTC offset (seconds) of a *time.Location's zone at `unix`, from the
/// program's zone table (its lookup: the cached zone, else the last
/// transition at or before the time, else the first zone).
fn zone_offset(ctx: &Ctx, loc: &Val, unix: i64) -> anyhow::Result<i64> {
    let types = &ctx.info.types;
    let int_field = |v: &Val, name: &str| -> anyhow::Result<i64> {
        let f = ctx.field(v, name)?;
        ctx.int(&f, 0, types.size(f.ty))
    };
    let zone_at = |zone: &Val| -> anyhow::Result<i64> { int_field(zone, "offset") };
    let cache = ctx.field(loc, "cacheZone")?;
    if let Some(z) = ctx.deref(&cache)? {
        if int_field(loc, "cacheStart")? <= unix && unix < int_field(loc, "cacheEnd")? {
            return zone_at(&z);
        }
    }
    let elements = |name: &str| -> anyhow::Result<(Val, super::types::TypeId, u64)> {
        let f = ctx.field(loc, name)?;
        let Kind::Slice(elem) = ctx.ty(f.ty)?.kind else {
            anyhow::bail!("{name} is not a slice");
        };
        let (base, len, _) = ctx.slice(&f)?;
        let base = Val {
            ty: elem,
            loc: super::value::Loc::Mem(base),
        };
        Ok((base, elem, len))
    };
    let (zones, zone_ty, nzones) = elements("zone")?;
    if nzones == 0 {
        return Ok(0);
    }
    let (tx, tx_ty, ntx) = elements("tx")?;
    let ntx = ntx.min(1 << 20);
    let when = |i: u64| -> anyhow::Result<i64> { int_field(&ctx.element(&tx, tx_ty, i)?, "when") };
    let mut index = 0;
    if ntx > 0 && when(0)? <= unix {
        // The last transition at or before `unix`.
        let (mut lo, mut hi) = (0, ntx);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if when(mid)? <= unix {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        index = ctx.field_uint(&ctx.element(&tx, tx_ty, lo)?, "index")?;
    }
    if index >= nzones {
        anyhow::bail!("zone index {index} out of range");
    }
    zone_at(&ctx.element(&zones, zone_ty, index)?)
}

/// Go's `Format(time.RFC3339)` of a Unix time at a UTC offset.
pub(crate) fn rfc3339(unix: i64, offset: i64) -> String {
    let local = unix.saturating_add(offset);
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let year = if year < 0 {
        format!("-{:04}", -year)
    } else {
        format!("{year:04}")
    };
    let zone = if offset == 0 {
        "Z".to_string()
    } else {
        let m = offset.abs() / 60;
        format!(
            "{}{:02}:{:02}",
            if offset < 0 { '-' } else { '+' },
            m / 60,
            m % 60
        )
    };
    format!(
        "{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}{zone}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn quoted_type(name: &str) -> String {
    if name.contains('/') {
        format!("{name:?}")
    } else {
        name.to_string()
    }
}

fn write_elements(
    ctx: &Ctx,
    base: &Val,
    elem: super::types::TypeId,
    len: u64,
    level: u32,
    out: &mut String,
    nesting: u32,
) {
    // Delve loads arrays at every depth (only their struct elements
    // stop at the depth limit).
    let _ = level;
    out.push('[');
    let shown = len.min(MAX_ARRAY);
    let plain = Flags {
        include_type: false,
    };
    for i in 0..shown {
        if i > 0 {
            out.push(',');
        }
        match ctx.element(base, elem, i) {
            Ok(e) => write_nested(ctx, &e, level + 1, plain, out, nesting),
            Err(e) => unreadable(out, e),
        }
    }
    if len > shown {
        if shown > 0 {
            out.push_str(&format!(",...+{} more", len - shown));
        } else {
            out.push_str("...");
        }
    }
    out.push(']');
}

/// Whether a list's elements are bytes or runes (by kind, as Delve: named
/// types of uint8 and int32 too): Delve adds their text as `string()`.
pub(crate) fn bytes_or_runes(ctx: &Ctx, elem: super::types::TypeId) -> bool {
    ctx.ty(elem)
        .is_ok_and(|t| matches!((&t.kind, t.size), (Kind::Uint, 1) | (Kind::Int, 4)))
}

/// The `string()` child of a byte or rune list of `len` elements (whose
/// first elements start at `base`): its text as Delve shows it, 512 bytes
/// (or runes) at most.
pub(crate) fn list_text(
    ctx: &Ctx,
    base: &Val,
    elem: super::types::TypeId,
    len: u64,
) -> anyhow::Result<String> {
    let size = ctx.info.types.size(elem);
    let n = len.min(MAX_STRING);
    let raw = ctx.bytes(base, 0, n * size)?;
    if size == 1 {
        let mut b = raw;
        if len > n {
            b.extend_from_slice(format!("...+{} more", len - n).as_bytes());
        }
        return Ok(go_quote(&b));
    }
    Ok(go_quote(runes(&raw).as_bytes()))
}

/// Little-endian int32 runes as text (Go's `string([]rune)`: U+FFFD for
/// an invalid one).
pub(crate) fn runes(raw: &[u8]) -> String {
    raw.chunks_exact(4)
        .map(|c| char::from_u32(u32::from_le_bytes([c[0], c[1], c[2], c[3]])).unwrap_or('\u{fffd}'))
        .collect()
}

/// What DAP needs to page through a value's children.
struct Shape {
    expandable: bool,
    indexed: Option<u64>,
    named: Option<u64>,
}

fn shape(ctx: &Ctx, v: &Val) -> anyhow::Result<Shape> {
    let t = ctx.ty(v.ty)?;
    let none = Shape {
        expandable: false,
        indexed: None,
        named: None,
    };
    Ok(match &t.kind {
        // Delve gives no count of named children (fields): clients list them all.
        Kind::Struct(fields) => Shape {
            expandable: !fields.is_empty(),
            indexed: None,
            named: None,
        },
        Kind::Ptr(Some(_)) => Shape {
            expandable: !ctx.is_c_string(v) && ctx.deref(v)?.is_some(),
            ..none
        },
        // Named: Delve's `string()` child of byte and rune lists.
        Kind::Slice(elem) => {
            let (base, len, _) = ctx.slice(v)?;
            Shape {
                expandable: base != 0 && len > 0,
                indexed: Some(len),
                named: (len > 0 && bytes_or_runes(ctx, *elem)).then_some(1),
            }
        }
        // Delve lists a complex number's real and imaginary parts.
        Kind::Complex => Shape {
            expandable: true,
            ..none
        },
        Kind::Array(elem, n) => Shape {
            expandable: *n > 0,
            indexed: Some(*n),
            named: (*n > 0 && bytes_or_runes(ctx, *elem)).then_some(1),
        },
        // Named: Delve's `len()` child, before the entries.
        Kind::Map { hdr, .. } => match ctx.header(v, *hdr)? {
            Some(h) => {
                let len = maps::len(ctx, &h)?;
                Shape {
                    expandable: len > 0,
                    indexed: Some(len),
                    named: (len > 0).then_some(1),
                }
            }
            None => Shape {
                indexed: Some(0),
                ..none
            },
        },
        Kind::Iface { .. } => Shape {
            expandable: matches!(ctx.iface_data(v)?, Some((_, Some(_)))),
            ..none
        },
        Kind::Chan { hdr, .. } => match ctx.header(v, *hdr)? {
            Some(_) => Shape {
                expandable: true,
                indexed: None,
                named: None,
            },
            None => none,
        },
        // A closure lists the variables it captured.
        Kind::Func => Shape {
            expandable: !ctx.captured(v)?.is_empty(),
            ..none
        },
        _ => none,
    })
}

/// A value as a DAP variable: Delve's one-line rendering, plus what is
/// needed to expand it later.
pub(crate) fn to_var(ctx: &Ctx, v: &Val, name: &str, eval_name: &str, level: u32) -> Var {
    to_var_shown(ctx, v, name, eval_name, level, false)
}

/// `to_var`; `full`: the whole one-line rendering, not cut at 256 bytes
/// (Delve's showFullValue, for a value being copied).
pub(crate) fn to_var_shown(
    ctx: &Ctx,
    v: &Val,
    name: &str,
    eval_name: &str,
    level: u32,
    full: bool,
) -> Var {
    let mut value = String::new();
    write(ctx, v, level, TOP, &mut value);
    let t = ctx.ty(v.ty).ok();
    let kind = t.as_ref().map(|t| t.kind.clone());
    // DAP adds the hex form of unsigned integers.
    if matches!(kind, Some(Kind::Uint)) {
        if let Ok(n) = value.parse::<u64>() {
            value = format!("{value} = {n:#x}");
        }
    }
    let shape = shape(ctx, v).unwrap_or(Shape {
        expandable: false,
        indexed: None,
        named: None,
    });
    if shape.expandable && !full && value.len() > MAX_VALUE_LEN {
        let mut cut = MAX_VALUE_LEN;
        while !value.is_char_boundary(cut) {
            cut -= 1;
        }
        value.truncate(cut);
        value.push_str("...");
    }
    let mut type_name = ctx.type_name(v.ty);
    // Delve's DAP types an interface with its dynamic type,
    // `error(*main.myErr)`, when that type is known.
    if matches!(kind, Some(Kind::Iface { .. })) {
        if let Ok(Some((dynamic, Some(_)))) = ctx.iface_data(v) {
            type_name = format!("{type_name}({})", dynamic.name);
        }
    }
    Var {
        value: Value {
            name: name.to_string(),
            type_name,
            value,
            children: None,
            indexed: shape.indexed,
            named: shape.named,
            address: v.address(),
            evaluate_name: (!eval_name.is_empty()).then(|| eval_name.to_string()),
        },
        expand: shape.expandable.then(|| Expand {
            val: v.clone(),
            eval_name: eval_name.to_string(),
            level,
        }),
        place: v.address().map(|addr| super::MemPlace {
            addr,
            size: ctx.info.types.size(v.ty),
            ty: v.ty,
        }),
    }
}

/// A variable whose value this frame does not have.
pub(crate) fn optimized_var(type_name: String, name: &str, eval_name: &str) -> Var {
    Var {
        value: Value {
            name: name.to_string(),
            type_name,
            value: OPTIMIZED.to_string(),
            evaluate_name: (!eval_name.is_empty()).then(|| eval_name.to_string()),
            ..Value::default()
        },
        expand: None,
        place: None,
    }
}
