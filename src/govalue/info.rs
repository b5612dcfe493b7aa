//! Loading a Go executable's DWARF once: every type, an index of
//! subprograms by pc (their variables are read on demand), package-level
//! variables, the line table and the ELF symbols the value layer needs.

use std::collections::HashMap;
use std::rc::Rc;

use anyhow::Context;
use gimli::{AttributeValue, DwAt, EndianRcSlice, LittleEndian};
use object::{Object, ObjectSection, ObjectSymbol};

use super::types::{go_kind, Field, Kind, Type, TypeId, Types};
use super::unwind::FrameTable;

/// Owned DWARF data: `DebugInfo` keeps it after the file is read.
pub(crate) type R = EndianRcSlice<LittleEndian>;

pub(crate) const DW_AT_GO_KIND: DwAt = DwAt(0x2900);
pub(crate) const DW_AT_GO_KEY: DwAt = DwAt(0x2901);
pub(crate) const DW_AT_GO_ELEM: DwAt = DwAt(0x2902);
pub(crate) const DW_AT_GO_EMBEDDED_FIELD: DwAt = DwAt(0x2903);
pub(crate) const DW_AT_GO_RUNTIME_TYPE: DwAt = DwAt(0x2904);
pub(crate) const DW_AT_GO_DICT_INDEX: DwAt = DwAt(0x2906);

