//! Typed values in a process: reading Go's built-in representations
//! (strings, slices, interfaces, channels, funcs) from memory. Every length
//! read from memory is bounded before it is used.

use std::rc::Rc;

use anyhow::{anyhow, bail};

use super::info::Info;
use super::types::{Kind, Type, TypeId};
use super::Memory;

/// Reads larger than this are refused: lengths come from untrusted memory.
pub(crate) const MAX_READ: usize = 16 << 20;

#[derive(Debug, Clone)]
pub(crate) enum Loc {
    Mem(u64),
    /// A value assembled from registers, or computed: it has no address.
    Bytes(Rc<[u8]>),
}

#[derive(Debug, Clone)]
pub(crate) struct Val {
    pub ty: TypeId,
    pub loc: Loc,
}

impl Val {
    pub fn address(&self) -> Option<u64> {
        match self.loc {
            Loc::Mem(a) => Some(a),
            Loc::Bytes(_) => None,
        }
    }
}

/// An interface's dynamic type.
pub(crate) struct Dynamic {
    /// The DWARF type, when the program's DWARF has it.
    pub ty: Option<TypeId>,
    pub name: String,
    /// The data word is the value itself (pointer-shaped types).
    pub direct: bool,
    /// Its runtime type descriptor's address.
    pub rtype: u64,
}

pub(crate) struct Ctx<'a> {
    pub info: &'a Info,
    pub mem: &'a dyn Memory,
    /// `moduledata.types`: runtime type descriptors are named by their offset from it.
    pub types_base: Option<u64>,
}

