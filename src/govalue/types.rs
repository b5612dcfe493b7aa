//! Go types as the compiler describes them in DWARF. Go names its types the
//! Go way (`*main.point`, `[]int`, `map[string]int`) and adds its own
//! attributes (DW_AT_go_kind, _key, _elem, _runtime_type) that tell maps,
//! channels, interfaces and funcs apart from the structs they are built of.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A type's global `.debug_info` offset; synthetic types (arrays and
/// pointers made up while reading values) live above `SYNTHETIC`.
pub(crate) type TypeId = usize;

const SYNTHETIC: TypeId = 1 << 48;

/// reflect.Kind numbering, as in DW_AT_go_kind.
pub(crate) mod go_kind {
    pub const CHAN: u64 = 18;
    pub const FUNC: u64 = 19;
    pub const INTERFACE: u64 = 20;
    pub const MAP: u64 = 21;
    pub const SLICE: u64 = 23;
    pub const STRING: u64 = 24;
}

#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub name: String,
    pub offset: u64,
    pub ty: TypeId,
    /// DW_AT_go_embedded_field: its fields are promoted.
    pub embedded: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Bool,
    Int,
    Uint,
    Float,
    Complex,
    String,
    /// `None`: unsafe.Pointer (a DWARF pointer to nothing).
    Ptr(Option<TypeId>),
    Slice(TypeId),
    Array(TypeId, u64),
    Struct(Vec<Field>),
    /// `hdr`: the pointer type the map value really is (to the runtime's
    /// map header, synthesized per key/value types by the linker).
    Map {
        key: TypeId,
        elem: TypeId,
        hdr: Option<TypeId>,
    },
    Chan {
        elem: TypeId,
        hdr: Option<TypeId>,
    },
    Func,
    /// `hdr`: runtime.eface (`interface {}`) or runtime.iface.
    Iface {
        hdr: Option<TypeId>,
    },
    /// A typedef that adds only a name (named structs: `main.point`).
    Alias(TypeId),
    /// A type parameter's type in a generic function (a `.paramN` typedef
    /// with DW_AT_go_dict_index): the real type is the dictionary's entry
    /// `index`; `shape` (the layout every instantiation shares) stands in
    /// for sizes only.
    Param {
        index: u64,
        shape: TypeId,
    },
    Unknown,
}

#[derive(Debug, Clone)]
pub(crate) struct Type {
    pub name: String,
    pub size: u64,
    pub kind: Kind,
    /// DW_AT_go_runtime_type: the runtime type descriptor's offset from
    /// `moduledata.types` (0 when absent).
    pub rtype: u64,
}

#[derive(Default)]
pub(crate) struct Types {
    map: HashMap<TypeId, Rc<Type>>,
    by_rtype: HashMap<u64, TypeId>,
    by_name: HashMap<String, TypeId>,
    synthetic: RefCell<Vec<Rc<Type>>>,
    interned: RefCell<HashMap<(u8, TypeId, u64), TypeId>>,
    /// Types made up by name (basic types the DWARF lacks, `byte`).
    named: RefCell<HashMap<String, TypeId>>,
    /// Types of cgo's C code, with the qualifier a const/volatile type adds.
    c: HashMap<TypeId, Option<&'static str>>,
}

impl Types {
    pub fn insert(&mut self, id: TypeId, t: Type) {
        if t.rtype != 0 {
            // A named struct's typedef and struct may both claim the same
            // runtime type; the non-alias one carries the layout.
            let replace = match self.by_rtype.get(&t.rtype) {
                None => true,
                Some(old) => matches!(self.map.get(old).map(|o| &o.kind), Some(Kind::Alias(_))),
            };
            if replace {
                self.by_rtype.insert(t.rtype, id);
            }
        }
        if !t.name.is_empty() {
            self.by_name.entry(t.name.clone()).or_insert(id);
        }
        self.map.insert(id, Rc::new(t));
    }

    /// `id` is a C type (`qualifier`: it is that qualifier of its target).
    pub fn mark_c(&mut self, id: TypeId, qualifier: Option<&'static str>) {
        self.c.insert(id, qualifier);
    }

    pub fn is_c(&self, id: TypeId) -> bool {
        self.c.contains_key(&id)
    }

    /// Names the C types DWARF leaves unnamed, as Delve does: `*const
    /// char`, `[8]char`, `*struct shape`, `*void`.
    pub fn name_c_types(&mut self) {
        let unnamed: Vec<TypeId> = self
            .c
            .keys()
            .copied()
            .filter(|id| self.map.get(id).is_some_and(|t| t.name.is_empty()))
            .collect();
        let named: Vec<(TypeId, String)> = unnamed
            .into_iter()
            .map(|id| (id, self.c_name(id, 0)))
            .collect();
        for (id, name) in named {
            if let Some(t) = self.map.get_mut(&id) {
                Rc::make_mut(t).name = name.clone();
            }
            self.by_name.entry(name).or_insert(id);
        }
    }