/// A function with code: its pc range and where its DIE is.
#[derive(Debug, Clone)]
pub(crate) struct Subprogram {
    pub low: u64,
    pub high: u64,
    pub unit: usize,
    pub offset: gimli::UnitOffset<usize>,
    pub name: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Global {
    /// Fully qualified, e.g. `main.counter`.
    pub name: String,
    pub ty: TypeId,
    pub addr: u64,
}

pub(crate) struct Info {
    pub dwarf: gimli::Dwarf<R>,
    pub units: Vec<gimli::Unit<R>>,
    pub types: Types,
    /// Sorted by `low`.
    pub subprograms: Vec<Subprogram>,
    pub globals: Vec<Global>,
    /// (address, line); line 0 ends a sequence. Sorted by address.
    pub lines: Vec<(u64, u32)>,
    /// Text symbols (entry, size, name), sorted by entry.
    pub functions: Vec<(u64, u64, String)>,
    pub data_symbols: HashMap<String, u64>,
    /// Generic dictionaries (`main..dict.Keys[string,int]`): address →
    /// the generic names (`generic_base`) of the functions they serve (the
    /// linker merges identical ones).
    pub dicts: HashMap<u64, Vec<String>>,
    pub frames: FrameTable,
    /// Named constants of each type (`internal/abi.Int` = 2), sorted by
    /// value, names without their package: how Delve names a value.
    pub constants: HashMap<TypeId, Vec<(i64, String)>>,
    /// The same constants by full name (`math.MaxInt64`): value and type.
    /// Go's DWARF has a package's integer constants only (typed ones, and
    /// untyped ones that fit an int); float, string, bool and complex
    /// constants are not in it.
    pub consts_by_name: HashMap<String, (i64, TypeId)>,
    /// Where a position-independent executable was loaded (`rebase`): the
    /// tables above hold the process's addresses, while DWARF read on
    /// demand (scopes, location lists, frames) is looked up this much lower
    /// and its static addresses (`DW_OP_addr`) are moved this much up.
    pub bias: u64,
}

fn section_data(file: &object::File, name: &str) -> anyhow::Result<Rc<[u8]>> {
    Ok(match file.section_by_name(name) {
        // Go compresses its DWARF (SHF_COMPRESSED, zlib): object inflates it.
        Some(s) => Rc::from(
            &*s.uncompressed_data()
                .with_context(|| format!("cannot decompress {name}"))?,
        ),
        None => Rc::from(&[][..]),
    })
}

pub(crate) fn load(data: &[u8]) -> anyhow::Result<Info> {
    let file = object::File::parse(data).context("not an ELF executable")?;
    if file.section_by_name(".debug_info").is_none() {
        anyhow::bail!("no .debug_info (built with -ldflags=-w?)");
    }
    let dwarf = gimli::Dwarf::load(|id| -> anyhow::Result<R> {
        Ok(EndianRcSlice::new(
            section_data(&file, id.name())?,
            LittleEndian,
        ))
    })?;
    let frame_data = EndianRcSlice::new(section_data(&file, ".debug_frame")?, LittleEndian);
    let frames = FrameTable::load(frame_data);

    let mut functions = Vec::new();
    let mut data_symbols = HashMap::new();
    let mut dicts: HashMap<u64, Vec<String>> = HashMap::new();
    for s in file.symbols() {
        let Ok(name) = s.name() else { continue };
        if name.contains("..dict.") && s.address() != 0 {
            dicts
                .entry(s.address())
                .or_default()
                .push(generic_base(&name.replacen("..dict.", ".", 1)));
        } else if s.kind() == object::SymbolKind::Text && s.address() != 0 {
            functions.push((
                s.address(),
                s.size(),
                name.trim_end_matches(".abi0").to_string(),
            ));
        } else if matches!(
            name,
            "runtime.types" | "runtime.etypes" | "runtime.firstmoduledata"
        ) {
            data_symbols.insert(name.to_string(), s.address());
        }
    }
    functions.sort_by_key(|f| f.0);

    let mut units = Vec::new();
    let mut headers = dwarf.units();
    while let Some(h) = headers.next()? {
        units.push(dwarf.unit(h)?);
    }
    let mut info = Info {
        dwarf,
        units: Vec::new(),
        types: Types::default(),
        subprograms: Vec::new(),
        globals: Vec::new(),
        lines: Vec::new(),
        functions,
        data_symbols,
        dicts,
        frames,
        constants: HashMap::new(),
        consts_by_name: HashMap::new(),
        bias: 0,
    };
    for (i, unit) in units.iter().enumerate() {
        // One bad unit should not cost the others.
        if let Err(e) = info.load_unit(i, unit) {
            tracing::debug!("govalue: skipping part of unit {i}: {e}");
        }
        let _ = info.load_lines(unit);
    }
    info.units = units;
    info.types.name_c_types();
    info.subprograms.sort_by_key(|s| s.low);
    info.lines.sort_by_key(|r| (r.0, r.1 != 0));
    info.globals.sort_by(|a, b| a.name.cmp(&b.name));
    for c in info.constants.values_mut() {
        c.sort();
        c.dedup();
    }
    Ok(info)
}

/// A reference attribute as a global .debug_info offset (Go refers to
/// types across units).
pub(crate) fn global_ref(unit: &gimli::Unit<R>, v: Option<AttributeValue<R>>) -> Option<usize> {
    match v? {
        AttributeValue::UnitRef(off) => off.to_debug_info_offset(&unit.header).map(|g| g.0),
        AttributeValue::DebugInfoRef(off) => Some(off.0),
        _ => None,
    }
}

pub(crate) fn attr_u64(v: Option<AttributeValue<R>>) -> Option<u64> {
    match v? {
        AttributeValue::Addr(a) => Some(a),
        v => v.udata_value(),
    }
}

impl Info {
    pub fn attr_string(
        &self,
        unit: &gimli::Unit<R>,
        v: Option<AttributeValue<R>>,
    ) -> Option<String> {
        use gimli::Reader;
        let r = self.dwarf.attr_string(unit, v?).ok()?;
        r.to_string_lossy().ok().map(|s| s.into_owned())
    }

    /// The unit holding a global .debug_info offset, and the offset in it.
    pub fn locate(&self, global: usize) -> Option<(usize, gimli::UnitOffset<usize>)> {
        let i = self
            .units
            .partition_point(|u| u.header.offset().0 <= global)
            .checked_sub(1)?;
        let off = gimli::DebugInfoOffset(global).to_unit_offset(&self.units[i].header)?;
        Some((i, off))
    }

