//! Children of an expandable value, named as Delve's DAP server names them:
//! struct fields, `[i]` elements, map entries named by their key (or
//! `[key i]`/`[val i]` pairs when both sides are composite), the pointee of
//! a pointer (named ""), an interface's `data`, a channel's hchan fields.

use super::render::{bytes_or_runes, list_text, to_var, MAX_RECURSE};
use super::types::Kind;
use super::value::{Ctx, Loc, Val};
use super::{maps, Expand, Var};
use crate::debugger::api::Value;

/// Children returned at most per request.
const MAX_CHILDREN: u64 = 1000;
/// An inlined map key longer than this is cut (Delve's maxMapKeyValueLen).
const MAX_KEY_LEN: usize = 64;

/// Delve reloads a composite child that was too deep to load with its
/// parent: in effect it is rendered as a top-level value.
fn child_level(level: u32) -> u32 {
    if level > MAX_RECURSE {
        0
    } else {
        level
    }
}

fn join(parent: &str, f: impl FnOnce(&str) -> String) -> String {
    if parent.is_empty() {
        String::new()
    } else {
        f(parent)
    }
}

pub(crate) fn children(ctx: &Ctx, e: &Expand, start: u64, count: u64) -> anyhow::Result<Vec<Var>> {
    let count = if count == 0 {
        MAX_CHILDREN
    } else {
        count.min(MAX_CHILDREN)
    };
    let end = start.saturating_add(count);
    let v = &e.val;
    let parent = e.eval_name.as_str();
    let t = ctx.ty(v.ty)?;
    let mut out = Vec::new();
    match &t.kind {
        Kind::Struct(fields) => {
            let lvl = child_level(e.level + 1);
            for f in fields.iter().skip(start as usize).take(count as usize) {
                let fv = ctx.sub(v, f.offset, f.ty)?;
                let eval = join(parent, |p| format!("{p}.{}", f.name));
                out.push(to_var(ctx, &fv, &f.name, &eval, lvl));
            }
        }
        Kind::Ptr(Some(_)) => {
            if let (0, Some(p)) = (start, ctx.deref(v)?) {
                let eval = join(parent, |p| format!("(*{p})"));
                out.push(to_var(ctx, &p, "", &eval, e.level));
            }
        }
        Kind::Slice(elem) => {
            let (base, len, _) = ctx.slice(v)?;
            let base = Val {
                ty: *elem,
                loc: Loc::Mem(base),
            };
            elements(ctx, &base, *elem, len, start, end, e, &mut out)?;
        }
        Kind::Array(elem, n) => elements(ctx, v, *elem, *n, start, end, e, &mut out)?,
        Kind::Map { key, elem, hdr } => {
            if let Some(h) = ctx.header(v, *hdr)? {
                // Child 0 is Delve's `len()` (the map's one named child);
                // the entries follow it.
                let mut count = count;
                if start == 0 {
                    let len = maps::len(ctx, &h)?;
                    out.push(Var {
                        value: Value {
                            name: "len()".into(),
                            type_name: "int".into(),
                            value: len.to_string(),
                            evaluate_name: (!parent.is_empty()).then(|| format!("len({parent})")),
                            ..Value::default()
                        },
                        expand: None,
                        place: None,
                    });
                    count = count.saturating_sub(1);
                }
                let first = start.saturating_sub(1);
                let m = maps::entries(ctx, &h, *key, *elem, first, count)?;
                let lvl = child_level(e.level + 1);
                for (i, (k, val)) in m.entries.iter().enumerate() {
                    out.extend(map_entry(
                        ctx,
                        k,
                        val,
                        parent,
                        first.saturating_add(i as u64),
                        lvl,
                    ));
                }
            }
        }
        Kind::Complex => {
            let half = t.size / 2;
            let part = if half == 4 { "float32" } else { "float64" };
            if let Some(ty) = ctx.info.types.by_name(part) {
                for (i, name) in ["real", "imaginary"].iter().enumerate() {
                    if (i as u64) >= start && (i as u64) < end {
                        let pv = ctx.sub(v, i as u64 * half, ty)?;
                        out.push(to_var(ctx, &pv, name, "", e.level));
                    }
                }
            }
        }
        // A closure's captured variables, as struct fields.
        Kind::Func => {
            let lvl = child_level(e.level + 1);
            for (name, cv) in ctx
                .captured(v)?
                .into_iter()
                .skip(start as usize)
                .take(count as usize)
            {
                // A method value's receiver (`.this`) has no Go expression.
                let eval = match name.starts_with('.') {
                    true => String::new(),
                    false => join(parent, |p| format!("{p}.{name}")),
                };
                out.push(to_var(ctx, &cv, &name, &eval, lvl));
            }
        }
        Kind::Iface { .. } => {
            if let (0, Some((_, Some(d)))) = (start, ctx.iface_data(v)?) {
                let eval = join(parent, |p| format!("{p}.(data)"));
                out.push(to_var(ctx, &d, "data", &eval, e.level));
            }
        }
        Kind::Chan { elem, hdr } => {
            if let Some(h) = ctx.header(v, *hdr)? {
                let Kind::Struct(fields) = ctx.ty(h.ty)?.kind.clone() else {
                    return Ok(out);
                };
                let lvl = child_level(e.level + 1);
                for f in fields.iter().skip(start as usize).take(count as usize) {
                    let eval = join(parent, |p| format!("{p}.{}", f.name));
                    let fv = ctx.chan_field(&h, *elem, &f.name)?;
                    out.push(to_var(ctx, &fv, &f.name, &eval, lvl));
                }
            }
        }
        _ => {}
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn elements(
    ctx: &Ctx,
    base: &Val,
    elem: super::types::TypeId,
    len: u64,
    start: u64,
    end: u64,
    e: &Expand,
    out: &mut Vec<Var>,
) -> anyhow::Result<()> {
    let lvl = child_level(e.level + 1);
    let (mut start, mut end) = (start, end);
    // A byte or rune list's text comes first (Delve's `string()`), then
    // the elements.
    if len > 0 && bytes_or_runes(ctx, elem) {
        if start == 0 {
            let text =
                list_text(ctx, base, elem, len).unwrap_or_else(|err| format!("(unreadable {err})"));
            out.push(Var {
                value: Value {
                    name: "string()".into(),
                    type_name: "string".into(),
                    value: text,
                    ..Value::default()
                },
                expand: None,
                place: None,
            });
            end = end.saturating_sub(1);
        } else {
            start -= 1;
            end = end.saturating_sub(1);
        }
    }
    for i in start..end.min(len) {
        let ev = ctx.element(base, elem, i)?;
        let eval = join(&e.eval_name, |p| format!("{p}[{i}]"));
        out.push(to_var(ctx, &ev, &format!("[{i}]"), &eval, lvl));
    }
    Ok(())
}

/// The expression naming a map entry's value: `m["a"]`, `m[3]`, else by
/// the key's address.
fn value_expr(ctx: &Ctx, k: &Val, key_rendering: &str, parent: &str) -> String {
    if parent.is_empty() {
        return String::new();
    }
    let kind = ctx.ty(k.ty).map(|t| t.kind.clone());
    match kind {
        Ok(Kind::Bool | Kind::Int | Kind::Uint | Kind::Float | Kind::Complex) => {
            let plain = key_rendering.split(" = ").next().unwrap_or(key_rendering);
            format!("{parent}[{plain}]")
        }
        Ok(Kind::String) if !key_rendering.ends_with(" more\"") => {
            format!("{parent}[{key_rendering}]")
        }
        _ => format!(
            "{parent}[(*(*{:?})({:#x}))]",
            ctx.type_name(k.ty),
            k.address().unwrap_or(0)
        ),
    }
}

fn map_entry(ctx: &Ctx, k: &Val, v: &Val, parent: &str, index: u64, lvl: u32) -> Vec<Var> {
    let key_expr = format!(
        "(*(*{:?})({:#x}))",
        ctx.type_name(k.ty),
        k.address().unwrap_or(0)
    );
    let kvar = to_var(ctx, k, "", &key_expr, lvl);
    let val_expr = value_expr(ctx, k, &kvar.value.value, parent);
    let mut vvar = to_var(ctx, v, "", &val_expr, lvl);
    if kvar.expand.is_some() && vvar.expand.is_some() {
        let mut kvar = kvar;
        kvar.value.name = format!("[key {index}]");
        vvar.value.name = format!("[val {index}]");
        return vec![kvar, vvar];
    }
    // One child named by the rendered key.
    let mut name = kvar.value.value.clone();
    if kvar.expand.is_some() && name.len() > MAX_KEY_LEN {
        let mut cut = MAX_KEY_LEN;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name = format!("{}... @ {:#x}", &name[..cut], k.address().unwrap_or(0));
    }
    vvar.value.name = name;
    vvar.value.type_name = format!("{}: {}", kvar.value.type_name, vvar.value.type_name);
    if kvar.expand.is_some() {
        vvar.value.indexed = kvar.value.indexed;
        vvar.value.named = kvar.value.named;
        vvar.expand = kvar.expand;
    }
    vec![vvar]
}
