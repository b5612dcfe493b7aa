//! Map entries from the runtime's hash tables. Go 1.24+ uses swiss tables
//! (internal/runtime/maps): a `Map` header with a directory of tables when
//! large (`dirLen` > 0) or a single group at `dirPtr` when small; a group is
//! a control word (one byte per slot, high bit set = empty or deleted) and 8
//! key/elem slots. Older runtimes (and GOEXPERIMENT=noswissmap) use `hmap`
//! with 2^B buckets, overflow chains and, while growing, old buckets.
//! The layouts come from the DWARF types the linker synthesizes per map
//! type (`map<K,V>`, `table<K,V>`, `group`, `bucket<K,V>`).

use anyhow::{anyhow, bail};

use super::types::{Kind, TypeId};
use super::value::{Ctx, Loc, Val};

/// Bounds for garbage headers.
const MAX_DIRECTORY: u64 = 1 << 16;
const MAX_GROUPS: u64 = 1 << 22;
const MAX_CHAIN: usize = 1 << 16;

pub(crate) struct Entries {
    pub len: u64,
    /// Entries `skip..skip+take` in table order.
    pub entries: Vec<(Val, Val)>,
}

struct SlotLayout {
    stride: u64,
    count: u64,
    key_off: u64,
    elem_off: u64,
    key_indirect: bool,
    elem_indirect: bool,
}

/// The number of entries of a map whose runtime header is `hdr`.
pub(crate) fn len(ctx: &Ctx, hdr: &Val) -> anyhow::Result<u64> {
    ctx.field_uint(hdr, "used")
        .or_else(|_| ctx.field_uint(hdr, "count"))
}

/// Entries `skip..skip+take` of the map with header `hdr`.
pub(crate) fn entries(
    ctx: &Ctx,
    hdr: &Val,
    key: TypeId,
    elem: TypeId,
    skip: u64,
    take: u64,
) -> anyhow::Result<Entries> {
    let len = len(ctx, hdr)?;
    let mut out = Collector {
        skip,
        take,
        seen: 0,
        entries: Vec::new(),
    };
    if ctx.info.types.field(hdr.ty, "dirPtr").is_some() {
        swiss(ctx, hdr, key, elem, &mut out)?;
    } else if ctx.info.types.field(hdr.ty, "buckets").is_some() {
        classic(ctx, hdr, key, elem, &mut out)?;
    } else {
        bail!("unknown map layout {}", ctx.type_name(hdr.ty));
    }
    Ok(Entries {
        len,
        entries: out.entries,
    })
}

struct Collector {
    skip: u64,
    take: u64,
    seen: u64,
    entries: Vec<(Val, Val)>,
}

impl Collector {
    fn done(&self) -> bool {
        self.seen >= self.skip.saturating_add(self.take)
    }

    fn push(&mut self, f: impl FnOnce() -> anyhow::Result<(Val, Val)>) -> anyhow::Result<()> {
        if self.seen >= self.skip && !self.done() {
            self.entries.push(f()?);
        }
        self.seen += 1;
        Ok(())
    }
}

fn is_pointer(ctx: &Ctx, t: TypeId) -> bool {
    matches!(ctx.ty(t).map(|t| t.kind.clone()), Ok(Kind::Ptr(_)))
}

/// Slots of an array type `[n]struct{key K; elem V}` (swiss) — or the
/// parallel key and value arrays of a classic bucket, described the same way.
fn slot_layout(ctx: &Ctx, slots: TypeId, key: TypeId, elem: TypeId) -> anyhow::Result<SlotLayout> {
    let types = &ctx.info.types;
    let Kind::Array(slot, count) = ctx.ty(slots)?.kind.clone() else {
        bail!("map slots are not an array");
    };
    let k = types
        .field(slot, "key")
        .ok_or_else(|| anyhow!("map slot without key"))?;
    let e = types
        .field(slot, "elem")
        .ok_or_else(|| anyhow!("map slot without elem"))?;
    Ok(SlotLayout {
        stride: types.size(slot),
        count: count.min(64),
        key_off: k.offset,
        elem_off: e.offset,
        // Keys and elems over 128 bytes are stored behind a pointer.
        key_indirect: is_pointer(ctx, k.ty) && !is_pointer(ctx, key),
        elem_indirect: is_pointer(ctx, e.ty) && !is_pointer(ctx, elem),
    })
}