fn le(b: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = b.len().min(8);
    buf[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(buf)
}

impl<'a> Ctx<'a> {
    pub fn read(&self, addr: u64, len: usize) -> anyhow::Result<Vec<u8>> {
        if len > MAX_READ {
            bail!("refusing to read {len} bytes at {addr:#x}");
        }
        if len == 0 {
            return Ok(Vec::new());
        }
        let b = self
            .mem
            .read(addr, len)
            .map_err(|e| anyhow!("could not read {len} bytes at {addr:#x}: {e}"))?;
        if b.len() < len {
            bail!("could not read {len} bytes at {addr:#x}");
        }
        Ok(b)
    }

    pub fn read_u64(&self, addr: u64) -> anyhow::Result<u64> {
        Ok(le(&self.read(addr, 8)?))
    }

    pub fn ty(&self, id: TypeId) -> anyhow::Result<Rc<Type>> {
        self.info
            .types
            .resolve(id)
            .ok_or_else(|| anyhow!("unknown type"))
    }

    pub fn type_name(&self, id: TypeId) -> String {
        self.info.types.name(id)
    }

    /// `len` bytes of `v` from `off`.
    pub fn bytes(&self, v: &Val, off: u64, len: u64) -> anyhow::Result<Vec<u8>> {
        match &v.loc {
            Loc::Mem(a) => self.read(a.wrapping_add(off), len as usize),
            Loc::Bytes(b) => {
                let end = off.checked_add(len).ok_or_else(|| anyhow!("bad offset"))?;
                b.get(off as usize..end as usize)
                    .map(|s| s.to_vec())
                    .ok_or_else(|| anyhow!("value is shorter than its type"))
            }
        }
    }

    /// An unsigned integer of `size` bytes at `off` in `v`.
    pub fn uint(&self, v: &Val, off: u64, size: u64) -> anyhow::Result<u64> {
        Ok(le(&self.bytes(v, off, size.min(8))?))
    }

    pub fn int(&self, v: &Val, off: u64, size: u64) -> anyhow::Result<i64> {
        let u = self.uint(v, off, size)?;
        let size = size.clamp(1, 8);
        let shift = 64 - 8 * size;
        Ok(((u << shift) as i64) >> shift)
    }

    /// A part of `v` (a field, an element) of type `ty`.
    pub fn sub(&self, v: &Val, off: u64, ty: TypeId) -> anyhow::Result<Val> {
        Ok(match &v.loc {
            Loc::Mem(a) => Val {
                ty,
                loc: Loc::Mem(a.wrapping_add(off)),
            },
            Loc::Bytes(_) => {
                let size = self.info.types.size(ty);
                Val {
                    ty,
                    loc: Loc::Bytes(self.bytes(v, off, size)?.into()),
                }
            }
        })
    }

    pub fn field(&self, v: &Val, name: &str) -> anyhow::Result<Val> {
        let f = self
            .info
            .types
            .field(v.ty, name)
            .ok_or_else(|| anyhow!("{} has no field {name}", self.type_name(v.ty)))?;
        self.sub(v, f.offset, f.ty)
    }

    /// Field `name` of a channel's header `h` (`runtime.hchan`) whose
    /// elements are `elem`: the buffer as `*[dataqsiz]elem` (as Delve shows
    /// it; DWARF only says unsafe.Pointer), the others as they are.
    pub fn chan_field(&self, h: &Val, elem: TypeId, name: &str) -> anyhow::Result<Val> {
        let v = self.field(h, name)?;
        if name != "buf" {
            return Ok(v);
        }
        let n = self.field_uint(h, "dataqsiz")?.min(1 << 20);
        let array = self.info.types.array_of(elem, n);
        Ok(Val {
            ty: self.info.types.pointer_to(array),
            loc: v.loc,
        })
    }

    /// The value of an integer field of a runtime struct.
    pub fn field_uint(&self, v: &Val, name: &str) -> anyhow::Result<u64> {
        let f = self
            .info
            .types
            .field(v.ty, name)
            .ok_or_else(|| anyhow!("{} has no field {name}", self.type_name(v.ty)))?;
        let size = self.info.types.size(f.ty).clamp(1, 8);
        self.uint(v, f.offset, size)
    }

    /// What a pointer value points to (`None` for nil).
    pub fn deref(&self, v: &Val) -> anyhow::Result<Option<Val>> {
        let target = self
            .info
            .types
            .pointee(v.ty)
            .ok_or_else(|| anyhow!("{} is not a typed pointer", self.type_name(v.ty)))?;
        let addr = self.uint(v, 0, 8)?;
        Ok((addr != 0).then_some(Val {
            ty: target,
            loc: Loc::Mem(addr),
        }))
    }

    /// Whether `v` is a C `char *` (any qualifiers, typedefs), which is
    /// shown as the string it points to, as Delve does.
    pub fn is_c_string(&self, v: &Val) -> bool {
        let types = &self.info.types;
        let ptr = types.resolve_id(v.ty);
        if !types.is_c(ptr) {
            return false;
        }
        let Some(target) = types.pointee(ptr) else {
            return false;
        };
        types.resolve(target).is_some_and(|t| {
            matches!(t.kind, Kind::Int | Kind::Uint)
                && t.size == 1
                && matches!(t.name.as_str(), "char" | "signed char" | "unsigned char")
        })
    }

    /// The NUL-terminated bytes at `addr` (at most `max`), and whether the
    /// NUL was found. Read in pieces that stop at 1 KiB boundaries: a short
    /// string near the end of a mapping must not fail for the bytes after it.
    pub fn c_string(&self, addr: u64, max: u64) -> anyhow::Result<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        while (out.len() as u64) < max {
            let at = addr.wrapping_add(out.len() as u64);
            let chunk = (1024 - at % 1024).min(max - out.len() as u64);
            let b = self.read(at, chunk as usize)?;
            if let Some(nul) = b.iter().position(|&c| c == 0) {
                out.extend_from_slice(&b[..nul]);
                return Ok((out, true));
            }
            out.extend_from_slice(&b);
        }
        Ok((out, false))
    }

    /// A string's bytes (at most `max`) and its full length.
    pub fn string(&self, v: &Val, max: u64) -> anyhow::Result<(Vec<u8>, u64)> {
        let ptr = self.uint(v, 0, 8)?;
        let len = self.int(v, 8, 8)?;
        if !(0..1 << 40).contains(&len) {
            bail!("invalid length {len}");
        }
        let len = len as u64;
        let n = len.min(max);
        let bytes = if n == 0 {
            Vec::new()
        } else {
            self.read(ptr, n as usize)?
        };
        Ok((bytes, len))
    }

    /// A slice header: (array pointer, len, cap).
    pub fn slice(&self, v: &Val) -> anyhow::Result<(u64, u64, u64)> {
        let base = self.uint(v, 0, 8)?;
        let len = self.int(v, 8, 8)?;
        let cap = self.int(v, 16, 8)?;
        if len < 0 || cap < len || cap >= 1 << 40 {
            bail!("invalid slice len {len} cap {cap}");
        }
        Ok((base, len as u64, cap as u64))
    }

    /// The `i`th element of an array or slice whose elements start at `base`.
    pub fn element(&self, base: &Val, elem: TypeId, i: u64) -> anyhow::Result<Val> {
        let size = self.info.types.size(elem);
        let off = i
            .checked_mul(size)
            .ok_or_else(|| anyhow!("index out of range"))?;
        self.sub(base, off, elem)
    }

    /// `moduledata.types`, from the process (the runtime's own value) or
    /// else from the symbol.
    pub fn types_base(&self) -> Option<u64> {
        self.types_base
    }

    /// The dynamic type of an interface whose type word is `rtype` (an
    /// `*abi.Type`, not nil).
    pub fn dynamic_type(&self, rtype: u64) -> Dynamic {
        let info = self.info;
        let ty = self
            .types_base()
            .and_then(|base| rtype.checked_sub(base))
            .and_then(|off| info.types.by_runtime_offset(off));
        // abi.Type: Size_ and PtrBytes lead the struct; a value is stored
        // directly in the interface iff both are one pointer
        // (TFlagDirectIface / KindDirectIface cache exactly that).
        let abi = info.types.by_name("internal/abi.Type");
        let off_of = |name: &str, default: u64| {
            abi.and_then(|t| info.types.field(t, name))
                .map(|f| f.offset)
                .unwrap_or(default)
        };
        let direct = match (
            self.read_u64(rtype.wrapping_add(off_of("Size_", 0))),
            self.read_u64(rtype.wrapping_add(off_of("PtrBytes", 8))),
        ) {
            (Ok(size), Ok(ptrbytes)) => size == 8 && ptrbytes == 8,
            _ => ty.is_some_and(|t| self.pointer_shaped(t)),
        };
        let name = match ty {
            Some(t) => self.type_name(t),
            None => self
                .runtime_type_name(rtype, off_of("Str", 40), off_of("TFlag", 20))
                .unwrap_or_else(|| format!("<type at {rtype:#x}>")),
        };
        Dynamic {
            ty,
            name,
            direct,
            rtype,
        }
    }

    fn pointer_shaped(&self, t: TypeId) -> bool {
        matches!(
            self.ty(t).map(|t| t.kind.clone()),
            Ok(Kind::Ptr(_)) | Ok(Kind::Map { .. }) | Ok(Kind::Chan { .. }) | Ok(Kind::Func)
        )
    }

    /// A type's name from its runtime descriptor (for types the DWARF lacks):
    /// `Str` is a name offset from moduledata.types.
    fn runtime_type_name(&self, rtype: u64, str_off: u64, tflag_off: u64) -> Option<String> {
        let off = self.read(rtype.wrapping_add(str_off), 4).ok()?;
        let off = i32::from_le_bytes(off.try_into().ok()?);
        let tflag = self.read(rtype.wrapping_add(tflag_off), 1).ok()?[0];
        let (name, _) = self.abi_name(off).ok()?;
        if name.is_empty() {
            return None;
        }
        // The name is stored with a leading '*' to share it.
        Some(if tflag & super::methods::TFLAG_EXTRA_STAR != 0 {
            name.strip_prefix('*').unwrap_or(&name).to_string()
        } else {
            name
        })
    }

    /// A runtime name (`abi.Name` at a name offset from moduledata.types):
    /// a flags byte, a uvarint length and the bytes, then a tag if
    /// flagged, then the package path's name offset if flagged. Returns
    /// the name and that package path.
    pub fn abi_name(&self, off: i32) -> anyhow::Result<(String, Option<String>)> {
        self.abi_name_at(off, true)
    }

    /// `follow`: read the package path too (a package path has none).
    fn abi_name_at(&self, off: i32, follow: bool) -> anyhow::Result<(String, Option<String>)> {
        let base = self
            .types_base()
            .ok_or_else(|| anyhow!("the runtime's type descriptors are not known"))?;
        let at = base.wrapping_add(off as i64 as u64);
        let head = self.read(at, 11)?;
        let flags = head[0];
        let mut i = 1;
        let len = crate::gobin::uvarint(&head, &mut i).ok_or_else(|| anyhow!("bad name"))?;
        if len > 4096 {
            bail!("bad name length {len}");
        }
        let text = String::from_utf8_lossy(&self.read(at + i as u64, len as usize)?).into_owned();
        let mut end = at + i as u64 + len;
        if flags & 2 != 0 {
            let tag = self.read(end, 10)?;
            let mut j = 0;
            let tlen = crate::gobin::uvarint(&tag, &mut j).ok_or_else(|| anyhow!("bad tag"))?;
            end += j as u64 + tlen;
        }
        let pkg = if follow && flags & 4 != 0 {
            let p = i32::from_le_bytes(self.read(end, 4)?.try_into().unwrap_or([0; 4]));
            Some(self.abi_name_at(p, false)?.0)
        } else {
            None
        };
        Ok((text, pkg))
    }

    /// An interface's dynamic value: `None` for a nil interface, else its
    /// type and (when the type is known) the value.
    pub fn iface_data(&self, v: &Val) -> anyhow::Result<Option<(Dynamic, Option<Val>)>> {
        let t = self.ty(v.ty)?;
        let Kind::Iface { hdr } = t.kind else {
            bail!("not an interface");
        };
        let hdr = hdr.ok_or_else(|| anyhow!("interface without layout"))?;
        let word0 = self.uint(v, 0, 8)?;
        if word0 == 0 {
            return Ok(None);
        }
        // eface {_type, data}; iface {tab *itab, data} with itab.Type
        // (older runtimes: itab._type).
        let rtype = match self.info.types.field(hdr, "tab") {
            Some(tab) => {
                let itab = self.info.types.pointee(tab.ty);
                let off = itab
                    .and_then(|i| {
                        self.info
                            .types
                            .field(i, "Type")
                            .or_else(|| self.info.types.field(i, "_type"))
                    })
                    .map(|f| f.offset)
                    .unwrap_or(8);
                self.read_u64(word0.wrapping_add(off))?
            }
            None => word0,
        };
        if rtype == 0 {
            return Ok(None);
        }
        let dynamic = self.dynamic_type(rtype);
        let data_off = self
            .info
            .types
            .field(hdr, "data")
            .map(|f| f.offset)
            .unwrap_or(8);
        let value = match dynamic.ty {
            None => None,
            Some(ty) if dynamic.direct => Some(self.sub(v, data_off, ty)?),
            Some(ty) => Some(Val {
                ty,
                loc: Loc::Mem(self.uint(v, data_off, 8)?),
            }),
        };
        Ok(Some((dynamic, value)))
    }

    /// The runtime struct behind a map, channel value (a pointer to it):
    /// `None` when nil.
    pub fn header(&self, v: &Val, hdr: Option<TypeId>) -> anyhow::Result<Option<Val>> {
        let hdr = hdr.ok_or_else(|| anyhow!("no runtime layout"))?;
        let addr = self.uint(v, 0, 8)?;
        if addr == 0 {
            return Ok(None);
        }
        let target = self
            .info
            .types
            .pointee(hdr)
            .ok_or_else(|| anyhow!("runtime layout is not a pointer"))?;
        Ok(Some(Val {
            ty: target,
            loc: Loc::Mem(addr),
        }))
    }

    /// The variables a func value's closure captured, as (name, value):
    /// one captured by reference (`&x` in DWARF) is shown as x, its
    /// pointer followed, as Delve does. Empty for a plain function or nil.
    pub fn captured(&self, v: &Val) -> anyhow::Result<Vec<(String, Val)>> {
        let closure = self.uint(v, 0, 8)?;
        if closure == 0 {
            return Ok(Vec::new());
        }
        let pc = self.read_u64(closure)?;
        let mut out = Vec::new();
        for c in self.info.captured(pc) {
            let field = Val {
                ty: c.ty,
                loc: Loc::Mem(closure.wrapping_add(c.offset)),
            };
            match c.name.strip_prefix('&') {
                Some(name) if self.info.types.pointee(c.ty).is_some() => {
                    if let Some(target) = self.deref(&field)? {
                        out.push((name.to_string(), target));
                    }
                }
                _ => out.push((c.name, field)),
            }
        }
        Ok(out)
    }

    /// A func value's function name (`None` for nil).
    pub fn func_name(&self, v: &Val) -> anyhow::Result<Option<String>> {
        let closure = self.uint(v, 0, 8)?;
        if closure == 0 {
            return Ok(None);
        }
        let pc = self.read_u64(closure)?;
        Ok(Some(
            self.info
                .function_name(pc)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{pc:#x}")),
        ))
    }
}