    fn c_name(&self, id: TypeId, depth: u32) -> String {
        let Some(t) = self.map.get(&id) else {
            return "void".into();
        };
        if !t.name.is_empty() {
            return t.name.clone();
        }
        if depth > 16 {
            return "?".into();
        }
        let d = depth + 1;
        match (&t.kind, self.c.get(&id).copied().flatten()) {
            (Kind::Ptr(Some(to)), _) => format!("*{}", self.c_name(*to, d)),
            (Kind::Ptr(None), _) => "*void".into(),
            (Kind::Array(elem, n), _) => format!("[{n}]{}", self.c_name(*elem, d)),
            (Kind::Alias(to), Some(q)) => format!("{q} {}", self.c_name(*to, d)),
            (Kind::Unknown, Some(q)) => format!("{q} void"),
            (Kind::Func, _) => "func".into(),
            _ => "?".into(),
        }
    }

    pub fn get(&self, id: TypeId) -> Option<Rc<Type>> {
        if id >= SYNTHETIC {
            return self.synthetic.borrow().get(id - SYNTHETIC).cloned();
        }
        self.map.get(&id).cloned()
    }

    /// The type with aliases followed (bounded: DWARF may be garbage). A
    /// type parameter resolves to its shape: the layout is right, names
    /// and pointer targets are not (values are read with the dictionary's
    /// type, see `super::param_type`).
    pub fn resolve(&self, mut id: TypeId) -> Option<Rc<Type>> {
        for _ in 0..32 {
            let t = self.get(id)?;
            match t.kind {
                Kind::Alias(next) | Kind::Param { shape: next, .. } => id = next,
                _ => return Some(t),
            }
        }
        None
    }

    /// The id with aliases followed.
    pub fn resolve_id(&self, mut id: TypeId) -> TypeId {
        for _ in 0..32 {
            match self.get(id).map(|t| t.kind.clone()) {
                Some(Kind::Alias(next)) | Some(Kind::Param { shape: next, .. }) => id = next,
                _ => return id,
            }
        }
        id
    }

    /// `(dictionary index, shape)` of a type parameter's type.
    pub fn param(&self, id: TypeId) -> Option<(u64, TypeId)> {
        match self.get(id)?.kind {
            Kind::Param { index, shape } => Some((index, shape)),
            _ => None,
        }
    }

    pub fn name(&self, id: TypeId) -> String {
        match self.get(id) {
            // `.paramN` means nothing to a Go developer; the shape does.
            Some(t) => match t.kind {
                Kind::Param { shape, .. } => self.name(shape),
                _ if !t.name.is_empty() => t.name.clone(),
                Kind::Alias(next) => self.name(next),
                _ => "?".into(),
            },
            None => "?".into(),
        }
    }

    /// Whether a value of type `real` has the layout of `shape`, the
    /// type a generic function was compiled for: the same sizes and
    /// kinds all the way down, except that shapes forget what pointers
    /// point to. A dictionary entry that fails this is not this
    /// function's (a stale or garbage dictionary): reading with it would
    /// show wrong values.
    pub fn fits_shape(&self, real: TypeId, shape: TypeId) -> bool {
        self.fits(real, shape, 0)
    }

    /// Whether a shape reads its values exactly without its dictionary:
    /// shapes keep numbers, strings, maps and interfaces but turn every
    /// pointer into `*uint8`, which would show a wrong pointee.
    pub fn without_pointers(&self, id: TypeId) -> bool {
        self.pointer_free(id, 0)
    }

    fn pointer_free(&self, id: TypeId, depth: u32) -> bool {
        let Some(t) = self.resolve(id) else {
            return false;
        };
        let d = depth + 1;
        depth <= 16
            && match &t.kind {
                Kind::Bool
                | Kind::Int
                | Kind::Uint
                | Kind::Float
                | Kind::Complex
                | Kind::String
                | Kind::Func
                | Kind::Iface { .. } => true,
                Kind::Slice(e) | Kind::Array(e, _) | Kind::Chan { elem: e, .. } => {
                    self.pointer_free(*e, d)
                }
                Kind::Map { key, elem, .. } => {
                    self.pointer_free(*key, d) && self.pointer_free(*elem, d)
                }
                Kind::Struct(fields) => fields.iter().all(|f| self.pointer_free(f.ty, d)),
                _ => false,
            }
    }