fn slot_value(ctx: &Ctx, addr: u64, ty: TypeId, indirect: bool) -> anyhow::Result<Val> {
    let addr = if indirect { ctx.read_u64(addr)? } else { addr };
    Ok(Val {
        ty,
        loc: Loc::Mem(addr),
    })
}

fn swiss(
    ctx: &Ctx,
    hdr: &Val,
    key: TypeId,
    elem: TypeId,
    out: &mut Collector,
) -> anyhow::Result<()> {
    let types = &ctx.info.types;
    let bad = || anyhow!("unexpected swiss map layout");
    let dir_field = types.field(hdr.ty, "dirPtr").ok_or_else(bad)?;
    // dirPtr is typed **table; for small maps it really points to a group.
    let table = types
        .pointee(dir_field.ty)
        .and_then(|t| types.pointee(t))
        .ok_or_else(bad)?;
    let index_off = types.field(table, "index").ok_or_else(bad)?.offset;
    let groups = types.field(table, "groups").ok_or_else(bad)?;
    let data = types.field(groups.ty, "data").ok_or_else(bad)?;
    let mask = types.field(groups.ty, "lengthMask").ok_or_else(bad)?;
    let group = types.pointee(data.ty).ok_or_else(bad)?;
    let group_size = types.size(group);
    let ctrl_off = types.field(group, "ctrl").ok_or_else(bad)?.offset;
    let slots = types.field(group, "slots").ok_or_else(bad)?;
    let layout = slot_layout(ctx, slots.ty, key, elem)?;
    if group_size == 0 {
        bail!("swiss map group has size 0");
    }

    let dir_ptr = ctx.field_uint(hdr, "dirPtr")?;
    let dir_len = ctx.field_uint(hdr, "dirLen")? as i64;
    let visit_group = |addr: u64, out: &mut Collector| -> anyhow::Result<()> {
        let ctrl = ctx.read_u64(addr.wrapping_add(ctrl_off))?;
        for i in 0..layout.count.min(8) {
            if out.done() {
                break;
            }
            if (ctrl >> (8 * i)) & 0x80 != 0 {
                continue; // empty or deleted
            }
            let slot = addr
                .wrapping_add(slots.offset)
                .wrapping_add(i.wrapping_mul(layout.stride));
            out.push(|| {
                Ok((
                    slot_value(
                        ctx,
                        slot.wrapping_add(layout.key_off),
                        key,
                        layout.key_indirect,
                    )?,
                    slot_value(
                        ctx,
                        slot.wrapping_add(layout.elem_off),
                        elem,
                        layout.elem_indirect,
                    )?,
                ))
            })?;
        }
        Ok(())
    };
    if dir_ptr == 0 {
        return Ok(());
    }
    if dir_len <= 0 {
        return visit_group(dir_ptr, out);
    }
    let dir_len = (dir_len as u64).min(MAX_DIRECTORY);
    let dir = ctx.read(dir_ptr, (dir_len * 8) as usize)?;
    let mut groups_seen = 0u64;
    for (i, t) in dir.chunks_exact(8).enumerate() {
        if out.done() {
            break;
        }
        let t = u64::from_le_bytes(t.try_into().unwrap_or([0; 8]));
        if t == 0 {
            continue;
        }
        // A table spans 2^(globalDepth-localDepth) directory entries: visit
        // it at its first one only.
        let index = ctx.read_u64(t.wrapping_add(index_off))? as i64;
        if index != i as i64 {
            continue;
        }
        let base = ctx.read_u64(t.wrapping_add(groups.offset.wrapping_add(data.offset)))?;
        let n = ctx
            .read_u64(t.wrapping_add(groups.offset.wrapping_add(mask.offset)))?
            .saturating_add(1);
        groups_seen = groups_seen.saturating_add(n);
        if groups_seen > MAX_GROUPS {
            bail!("map too large");
        }
        for g in 0..n {
            if out.done() {
                break;
            }
            visit_group(base.wrapping_add(g.wrapping_mul(group_size)), out)?;
        }
    }
    Ok(())
}

