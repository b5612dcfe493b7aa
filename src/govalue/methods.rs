//! Method sets, from the runtime's type descriptors: whether a dynamic
//! type implements an interface, for `x.(I)` where I is an interface
//! (`x.(error)`). Go's DWARF lists no methods; the descriptors the program
//! itself uses for the same check do: an interface type's `Methods`
//! (`abi.Imethod`: name, method type) and a type's `abi.UncommonType`
//! (its methods, sorted by name: `abi.Method`), which follows the kind's
//! own descriptor (`abi.PtrType`, `abi.StructType`, …). Layouts come from
//! the program's DWARF (`internal/abi.*`), so every Go version reads its
//! own. A method matches by name and method type (the linker keeps one
//! descriptor per type, so equal types have equal offsets) and, when
//! unexported, by package path.

use anyhow::{anyhow, bail};

use super::types::TypeId;
use super::value::Ctx;

/// `abi.Kind` values whose descriptor is larger than `abi.Type`.
const KIND_ARRAY: u8 = 17;
const KIND_CHAN: u8 = 18;
const KIND_FUNC: u8 = 19;
const KIND_INTERFACE: u8 = 20;
const KIND_MAP: u8 = 21;
const KIND_POINTER: u8 = 22;
const KIND_SLICE: u8 = 23;
const KIND_STRUCT: u8 = 25;
const KIND_MASK: u8 = 0x1f;
/// `abi.TFlagUncommon`: an `UncommonType` follows the descriptor.
const TFLAG_UNCOMMON: u8 = 1;
/// `abi.TFlagExtraStar`: the type's name is stored with a leading `*`.
pub(super) const TFLAG_EXTRA_STAR: u8 = 2;

/// One method: its name, package path (unexported names) and type.
#[derive(Debug, PartialEq)]
struct Method {
    name: String,
    pkg: Option<String>,
    typ: i32,
}

/// Whether the type whose descriptor is at `rtype` implements interface
/// type `iface`: `Ok(None)` if it does, `Ok(Some(m))` with the first
/// method it lacks.
pub(crate) fn missing_method(
    ctx: &Ctx,
    rtype: u64,
    iface: TypeId,
) -> anyhow::Result<Option<String>> {
    let types = &ctx.info.types;
    let base = ctx
        .types_base()
        .ok_or_else(|| anyhow!("the runtime's type descriptors are not known"))?;
    let off = types
        .get(iface)
        .map(|t| t.rtype)
        .filter(|&r| r != 0)
        .ok_or_else(|| anyhow!("no runtime type for {}", types.name(iface)))?;
    let wanted = imethods(ctx, base, base + off)?;
    let have = methods(ctx, rtype)?;
    Ok(wanted
        .into_iter()
        .find(|w| !have.contains(w))
        .map(|w| w.name))
}

/// The itab pairing interface type `iface` with the type at `rtype`, if
/// the program has one. The runtime puts every itab in `runtime.itabTable`:
/// the linker's at start-up (`itabsinit`/`addModuleItabs`), others when
/// first needed. Without one no interface value of that pair exists yet.
pub(crate) fn find_itab(ctx: &Ctx, iface: TypeId, rtype: u64) -> Option<u64> {
    let types = &ctx.info.types;
    let inter = ctx.types_base()? + types.get(iface)?.rtype;
    let (it, inter_f, type_f) = match types.by_name("internal/abi.ITab") {
        Some(_) => ("internal/abi.ITab", "Inter", "Type"),
        None => ("runtime.itab", "inter", "_type"),
    };
    let (inter_off, type_off) = (field(ctx, it, inter_f).ok()?, field(ctx, it, type_f).ok()?);
    let matches = |itab: u64| {
        itab != 0
            && ctx.read_u64(itab + inter_off).ok() == Some(inter)
            && ctx.read_u64(itab + type_off).ok() == Some(rtype)
    };
    // `itabTable *itabTableType {size, count, entries}`.
    let table_var = ctx
        .info
        .globals
        .iter()
        .find(|g| g.name == "runtime.itabTable")?
        .addr;
    let table = ctx.read_u64(table_var).ok()?;
    let tt = "runtime.itabTableType";
    let size = ctx.read_u64(table + field(ctx, tt, "size").ok()?).ok()?;
    if size > 1 << 20 {
        return None;
    }
    let entries = table + field(ctx, tt, "entries").ok()?;
    let list = ctx.read(entries, (size * 8) as usize).ok()?;
    list.chunks_exact(8)
        .map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])))
        .find(|&itab| matches(itab))
}

/// A layout's field offset, from DWARF.
fn field(ctx: &Ctx, ty: &str, name: &str) -> anyhow::Result<u64> {
    let types = &ctx.info.types;
    let t = types
        .by_name(ty)
        .ok_or_else(|| anyhow!("no {ty} in the program's debug information"))?;
    types
        .field(t, name)
        .map(|f| f.offset)
        .ok_or_else(|| anyhow!("{ty} has no field {name}"))
}

fn size(ctx: &Ctx, ty: &str) -> anyhow::Result<u64> {
    let types = &ctx.info.types;
    let t = types
        .by_name(ty)
        .ok_or_else(|| anyhow!("no {ty} in the program's debug information"))?;
    Ok(types.size(t))
}