    fn fits(&self, real: TypeId, shape: TypeId, depth: u32) -> bool {
        let (Some(r), Some(s)) = (self.resolve(real), self.resolve(shape)) else {
            return false;
        };
        if depth > 16 || r.size != s.size {
            return false;
        }
        let d = depth + 1;
        match (&r.kind, &s.kind) {
            (Kind::Bool, Kind::Bool)
            | (Kind::Int, Kind::Int)
            | (Kind::Uint, Kind::Uint)
            | (Kind::Float, Kind::Float)
            | (Kind::Complex, Kind::Complex)
            | (Kind::String, Kind::String)
            | (Kind::Ptr(_), Kind::Ptr(_))
            | (Kind::Func, Kind::Func) => true,
            (Kind::Slice(a), Kind::Slice(b)) => self.fits(*a, *b, d),
            (Kind::Array(a, n), Kind::Array(b, m)) => n == m && self.fits(*a, *b, d),
            (Kind::Chan { elem: a, .. }, Kind::Chan { elem: b, .. }) => self.fits(*a, *b, d),
            (
                Kind::Map {
                    key: rk, elem: re, ..
                },
                Kind::Map {
                    key: sk, elem: se, ..
                },
            ) => self.fits(*rk, *sk, d) && self.fits(*re, *se, d),
            // eface and iface differ in their first word.
            (Kind::Iface { hdr: a }, Kind::Iface { hdr: b }) => {
                a.map(|a| self.resolve_id(a)) == b.map(|b| self.resolve_id(b))
            }
            (Kind::Struct(a), Kind::Struct(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|(x, y)| x.offset == y.offset && self.fits(x.ty, y.ty, d))
            }
            _ => false,
        }
    }

    pub fn size(&self, id: TypeId) -> u64 {
        self.resolve(id).map(|t| t.size).unwrap_or(0)
    }

    pub fn by_runtime_offset(&self, off: u64) -> Option<TypeId> {
        self.by_rtype.get(&off).copied()
    }

    pub fn by_name(&self, name: &str) -> Option<TypeId> {
        self.by_name.get(name).copied()
    }

    /// A field of a struct type (aliases followed), with its offset.
    pub fn field(&self, id: TypeId, name: &str) -> Option<Field> {
        match &self.resolve(id)?.kind {
            Kind::Struct(fields) => fields.iter().find(|f| f.name == name).cloned(),
            _ => None,
        }
    }

    /// The target of a pointer type (aliases followed).
    pub fn pointee(&self, id: TypeId) -> Option<TypeId> {
        match self.resolve(id)?.kind {
            Kind::Ptr(t) => t,
            _ => None,
        }
    }

    /// `[n]elem`, made up (and remembered) when DWARF has no such type:
    /// a channel's buffer, a swiss map's group array.
    pub fn array_of(&self, elem: TypeId, n: u64) -> TypeId {
        let name = format!("[{n}]{}", self.name(elem));
        let size = self.size(elem).saturating_mul(n);
        self.synthesize(0, elem, n, name, size, Kind::Array(elem, n))
    }

    /// `[]elem`: the DWARF slice type if the program has one, else made up
    /// (a slice header: array pointer, len, cap).
    pub fn slice_of(&self, elem: TypeId) -> TypeId {
        let name = format!("[]{}", self.name(elem));
        if let Some(id) = self.by_name(&name) {
            if matches!(self.get(id).map(|t| t.kind.clone()), Some(Kind::Slice(_))) {
                return id;
            }
        }
        self.synthesize(2, elem, 0, name, 24, Kind::Slice(elem))
    }

    /// A named type whose name ends with `suffix` (`/pprof.LabelSet`):
    /// how a package is named by the last element of its path.
    pub fn by_suffix(&self, suffix: &str) -> Option<TypeId> {
        let mut found: Vec<(&String, &TypeId)> = self
            .by_name
            .iter()
            .filter(|(n, _)| n.ends_with(suffix) && !n.contains(['[', '*', ' ']))
            .collect();
        found.sort();
        found.first().map(|(_, id)| **id)
    }

    /// A Go basic type by name: the program's DWARF type, else made up
    /// (a program that never uses complex64 has no DWARF for it).
    pub fn basic(&self, name: &str) -> Option<TypeId> {
        if let Some(id) = self.by_name(name) {
            return Some(id);
        }
        let (kind, size) = match name {
            "bool" => (Kind::Bool, 1),
            "int8" => (Kind::Int, 1),
            "int16" => (Kind::Int, 2),
            "int32" => (Kind::Int, 4),
            "int64" | "int" => (Kind::Int, 8),
            "uint8" => (Kind::Uint, 1),
            "uint16" => (Kind::Uint, 2),
            "uint32" => (Kind::Uint, 4),
            "uint64" | "uint" | "uintptr" => (Kind::Uint, 8),
            "float32" => (Kind::Float, 4),
            "float64" => (Kind::Float, 8),
            "complex64" => (Kind::Complex, 8),
            "complex128" => (Kind::Complex, 16),
            "unsafe.Pointer" => (Kind::Ptr(None), 8),
            _ => return None,
        };
        Some(self.made_up(name, size, kind))
    }

