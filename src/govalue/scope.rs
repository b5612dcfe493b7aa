//! Variables in scope at a pc: a subprogram's DIE tree is walked on demand,
//! keeping lexical blocks and inlined calls that contain the pc. Inlined
//! calls nest, each one a source-level frame of its own.

use gimli::AttributeValue;

use super::info::{attr_u64, global_ref, Info, R};
use super::types::TypeId;
use super::{Dict, VarLoc, Variable};

/// Go's attribute on a variable a closure captures.
const DW_AT_GO_CLOSURE_OFFSET: gimli::DwAt = gimli::DwAt(0x2907);

/// Nesting bound for garbage DWARF.
const MAX_NESTING: usize = 64;

struct RawVar {
    name: String,
    is_arg: bool,
    ty: TypeId,
    loc: VarLoc,
    decl_line: u64,
    /// Captured by a closure (`DW_AT_go_closure_offset`): visible on its
    /// declaration line already.
    captured: bool,
    block_depth: usize,
}

/// The variables of one source-level frame (the function or an inlined call).
#[derive(Default)]
struct Level {
    vars: Vec<RawVar>,
    /// A generic function's dictionary (its `.dict` argument).
    dict: Option<VarLoc>,
    /// The function's name (an inlined call's: its abstract origin's).
    function: String,
    /// For an inlined call: the line it was called from (in the parent level).
    call_line: u64,
}

/// Attributes of a variable DIE, looked up through DW_AT_abstract_origin
/// for inlined copies.
struct VarAttrs {
    name: Option<String>,
    ty: Option<TypeId>,
    decl_line: u64,
}

/// A variable a closure captured: a field of its closure struct (the
/// funcval: code pointer first, then the captured variables).
#[derive(Debug, Clone)]
pub(crate) struct Captured {
    /// As DWARF names it: `&x` for a variable captured by reference.
    pub name: String,
    pub offset: u64,
    pub ty: TypeId,
}

impl Info {
    /// A function's Go type from its DIE's parameters (results are Go's
    /// DW_AT_variable_parameter ones): `func(int) int`,
    /// `func(string, int) (int, error)`.
    pub fn func_signature(&self, name: &str) -> Option<String> {
        let sub = self.subprograms.iter().find(|s| s.name == name)?;
        let unit = self.units.get(sub.unit)?;
        let mut tree = unit.entries_tree(Some(sub.offset)).ok()?;
        let root = tree.root().ok()?;
        let (mut params, mut results) = (Vec::new(), Vec::new());
        let mut children = root.children();
        while let Ok(Some(child)) = children.next() {
            let e = child.entry();
            if e.tag() != gimli::DW_TAG_formal_parameter {
                continue;
            }
            let a = self.var_attrs(unit, e);
            // A generic function's dictionary is no parameter of Go's.
            if a.name.as_deref() == Some(".dict") {
                continue;
            }
            let ty = self.types.name(a.ty?);
            match e.attr_value(gimli::DW_AT_variable_parameter) {
                Some(AttributeValue::Flag(true)) => results.push(ty),
                _ => params.push(ty),
            }
        }
        let mut sig = format!("func({})", params.join(", "));
        match results.len() {
            0 => {}
            1 => sig.push_str(&format!(" {}", results[0])),
            _ => sig.push_str(&format!(" ({})", results.join(", "))),
        }
        Some(sig)
    }

    /// The variables captured by the closure function containing `pc`
    /// (Delve's closureStructType: the function's variables with
    /// DW_AT_go_closure_offset, inlined calls skipped), by offset.
    pub fn captured(&self, pc: u64) -> Vec<Captured> {
        let Some(sub) = self.subprogram_at(pc) else {
            return Vec::new();
        };
        let Some(unit) = self.units.get(sub.unit) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let walked = (|| -> gimli::Result<()> {
            let mut tree = unit.entries_tree(Some(sub.offset))?;
            let root = tree.root()?;
            self.walk_captured(unit, root, &mut out, 0)
        })();
        if let Err(e) = walked {
            tracing::debug!("govalue: captured variables at {pc:#x}: {e}");
        }
        out.sort_by_key(|c| c.offset);
        out
    }