    /// Moves every address by `bias`: the executable as loaded in a
    /// process (a position-independent one is linked at one address and
    /// loaded at another).
    pub fn rebase(&mut self, bias: u64) {
        let add = |a: &mut u64| *a = a.wrapping_add(bias);
        for s in &mut self.subprograms {
            add(&mut s.low);
            add(&mut s.high);
        }
        self.globals.iter_mut().for_each(|g| add(&mut g.addr));
        self.lines.iter_mut().for_each(|l| add(&mut l.0));
        self.functions.iter_mut().for_each(|f| add(&mut f.0));
        self.data_symbols.values_mut().for_each(add);
        self.dicts = std::mem::take(&mut self.dicts)
            .into_iter()
            .map(|(a, names)| (a.wrapping_add(bias), names))
            .collect();
        self.frames.bias = self.frames.bias.wrapping_add(bias);
        self.bias = self.bias.wrapping_add(bias);
    }

    pub fn subprogram_at(&self, pc: u64) -> Option<&Subprogram> {
        // Ranges do not overlap; scan back a little for a covering one.
        let end = self.subprograms.partition_point(|s| s.low <= pc);
        self.subprograms[..end]
            .iter()
            .rev()
            .take(8)
            .find(|s| pc < s.high)
    }

    pub fn function_name(&self, pc: u64) -> Option<&str> {
        let i = self
            .functions
            .partition_point(|f| f.0 <= pc)
            .checked_sub(1)?;
        let (entry, size, name) = &self.functions[i];
        (*size == 0 || pc < entry.saturating_add(*size)).then_some(name.as_str())
    }

    pub fn line_at(&self, pc: u64) -> Option<u32> {
        let i = self.lines.partition_point(|r| r.0 <= pc).checked_sub(1)?;
        let line = self.lines[i].1;
        (line != 0).then_some(line)
    }

    fn load_lines(&mut self, unit: &gimli::Unit<R>) -> anyhow::Result<()> {
        let Some(program) = unit.line_program.clone() else {
            return Ok(());
        };
        let mut rows = program.rows();
        while let Some((_, row)) = rows.next_row()? {
            if row.end_sequence() {
                self.lines.push((row.address(), 0));
            } else {
                let line = row.line().map(|l| l.get()).unwrap_or(0) as u32;
                self.lines.push((row.address(), line.max(1)));
            }
        }
        Ok(())
    }