    /// `name` as another name of `target` (Delve types a string's bytes
    /// `byte`, which the DWARF knows only as uint8).
    pub fn alias(&self, name: &str, target: TypeId) -> TypeId {
        self.made_up(name, self.size(target), Kind::Alias(target))
    }

    fn made_up(&self, name: &str, size: u64, kind: Kind) -> TypeId {
        if let Some(id) = self.named.borrow().get(name) {
            return *id;
        }
        let mut synth = self.synthetic.borrow_mut();
        let id = SYNTHETIC + synth.len();
        synth.push(Rc::new(Type {
            name: name.to_string(),
            size,
            kind,
            rtype: 0,
        }));
        self.named.borrow_mut().insert(name.to_string(), id);
        id
    }

    /// Whether a value of type `from` reads as a value of type `to` with
    /// its bytes unchanged: what a conversion between types of the same
    /// underlying type does (Delve's typeCastCompatibleTypes). Pointers
    /// convert to and from unsafe.Pointer, and to pointers of compatible
    /// targets.
    pub fn compatible(&self, from: TypeId, to: TypeId) -> bool {
        self.compatible_at(from, to, 0)
    }

    fn compatible_at(&self, from: TypeId, to: TypeId, depth: u32) -> bool {
        let (Some(a), Some(b)) = (self.resolve(from), self.resolve(to)) else {
            return false;
        };
        if depth > 16 || a.size != b.size {
            return false;
        }
        if self.name(from) == self.name(to) {
            return true;
        }
        let d = depth + 1;
        match (&a.kind, &b.kind) {
            (Kind::Ptr(None), Kind::Ptr(_)) | (Kind::Ptr(_), Kind::Ptr(None)) => true,
            (Kind::Ptr(Some(x)), Kind::Ptr(Some(y))) => self.compatible_at(*x, *y, d),
            (Kind::Bool, Kind::Bool)
            | (Kind::Int, Kind::Int)
            | (Kind::Uint, Kind::Uint)
            | (Kind::Float, Kind::Float)
            | (Kind::Complex, Kind::Complex)
            | (Kind::String, Kind::String) => true,
            (Kind::Slice(x), Kind::Slice(y)) => self.name(*x) == self.name(*y),
            (Kind::Array(x, n), Kind::Array(y, m)) => n == m && self.compatible_at(*x, *y, d),
            (Kind::Struct(x), Kind::Struct(y)) => {
                x.len() == y.len()
                    && x.iter().zip(y).all(|(f, g)| {
                        f.name == g.name
                            && f.offset == g.offset
                            && self.name(f.ty) == self.name(g.ty)
                    })
            }
            (
                Kind::Map {
                    key: k1, elem: e1, ..
                },
                Kind::Map {
                    key: k2, elem: e2, ..
                },
            ) => self.name(*k1) == self.name(*k2) && self.name(*e1) == self.name(*e2),
            (Kind::Chan { elem: x, .. }, Kind::Chan { elem: y, .. }) => {
                self.name(*x) == self.name(*y)
            }
            _ => false,
        }
    }

    /// `*elem`: the DWARF pointer type if the program has one, else made up.
    pub fn pointer_to(&self, elem: TypeId) -> TypeId {
        let name = format!("*{}", self.name(elem));
        if let Some(id) = self.by_name(&name) {
            if matches!(self.get(id).map(|t| t.kind.clone()), Some(Kind::Ptr(_))) {
                return id;
            }
        }
        self.synthesize(1, elem, 0, name, 8, Kind::Ptr(Some(elem)))
    }

    fn synthesize(
        &self,
        tag: u8,
        elem: TypeId,
        n: u64,
        name: String,
        size: u64,
        kind: Kind,
    ) -> TypeId {
        if let Some(id) = self.interned.borrow().get(&(tag, elem, n)) {
            return *id;
        }
        let mut synth = self.synthetic.borrow_mut();
        let id = SYNTHETIC + synth.len();
        synth.push(Rc::new(Type {
            name,
            size,
            kind,
            rtype: 0,
        }));
        self.interned.borrow_mut().insert((tag, elem, n), id);
        id
    }
}