    fn walk_captured(
        &self,
        unit: &gimli::Unit<R>,
        node: gimli::EntriesTreeNode<R>,
        out: &mut Vec<Captured>,
        nesting: usize,
    ) -> gimli::Result<()> {
        if nesting > MAX_NESTING || out.len() > 1000 {
            return Ok(());
        }
        let mut children = node.children();
        while let Some(child) = children.next()? {
            let e = child.entry();
            match e.tag() {
                gimli::DW_TAG_formal_parameter | gimli::DW_TAG_variable => {
                    let Some(offset) = attr_u64(e.attr_value(DW_AT_GO_CLOSURE_OFFSET)) else {
                        continue;
                    };
                    let a = self.var_attrs(unit, e);
                    if let (Some(name), Some(ty)) = (a.name, a.ty) {
                        out.push(Captured { name, offset, ty });
                    }
                }
                gimli::DW_TAG_lexical_block => self.walk_captured(unit, child, out, nesting + 1)?,
                _ => {}
            }
        }
        Ok(())
    }

    pub fn scope_variables(&self, pc: u64, depth: usize) -> Vec<Variable> {
        let Some(sub) = self.subprogram_at(pc) else {
            return Vec::new();
        };
        let Some(unit) = self.units.get(sub.unit) else {
            return Vec::new();
        };
        let mut levels = vec![Level {
            function: sub.name.clone(),
            ..Level::default()
        }];
        let walked = (|| -> gimli::Result<()> {
            let mut tree = unit.entries_tree(Some(sub.offset))?;
            let root = tree.root()?;
            // Scopes and location lists are DWARF's: at link-time pcs.
            let link_pc = pc.wrapping_sub(self.bias);
            self.walk(sub.unit, unit, root, 0, 0, link_pc, &mut levels, 0)
        })();
        if let Err(e) = walked {
            tracing::debug!("govalue: variables at {pc:#x}: {e}");
        }
        let Some(index) = levels.len().checked_sub(depth.saturating_add(1)) else {
            return Vec::new();
        };
        let line = if index + 1 == levels.len() {
            self.line_at(pc).map(u64::from).unwrap_or(u64::MAX)
        } else {
            levels[index + 1].call_line
        };
        let mut raw = std::mem::take(&mut levels[index].vars);
        let dict = levels[index].dict.take().map(|loc| Dict {
            loc,
            function: std::mem::take(&mut levels[index].function),
        });
        // Declared on this line or later: not in scope yet (in -N -l builds
        // its slot holds garbage). Delve's rule: visible from the line after
        // the declaration, a captured variable from that line.
        raw.retain(|v| {
            v.is_arg
                || v.decl_line == 0
                || v.decl_line < line
                || (v.captured && v.decl_line == line)
        });
        // Arguments first, in order; then locals from outer blocks to inner,
        // by declaration line (Delve's order).
        raw.sort_by_key(|v| {
            (
                !v.is_arg,
                if v.is_arg { 0 } else { v.block_depth },
                v.decl_line,
            )
        });
        let mut out: Vec<Variable> = Vec::with_capacity(raw.len());
        for v in raw {
            let (name, escaped) = match v.name.strip_prefix('&') {
                Some(n) => (n.to_string(), true),
                None => (v.name, false),
            };
            // An inner declaration shadows an outer one: Delve shows the outer as "(x)".
            for prev in out.iter_mut().filter(|p| p.name == name) {
                prev.name = format!("({name})");
            }
            let param = self.types.param(v.ty).is_some();
            out.push(Variable {
                // "~r0" is no Go expression: nothing to copy or watch by name.
                eval_name: if name.starts_with('~') {
                    String::new()
                } else {
                    name.clone()
                },
                name,
                is_arg: v.is_arg,
                // `&x` is typed *T; the variable shown is x of type T. A
                // type parameter's dictionary entry is T itself.
                ty: if escaped && !param {
                    self.types.pointee(v.ty).unwrap_or(v.ty)
                } else {
                    v.ty
                },
                loc: v.loc,
                escaped,
                dict: if param { dict.clone() } else { None },
            });
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        unit_index: usize,
        unit: &gimli::Unit<R>,
        node: gimli::EntriesTreeNode<R>,
        level: usize,
        block_depth: usize,
        pc: u64,
        levels: &mut Vec<Level>,
        nesting: usize,
    ) -> gimli::Result<()> {
        if nesting > MAX_NESTING {
            return Ok(());
        }
        let mut children = node.children();
        while let Some(child) = children.next()? {
            let e = child.entry();
            match e.tag() {
                gimli::DW_TAG_formal_parameter | gimli::DW_TAG_variable => {
                    if let Some(l) = levels.get_mut(level) {
                        match self.raw_var(unit_index, unit, e, pc, block_depth) {
                            Some(Ok(v)) => l.vars.push(v),
                            Some(Err(dict)) => l.dict = Some(dict),
                            None => {}
                        }
                    }
                }
                gimli::DW_TAG_lexical_block if self.contains(unit, e, pc) => {
                    self.walk(
                        unit_index,
                        unit,
                        child,
                        level,
                        block_depth + 1,
                        pc,
                        levels,
                        nesting + 1,
                    )?;
                }
                gimli::DW_TAG_inlined_subroutine if self.contains(unit, e, pc) => {
                    let call_line = attr_u64(e.attr_value(gimli::DW_AT_call_line)).unwrap_or(0);
                    let function = global_ref(unit, e.attr_value(gimli::DW_AT_abstract_origin))
                        .and_then(|o| self.locate(o))
                        .and_then(|(ui, off)| {
                            let ou = self.units.get(ui)?;
                            let oe = ou.entry(off).ok()?;
                            self.attr_string(ou, oe.attr_value(gimli::DW_AT_name))
                        })
                        .unwrap_or_default();
                    levels.push(Level {
                        vars: Vec::new(),
                        dict: None,
                        function,
                        call_line,
                    });
                    let inner = levels.len() - 1;
                    self.walk(unit_index, unit, child, inner, 0, pc, levels, nesting + 1)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn contains(
        &self,
        unit: &gimli::Unit<R>,
        e: &gimli::DebuggingInformationEntry<R>,
        pc: u64,
    ) -> bool {
        let Ok(mut ranges) = self.dwarf.die_ranges(unit, e) else {
            return false;
        };
        for _ in 0..10_000 {
            match ranges.next() {
                Ok(Some(r)) if r.begin <= pc && pc < r.end => return true,
                Ok(Some(_)) => {}
                _ => return false,
            }
        }
        false
    }

    fn var_attrs(
        &self,
        unit: &gimli::Unit<R>,
        e: &gimli::DebuggingInformationEntry<R>,
    ) -> VarAttrs {
        VarAttrs {
            name: self.attr_string(unit, e.attr_value(gimli::DW_AT_name)),
            ty: global_ref(unit, e.attr_value(gimli::DW_AT_type)),
            decl_line: attr_u64(e.attr_value(gimli::DW_AT_decl_line)).unwrap_or(0),
        }
    }

    /// A variable, or `Err` with the location of the function's dictionary.
    fn raw_var(
        &self,
        unit_index: usize,
        unit: &gimli::Unit<R>,
        e: &gimli::DebuggingInformationEntry<R>,
        pc: u64,
        block_depth: usize,
    ) -> Option<Result<RawVar, VarLoc>> {
        let mut a = self.var_attrs(unit, e);
        if let Some(origin) = global_ref(unit, e.attr_value(gimli::DW_AT_abstract_origin)) {
            let (ui, off) = self.locate(origin)?;
            let ou = self.units.get(ui)?;
            let oe = ou.entry(off).ok()?;
            let o = self.var_attrs(ou, &oe);
            a = VarAttrs {
                name: a.name.or(o.name),
                ty: a.ty.or(o.ty),
                decl_line: if a.decl_line != 0 {
                    a.decl_line
                } else {
                    o.decl_line
                },
            };
        }
        let name = a.name?;
        if name == ".dict" {
            let ty = a.ty?;
            return Some(Err(self.location(unit_index, unit, e, pc, ty)));
        }
        // Compiler temporaries (".autotmp", ".dict") and the parts the
        // optimizer split a variable into ("s.len"). Unnamed results and
        // parameters ("~r0", "~p0") are shown, as Delve does.
        let bare = name.trim_start_matches('&');
        if bare.is_empty() || bare.starts_with('.') || bare.contains('.') {
            return None;
        }
        let is_arg = e.tag() == gimli::DW_TAG_formal_parameter;
        let ty = a.ty?;
        let loc = self.location(unit_index, unit, e, pc, ty);
        Some(Ok(RawVar {
            name,
            is_arg,
            ty,
            loc,
            decl_line: a.decl_line,
            captured: e.attr_value(DW_AT_GO_CLOSURE_OFFSET).is_some(),
            block_depth,
        }))
    }

    fn location(
        &self,
        unit_index: usize,
        unit: &gimli::Unit<R>,
        e: &gimli::DebuggingInformationEntry<R>,
        pc: u64,
        ty: TypeId,
    ) -> VarLoc {
        let size = self.types.size(ty);
        match e.attr_value(gimli::DW_AT_location) {
            None => const_value(e.attr_value(gimli::DW_AT_const_value), size),
            Some(AttributeValue::Exprloc(expr))
                if !describes_less(&expr, unit.encoding(), size) =>
            {
                VarLoc::Expr {
                    unit: unit_index,
                    expr,
                }
            }
            Some(AttributeValue::Exprloc(_)) => VarLoc::None,
            Some(v) => self.loclist_entry(unit_index, unit, v, pc, size),
        }
    }

    /// The location list entry for `pc`. The whole list is checked: Go
    /// compilers sometimes describe a multi-word variable (a string, an
    /// interface) by the location of one of its words only, which would
    /// read as a wrong value; such a variable is treated as optimized away.
    fn loclist_entry(
        &self,
        unit_index: usize,
        unit: &gimli::Unit<R>,
        v: AttributeValue<R>,
        pc: u64,
        size: u64,
    ) -> VarLoc {
        let Ok(Some(mut list)) = self.dwarf.attr_locations(unit, v) else {
            return VarLoc::None;
        };
        let mut found = None;
        for _ in 0..100_000 {
            match list.next() {
                Ok(Some(entry)) => {
                    if describes_less(&entry.data, unit.encoding(), size) {
                        return VarLoc::None;
                    }
                    if found.is_none() && entry.range.begin <= pc && pc < entry.range.end {
                        found = Some(entry.data);
                    }
                }
                Ok(None) => break,
                Err(_) => return VarLoc::None,
            }
        }
        match found {
            Some(expr) => VarLoc::Expr {
                unit: unit_index,
                expr,
            },
            None => VarLoc::None,
        }
    }
}

/// A variable the compiler replaced by its value (gcc does for C locals
/// it folded): an integer of the type's size, or the value's bytes.
fn const_value(v: Option<AttributeValue<R>>, size: u64) -> VarLoc {
    let bytes: Vec<u8> = match v {
        Some(AttributeValue::Block(b)) => {
            use gimli::Reader;
            match b.to_slice() {
                Ok(b) => b.into_owned(),
                Err(_) => return VarLoc::None,
            }
        }
        v => match super::info::const_int(v) {
            Some(n) if size <= 8 => n.to_le_bytes()[..size as usize].to_vec(),
            _ => return VarLoc::None,
        },
    };
    if bytes.len() as u64 != size {
        return VarLoc::None;
    }
    VarLoc::Const(bytes.into())
}

/// Whether a location expression covers fewer bytes than the variable's
/// type: a bare register holds 8 bytes, pieces their sizes; a memory
/// location covers anything.
fn describes_less(expr: &gimli::Expression<R>, encoding: gimli::Encoding, size: u64) -> bool {
    let mut ops = expr.clone().operations(encoding);
    let mut pieces = 0u64;
    let mut saw_piece = false;
    let mut bare_register = false;
    let mut count = 0;
    while let Ok(Some(op)) = ops.next() {
        count += 1;
        match op {
            gimli::Operation::Piece { size_in_bits, .. } => {
                saw_piece = true;
                pieces = pieces.saturating_add(size_in_bits / 8);
            }
            gimli::Operation::Register { register } => {
                bare_register = true;
                // XMM registers hold 16 bytes.
                if (17..=32).contains(&register.0) && size <= 16 {
                    bare_register = false;
                }
            }
            _ => {}
        }
        if count > 1000 {
            return true;
        }
    }
    if saw_piece {
        pieces < size
    } else {
        bare_register && size > 8
    }
}