fn u8_at(ctx: &Ctx, addr: u64) -> anyhow::Result<u8> {
    Ok(ctx.read(addr, 1)?[0])
}

fn i32_at(ctx: &Ctx, addr: u64) -> anyhow::Result<i32> {
    Ok(i32::from_le_bytes(
        ctx.read(addr, 4)?.try_into().unwrap_or([0; 4]),
    ))
}

fn exported(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_uppercase())
}

/// An interface type's methods (`abi.InterfaceType.Methods`).
fn imethods(ctx: &Ctx, base: u64, at: u64) -> anyhow::Result<Vec<Method>> {
    let it = "internal/abi.InterfaceType";
    let list = at + field(ctx, it, "Methods")?;
    let (ptr, len) = (ctx.read_u64(list)?, ctx.read_u64(list + 8)?);
    if len > 4096 {
        bail!("bad method count {len}");
    }
    let pkg_name = ctx.read_u64(at + field(ctx, it, "PkgPath")?)?;
    let iface_pkg = if pkg_name == 0 {
        None
    } else {
        // PkgPath is an abi.Name (a pointer to its bytes), not an offset.
        let off = pkg_name.wrapping_sub(base) as i64;
        i32::try_from(off)
            .ok()
            .and_then(|o| ctx.abi_name(o).ok())
            .map(|n| n.0)
    };
    let list = Table {
        at: ptr,
        count: len,
        layout: "internal/abi.Imethod",
        typ: "Typ",
    };
    list.read(ctx, iface_pkg)
}

/// A table of methods in memory: `abi.Imethod`s or `abi.Method`s, each
/// a name offset and a method type offset (`typ` names that field).
struct Table {
    at: u64,
    count: u64,
    layout: &'static str,
    typ: &'static str,
}

impl Table {
    /// Its methods; an unexported name without a package path of its own
    /// belongs to `pkg` (the interface's or the type's).
    fn read(&self, ctx: &Ctx, pkg: Option<String>) -> anyhow::Result<Vec<Method>> {
        let step = size(ctx, self.layout)?.max(8);
        let (name_off, typ_off) = (
            field(ctx, self.layout, "Name")?,
            field(ctx, self.layout, self.typ)?,
        );
        let mut out = Vec::new();
        for k in 0..self.count {
            let m = self.at + k * step;
            let (n, own) = ctx.abi_name(i32_at(ctx, m + name_off)?)?;
            let pkg = if exported(&n) {
                None
            } else {
                own.or_else(|| pkg.clone())
            };
            out.push(Method {
                name: n,
                pkg,
                typ: i32_at(ctx, m + typ_off)?,
            });
        }
        Ok(out)
    }
}

/// The descriptor a kind's `UncommonType` follows.
fn kind_layout(kind: u8) -> &'static [&'static str] {
    match kind {
        KIND_ARRAY => &["internal/abi.ArrayType"],
        KIND_CHAN => &["internal/abi.ChanType"],
        KIND_FUNC => &["internal/abi.FuncType"],
        KIND_INTERFACE => &["internal/abi.InterfaceType"],
        KIND_MAP => &[
            "internal/abi.MapType",
            "internal/abi.SwissMapType",
            "internal/abi.OldMapType",
        ],
        KIND_POINTER => &["internal/abi.PtrType"],
        KIND_SLICE => &["internal/abi.SliceType"],
        KIND_STRUCT => &["internal/abi.StructType"],
        _ => &["internal/abi.Type"],
    }
}

/// A type's own methods (its method set: a pointer type's include its
/// element's value-receiver methods, as the compiler lays them out).
fn methods(ctx: &Ctx, rtype: u64) -> anyhow::Result<Vec<Method>> {
    let t = "internal/abi.Type";
    let tflag = u8_at(ctx, rtype + field(ctx, t, "TFlag")?)?;
    if tflag & TFLAG_UNCOMMON == 0 {
        return Ok(Vec::new());
    }
    let kind = u8_at(ctx, rtype + field(ctx, t, "Kind_")?)? & KIND_MASK;
    let layout = kind_layout(kind)
        .iter()
        .find_map(|n| size(ctx, n).ok().filter(|&s| s > 0))
        .ok_or_else(|| anyhow!("no descriptor layout for kind {kind}"))?;
    let ut = "internal/abi.UncommonType";
    let u = rtype + layout;
    let type_pkg = ctx
        .abi_name(i32_at(ctx, u + field(ctx, ut, "PkgPath")?)?)
        .ok()
        .map(|n| n.0)
        .filter(|p| !p.is_empty());
    let count = u16::from_le_bytes(
        ctx.read(u + field(ctx, ut, "Mcount")?, 2)?
            .try_into()
            .unwrap_or([0; 2]),
    ) as u64;
    let moff = i32_at(ctx, u + field(ctx, ut, "Moff")?)? as u32 as u64;
    let list = Table {
        at: u + moff,
        count,
        layout: "internal/abi.Method",
        typ: "Mtyp",
    };
    list.read(ctx, type_pkg)
}