    fn load_unit(&mut self, index: usize, unit: &gimli::Unit<R>) -> anyhow::Result<()> {
        let mut tree = unit.entries_tree(None)?;
        let root = tree.root()?;
        // cgo's C code (gcc's units): C names and C types (qualifiers,
        // enums, unions, unnamed pointer types).
        let c = matches!(
            root.entry().attr_value(gimli::DW_AT_language),
            Some(AttributeValue::Language(lang)) if lang != gimli::DW_LANG_Go
        );
        let mut children = root.children();
        while let Some(node) = children.next()? {
            let e = node.entry();
            let tag = e.tag();
            let Some(global) = e.offset().to_debug_info_offset(&unit.header) else {
                continue;
            };
            match tag {
                gimli::DW_TAG_subprogram => {
                    let name = self
                        .attr_string(unit, e.attr_value(gimli::DW_AT_name))
                        .unwrap_or_default();
                    let offset = e.offset();
                    let mut ranges = self.dwarf.die_ranges(unit, e)?;
                    while let Some(r) = ranges.next()? {
                        if r.begin < r.end {
                            self.subprograms.push(Subprogram {
                                low: r.begin,
                                high: r.end,
                                unit: index,
                                offset,
                                name: name.clone(),
                            });
                        }
                    }
                    self.load_params(unit, node)?;
                }
                gimli::DW_TAG_variable => {
                    let name = self.attr_string(unit, e.attr_value(gimli::DW_AT_name));
                    let ty = global_ref(unit, e.attr_value(gimli::DW_AT_type));
                    let addr = match e.attr_value(gimli::DW_AT_location) {
                        Some(AttributeValue::Exprloc(expr)) => {
                            static_address(&expr, unit.encoding())
                        }
                        _ => None,
                    };
                    if let (Some(name), Some(ty), Some(addr)) = (name, ty, addr) {
                        self.globals.push(Global { name, ty, addr });
                    }
                }
                gimli::DW_TAG_constant => {
                    let name = self.attr_string(unit, e.attr_value(gimli::DW_AT_name));
                    let ty = global_ref(unit, e.attr_value(gimli::DW_AT_type));
                    let value = const_int(e.attr_value(gimli::DW_AT_const_value));
                    if let (Some(name), Some(ty), Some(value)) = (name, ty, value) {
                        self.consts_by_name.insert(name.clone(), (value, ty));
                        let short = name.rsplit('/').next().unwrap_or(&name);
                        let short = short.split_once('.').map_or(short, |(_, n)| n).to_string();
                        self.constants.entry(ty).or_default().push((value, short));
                    }
                }
                _ => {
                    let (name, attrs) = self.type_attrs(unit, e);
                    let name = if c {
                        c_type_name(attrs.tag, name)
                    } else {
                        name
                    };
                    let tag = attrs.tag;
                    if tag == gimli::DW_TAG_enumeration_type {
                        let values = self.enumerators(unit, e.offset())?;
                        if !values.is_empty() {
                            self.constants.entry(global.0).or_default().extend(values);
                        }
                    }
                    if let Some(t) = self.parse_type(unit, node, name, attrs)? {
                        self.types.insert(global.0, t);
                        if c {
                            self.types.mark_c(global.0, qualifier(tag));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The `.paramN` typedefs a generic function's variables are typed
    /// with: children of its subprogram DIE.
    fn load_params(
        &mut self,
        unit: &gimli::Unit<R>,
        node: gimli::EntriesTreeNode<R>,
    ) -> anyhow::Result<()> {
        let mut children = node.children();
        while let Some(child) = children.next()? {
            let e = child.entry();
            if e.tag() != gimli::DW_TAG_typedef {
                continue;
            }
            let (Some(index), Some(shape), Some(global)) = (
                attr_u64(e.attr_value(DW_AT_GO_DICT_INDEX)),
                global_ref(unit, e.attr_value(gimli::DW_AT_type)),
                e.offset().to_debug_info_offset(&unit.header),
            ) else {
                continue;
            };
            let name = self
                .attr_string(unit, e.attr_value(gimli::DW_AT_name))
                .unwrap_or_default();
            self.types.insert(
                global.0,
                Type {
                    name,
                    size: 0,
                    kind: Kind::Param { index, shape },
                    rtype: 0,
                },
            );
        }
        Ok(())
    }

    /// A C enum's enumerators: (value, name).
    fn enumerators(
        &self,
        unit: &gimli::Unit<R>,
        offset: gimli::UnitOffset<usize>,
    ) -> anyhow::Result<Vec<(i64, String)>> {
        let mut tree = unit.entries_tree(Some(offset))?;
        let root = tree.root()?;
        let mut children = root.children();
        let mut out = Vec::new();
        while let Some(child) = children.next()? {
            let e = child.entry();
            if e.tag() != gimli::DW_TAG_enumerator {
                continue;
            }
            let name = self.attr_string(unit, e.attr_value(gimli::DW_AT_name));
            if let (Some(name), Some(value)) =
                (name, const_int(e.attr_value(gimli::DW_AT_const_value)))
            {
                out.push((value, name));
            }
        }
        Ok(out)
    }

    fn type_attrs(
        &self,
        unit: &gimli::Unit<R>,
        e: &gimli::DebuggingInformationEntry<R>,
    ) -> (String, TypeAttrs) {
        let name = self
            .attr_string(unit, e.attr_value(gimli::DW_AT_name))
            .unwrap_or_default();
        let attrs = TypeAttrs {
            tag: e.tag(),
            size: attr_u64(e.attr_value(gimli::DW_AT_byte_size)),
            target: global_ref(unit, e.attr_value(gimli::DW_AT_type)),
            go_kind: attr_u64(e.attr_value(DW_AT_GO_KIND)),
            key: global_ref(unit, e.attr_value(DW_AT_GO_KEY)),
            elem: global_ref(unit, e.attr_value(DW_AT_GO_ELEM)),
            rtype: attr_u64(e.attr_value(DW_AT_GO_RUNTIME_TYPE)).unwrap_or(0),
            encoding: match e.attr_value(gimli::DW_AT_encoding) {
                Some(AttributeValue::Encoding(enc)) => Some(enc),
                _ => None,
            },
        };
        (name, attrs)
    }

    fn parse_type(
        &self,
        unit: &gimli::Unit<R>,
        node: gimli::EntriesTreeNode<R>,
        name: String,
        a: TypeAttrs,
    ) -> anyhow::Result<Option<Type>> {
        let size = a.size.unwrap_or(0);
        let (kind, size) = match a.tag {
            gimli::DW_TAG_base_type => {
                let kind = match a.encoding {
                    Some(gimli::DW_ATE_boolean) => Kind::Bool,
                    Some(gimli::DW_ATE_signed) | Some(gimli::DW_ATE_signed_char) => Kind::Int,
                    Some(gimli::DW_ATE_unsigned) | Some(gimli::DW_ATE_unsigned_char) => Kind::Uint,
                    Some(gimli::DW_ATE_float) => Kind::Float,
                    Some(gimli::DW_ATE_complex_float) => Kind::Complex,
                    _ => Kind::Unknown,
                };
                (kind, size)
            }
            gimli::DW_TAG_pointer_type => (Kind::Ptr(a.target), 8),
            gimli::DW_TAG_const_type
            | gimli::DW_TAG_volatile_type
            | gimli::DW_TAG_restrict_type
            | gimli::DW_TAG_atomic_type => match a.target {
                Some(target) => (Kind::Alias(target), 0),
                // `const void`: only ever pointed to.
                None => (Kind::Unknown, 0),
            },
            // A C enum: its underlying integer type (gcc names it), else an
            // int of its size; its enumerators name its values.
            gimli::DW_TAG_enumeration_type => match a.target {
                Some(target) => (Kind::Alias(target), 0),
                None => (Kind::Int, size),
            },
            gimli::DW_TAG_subroutine_type => (Kind::Func, 8),
            gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type => {
                let mut fields = Vec::new();
                let mut children = node.children();
                while let Some(child) = children.next()? {
                    let m = child.entry();
                    // A C bit-field is not a whole-bytes value: reading
                    // its bytes would show a wrong value, so it is left out.
                    if m.tag() != gimli::DW_TAG_member
                        || m.attr_value(gimli::DW_AT_bit_size).is_some()
                    {
                        continue;
                    }
                    let Some(ty) = global_ref(unit, m.attr_value(gimli::DW_AT_type)) else {
                        continue;
                    };
                    fields.push(Field {
                        name: self
                            .attr_string(unit, m.attr_value(gimli::DW_AT_name))
                            .unwrap_or_default(),
                        offset: attr_u64(m.attr_value(gimli::DW_AT_data_member_location))
                            .unwrap_or(0),
                        ty,
                        embedded: matches!(
                            m.attr_value(DW_AT_GO_EMBEDDED_FIELD),
                            Some(AttributeValue::Flag(true))
                        ) || attr_u64(m.attr_value(DW_AT_GO_EMBEDDED_FIELD))
                            .is_some_and(|v| v != 0),
                    });
                }
                let kind = match a.go_kind {
                    Some(go_kind::STRING) => Kind::String,
                    Some(go_kind::SLICE) => match a.elem {
                        Some(e) => Kind::Slice(e),
                        None => Kind::Struct(fields),
                    },
                    _ => Kind::Struct(fields),
                };
                (kind, size)
            }
            gimli::DW_TAG_array_type => {
                let mut count = None;
                let mut children = node.children();
                while let Some(child) = children.next()? {
                    let s = child.entry();
                    if s.tag() == gimli::DW_TAG_subrange_type {
                        count = attr_u64(s.attr_value(gimli::DW_AT_count)).or_else(|| {
                            attr_u64(s.attr_value(gimli::DW_AT_upper_bound))
                                .map(|u| u.saturating_add(1))
                        });
                        break;
                    }
                }
                match a.target {
                    Some(elem) => (Kind::Array(elem, count.unwrap_or(0)), size),
                    None => (Kind::Unknown, size),
                }
            }
            gimli::DW_TAG_typedef => match (a.go_kind, a.target) {
                (Some(go_kind::MAP), hdr) => match (a.key, a.elem) {
                    (Some(key), Some(elem)) => (Kind::Map { key, elem, hdr }, 8),
                    _ => (Kind::Unknown, 8),
                },
                (Some(go_kind::CHAN), hdr) => match a.elem {
                    Some(elem) => (Kind::Chan { elem, hdr }, 8),
                    None => (Kind::Unknown, 8),
                },
                (Some(go_kind::INTERFACE), hdr) => (Kind::Iface { hdr }, 16),
                (Some(go_kind::FUNC), _) => (Kind::Func, 8),
                (_, Some(target)) => (Kind::Alias(target), 0),
                (_, None) => (Kind::Unknown, 0),
            },
            gimli::DW_TAG_unspecified_type => (Kind::Unknown, 0),
            _ => return Ok(None),
        };
        Ok(Some(Type {
            name,
            size,
            kind,
            rtype: a.rtype,
        }))
    }
}

struct TypeAttrs {
    tag: gimli::DwTag,
    size: Option<u64>,
    target: Option<usize>,
    go_kind: Option<u64>,
    key: Option<usize>,
    elem: Option<usize>,
    rtype: u64,
    encoding: Option<gimli::DwAte>,
}

/// A generic function's or dictionary's name without its type arguments
/// and receiver punctuation: `main.(*Stack[go.shape.int]).Push` →
/// `main.Stack.Push`, `main.Stack[int]` → `main.Stack`.
pub(crate) fn generic_base(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut depth = 0u32;
    for c in name.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            '(' | ')' | '*' => {}
            c => out.push(c),
        }
    }
    out
}

/// An integer `DW_AT_const_value`.
pub(crate) fn const_int(v: Option<AttributeValue<R>>) -> Option<i64> {
    match v? {
        AttributeValue::Sdata(v) => Some(v),
        AttributeValue::Udata(v) => Some(v as i64),
        AttributeValue::Data1(v) => Some(v as i64),
        AttributeValue::Data2(v) => Some(v as i64),
        AttributeValue::Data4(v) => Some(v as i64),
        AttributeValue::Data8(v) => Some(v as i64),
        _ => None,
    }
}

/// A C type's name as Delve writes it: `struct point`, `enum color`
/// (unnamed ones are named later from what they are made of).
fn c_type_name(tag: gimli::DwTag, name: String) -> String {
    let keyword = match tag {
        gimli::DW_TAG_structure_type => "struct",
        gimli::DW_TAG_union_type => "union",
        gimli::DW_TAG_enumeration_type => "enum",
        _ => return name,
    };
    if name.is_empty() {
        format!("{keyword} {{...}}")
    } else {
        format!("{keyword} {name}")
    }
}

/// The C qualifier a type tag adds to the type it refers to.
fn qualifier(tag: gimli::DwTag) -> Option<&'static str> {
    Some(match tag {
        gimli::DW_TAG_const_type => "const",
        gimli::DW_TAG_volatile_type => "volatile",
        gimli::DW_TAG_restrict_type => "restrict",
        gimli::DW_TAG_atomic_type => "_Atomic",
        _ => return None,
    })
}

/// The address of a package variable: its location is `DW_OP_addr A`.
fn static_address(expr: &gimli::Expression<R>, encoding: gimli::Encoding) -> Option<u64> {
    let mut ops = expr.clone().operations(encoding);
    match ops.next().ok()?? {
        gimli::Operation::Address { address } => Some(address),
        _ => None,
    }
}