fn classic(
    ctx: &Ctx,
    hdr: &Val,
    key: TypeId,
    elem: TypeId,
    out: &mut Collector,
) -> anyhow::Result<()> {
    let types = &ctx.info.types;
    let bad = || anyhow!("unexpected map layout");
    let buckets_field = types.field(hdr.ty, "buckets").ok_or_else(bad)?;
    let bucket = types.pointee(buckets_field.ty).ok_or_else(bad)?;
    let bsize = types.size(bucket);
    let tophash_off = types.field(bucket, "tophash").ok_or_else(bad)?.offset;
    let keys = types.field(bucket, "keys").ok_or_else(bad)?;
    let values = types.field(bucket, "values").ok_or_else(bad)?;
    let overflow_off = types.field(bucket, "overflow").ok_or_else(bad)?.offset;
    let (Kind::Array(kt, n), Kind::Array(vt, _)) = (
        ctx.ty(keys.ty)?.kind.clone(),
        ctx.ty(values.ty)?.kind.clone(),
    ) else {
        return Err(bad());
    };
    let (ks, vs) = (types.size(kt), types.size(vt));
    let (k_ind, v_ind) = (
        is_pointer(ctx, kt) && !is_pointer(ctx, key),
        is_pointer(ctx, vt) && !is_pointer(ctx, elem),
    );
    let b = ctx.field_uint(hdr, "B")?;
    if b > 40 || bsize == 0 {
        bail!("invalid map header");
    }
    let nb = 1u64 << b;
    if nb > MAX_GROUPS {
        bail!("map too large");
    }
    let buckets = ctx.field_uint(hdr, "buckets")?;
    let old = ctx.field_uint(hdr, "oldbuckets")?;
    // tophash values: 0/1 empty, 2..=4 evacuated, >= 5 a full slot.
    let evacuated = |addr: u64| -> bool {
        ctx.read(addr.wrapping_add(tophash_off), 1)
            .map(|t| (2..=4).contains(&t[0]))
            .unwrap_or(true)
    };
    for bidx in 0..nb {
        if out.done() || buckets == 0 {
            break;
        }
        let mut addr = buckets.wrapping_add(bidx.wrapping_mul(bsize));
        if old != 0 && nb > 1 {
            // Growing: an old bucket not yet evacuated holds the entries
            // of both new buckets it splits into; read it once.
            let oldidx = bidx & ((nb >> 1) - 1);
            let oldb = old.wrapping_add(oldidx.wrapping_mul(bsize));
            if !evacuated(oldb) {
                if oldidx != bidx {
                    continue;
                }
                addr = oldb;
            }
        }
        for _ in 0..MAX_CHAIN {
            if addr == 0 || out.done() {
                break;
            }
            let tophash = ctx.read(addr.wrapping_add(tophash_off), n.min(64) as usize)?;
            for (i, &h) in tophash.iter().enumerate() {
                if h < 5 {
                    continue;
                }
                let i = i as u64;
                out.push(|| {
                    Ok((
                        slot_value(
                            ctx,
                            addr.wrapping_add(keys.offset.wrapping_add(i.wrapping_mul(ks))),
                            key,
                            k_ind,
                        )?,
                        slot_value(
                            ctx,
                            addr.wrapping_add(values.offset.wrapping_add(i.wrapping_mul(vs))),
                            elem,
                            v_ind,
                        )?,
                    ))
                })?;
            }
            addr = ctx.read_u64(addr.wrapping_add(overflow_off))?;
        }
    }
    Ok(())
}
