//! Go values from DWARF: variables in scope, types, rendering as Delve does.
//!
//! `DebugInfo` is loaded once per executable (gimli over owned section
//! data). It unwinds physical frames with `.debug_frame`, lists the
//! variables in scope at a pc (inlined calls are frames of their own),
//! evaluates their DWARF locations in a frame, and renders values the way
//! Delve's DAP server does, so a Go developer sees familiar text. Memory is
//! read through the `Memory` trait: a live process, or a replayed one.
//!
//! Nothing here trusts the process's memory: lengths and counts read from
//! it are bounded, and a value that cannot be known is shown as
//! "(optimized away)" or "(unreadable …)", never guessed.

mod eval;
mod expand;
mod info;
pub(crate) use info::generic_base;
mod location;
mod maps;
mod methods;
mod parse;
mod render;
mod scope;
#[cfg(test)]
mod tests;
mod types;
mod unwind;
mod value;

use std::cell::Cell;
use std::path::Path;

use object::Object;

use anyhow::Context;
use trace_format::RemoteAddr;

use crate::debugger::api::{Shown, Value};
use location::Place;
use types::TypeId;
use value::{Ctx, Loc, Val};

/// Read access to a process's memory.
pub trait Memory {
    fn read(&self, addr: u64, len: usize) -> std::io::Result<Vec<u8>>;
}

impl Memory for crate::tracee::mem::ProcMem {
    fn read(&self, addr: u64, len: usize) -> std::io::Result<Vec<u8>> {
        crate::tracee::mem::ProcMem::read(self, RemoteAddr(addr), len)
    }
}

/// Registers of one physical frame. For the innermost frame `regs` is Some
/// (all GPRs); outer frames have only pc/sp/bp/cfa.
#[derive(Debug, Clone)]
pub struct FrameRegs {
    pub pc: u64,
    pub sp: u64,
    pub bp: u64,
    pub cfa: u64,
    pub regs: Option<trace_format::Regs>,
    /// Low 64 bits of XMM0–15 (innermost frame only): Go passes floats there.
    pub xmm: Option<[u64; 16]>,
}

/// A variable in scope (argument, local or package variable), ready to be
/// read in a frame.
#[derive(Debug, Clone)]
pub struct Variable {
    pub name: String,
    pub is_arg: bool,
    pub(crate) ty: TypeId,
    pub(crate) loc: VarLoc,
    /// How an expression names it (`x`, or `main.counter` for globals).
    pub(crate) eval_name: String,
    /// Go's `&x` variables: the DIE describes a pointer to the real value
    /// (a variable moved to the heap).
    pub(crate) escaped: bool,
    /// For a variable typed by a type parameter: the dictionary of its
    /// generic function.
    pub(crate) dict: Option<Dict>,
}

/// A generic function's dictionary: where its `.dict` argument is, and the
/// function's name (a dictionary read from memory must be one of its own).
#[derive(Debug, Clone)]
pub(crate) struct Dict {
    pub loc: VarLoc,
    pub function: String,
}

/// A variable's location at the pc it was looked up for.
#[derive(Debug, Clone)]
pub(crate) enum VarLoc {
    Expr {
        unit: usize,
        expr: gimli::Expression<info::R>,
    },
    Addr(u64),
    /// A value the compiler knew (C's `DW_AT_const_value`): its bytes.
    Const(std::rc::Rc<[u8]>),
    /// No location at this pc: optimized away.
    None,
}

/// What is needed to list a value's children later, independently of the
/// frame it came from (register pieces are already copied in).
#[derive(Debug, Clone)]
pub struct Expand {
    pub(crate) val: Val,
    pub(crate) eval_name: String,
    /// Delve's load depth the value was rendered at.
    pub(crate) level: u32,
}

/// A rendered value and, if it has children, how to list them.
#[derive(Debug, Clone)]
pub struct Var {
    /// `children` is always None: the engine hands out references.
    pub value: Value,
    pub expand: Option<Expand>,
    /// Where the value lives in memory (None for register values, computed
    /// values and optimized-away variables): what a watchpoint watches.
    pub place: Option<MemPlace>,
}

/// A value's bytes in the process: address, size and Go type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemPlace {
    pub addr: u64,
    pub size: u64,
    pub(crate) ty: TypeId,
}

impl Var {
    pub fn as_bool(&self) -> Option<bool> {
        match self.value.value.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// Integers (unsigned ones are rendered `N = 0x…`).
    #[cfg(test)]
    pub fn as_i64(&self) -> Option<i64> {
        let v = &self.value.value;
        v.split(" = ")
            .next()
            .unwrap_or(v)
            .parse::<i64>()
            .ok()
            .or_else(|| {
                v.split(" = ")
                    .next()
                    .and_then(|s| s.parse::<u64>().ok())
                    .map(|u| u as i64)
            })
    }
}

/// A Go executable's debug information.
pub struct DebugInfo {
    info: info::Info,
    /// `moduledata.types`, read once from a process (static executables
    /// keep it at the same address in every run).
    types_base: Cell<Option<u64>>,
    /// The ELF entry point, if the executable is position independent.
    pie_entry: Option<u64>,
}

impl DebugInfo {
    pub fn load(path: &Path) -> anyhow::Result<DebugInfo> {
        let data =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let info = info::load(&data)
            .with_context(|| format!("cannot load DWARF of {}", path.display()))?;
        let pie_entry = object::File::parse(&*data)
            .ok()
            .filter(|f| f.kind() == object::ObjectKind::Dynamic)
            .map(|f| f.entry());
        Ok(DebugInfo {
            info,
            types_base: Cell::new(None),
            pie_entry,
        })
    }

    /// The debug information as loaded in a process whose entry point
    /// (auxv `AT_ENTRY`) is `entry`: a position-independent executable's
    /// addresses move to where it was loaded (as `GoBinary::loaded_at_entry`).
    pub fn loaded_at_entry(mut self, entry: Option<u64>) -> DebugInfo {
        if let (Some(linked), Some(entry)) = (self.pie_entry, entry) {
            let bias = entry.wrapping_sub(linked);
            if bias != 0 {
                self.info.rebase(bias);
                self.pie_entry = Some(entry);
            }
        }
        self
    }

    /// CFA at `pc` given that frame's rsp, from .debug_frame (Go emits
    /// CFA=rsp+N rules; there is no RBP rule).
    pub fn cfa(&self, pc: u64, sp: u64) -> Option<u64> {
        self.info.cfa_at(pc, sp, 0).map(|(cfa, _)| cfa)
    }

    /// Physical frames from the innermost registers: CFA from .debug_frame;
    /// return address at CFA-8; caller sp = CFA; caller bp = [CFA-16] once
    /// the function has pushed BP. Falls back to the frame-pointer chain
    /// where there is no CFI. Stops at runtime.goexit/mstart/rt0_go, pc 0,
    /// or `max` frames. Every frame's `regs` is None: the caller sets the
    /// innermost frame's when it has a thread's full register set.
    pub fn unwind(
        &self,
        mem: &dyn Memory,
        pc: u64,
        sp: u64,
        bp: u64,
        max: usize,
    ) -> Vec<FrameRegs> {
        self.info.unwind(mem, pc, sp, bp, max)
    }

    /// Arguments and locals in scope at `lookup_pc` (the exact pc for the
    /// innermost frame, return address - 1 for outer ones), for inline level
    /// `depth`: 0 = the innermost inlined function at that pc, …, last =
    /// the physical function (the order of `GoBinary::source_frames`).
    pub fn variables(&self, lookup_pc: u64, depth: usize) -> Vec<Variable> {
        self.info.scope_variables(lookup_pc, depth)
    }

    /// Package-level variables of a package (e.g. "main"), sorted by name.
    pub fn globals(&self, package: &str) -> Vec<Variable> {
        let prefix = format!("{package}.");
        self.info
            .globals
            .iter()
            .filter_map(|g| {
                let short = g.name.strip_prefix(&prefix)?;
                // Compiler-made package symbols (`main..stmp_0`, `main.init.0…`).
                if short.is_empty() || short.contains('.') {
                    return None;
                }
                Some(Variable {
                    name: short.to_string(),
                    is_arg: false,
                    ty: g.ty,
                    loc: VarLoc::Addr(g.addr),
                    eval_name: g.name.clone(),
                    escaped: false,
                    dict: None,
                })
            })
            .collect()
    }

    /// The Go name of the type whose runtime descriptor (`*abi.Type`) is at
    /// `rtype`, e.g. an interface's dynamic type word.
    pub fn runtime_type_name(&self, mem: &dyn Memory, rtype: u64) -> Option<String> {
        (rtype != 0).then(|| self.ctx(mem).dynamic_type(rtype).name)
    }

    fn ctx<'a>(&'a self, mem: &'a dyn Memory) -> Ctx<'a> {
        if self.types_base.get().is_none() {
            self.types_base.set(self.read_types_base(mem));
        }
        Ctx {
            info: &self.info,
            mem,
            types_base: self.types_base.get(),
        }
    }

    /// `runtime.firstmoduledata.types`; the `runtime.types` symbol if the
    /// process cannot tell.
    fn read_types_base(&self, mem: &dyn Memory) -> Option<u64> {
        let info = &self.info;
        let from_process = (|| {
            let md = *info.data_symbols.get("runtime.firstmoduledata")?;
            let t = info.types.by_name("runtime.moduledata")?;
            let off = info.types.field(t, "types")?.offset;
            let b = mem.read(md.wrapping_add(off), 8).ok()?;
            let v = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
            (v != 0).then_some(v)
        })();
        from_process.or_else(|| info.data_symbols.get("runtime.types").copied())
    }

    /// Renders a variable in a frame. Never a wrong value: without a
    /// location at the pc, or with a piece missing, the value is
    /// "(optimized away)" (the type is still shown).
    pub fn read_var(&self, mem: &dyn Memory, frame: &FrameRegs, v: &Variable) -> Var {
        let ctx = self.ctx(mem);
        let v = match instantiate(&ctx, frame, v) {
            Ok(v) => v,
            Err(e) => {
                let mut var = render::optimized_var(ctx.type_name(v.ty), &v.name, &v.eval_name);
                var.value.value = format!("(unreadable {e})");
                return var;
            }
        };
        match read_value(&ctx, frame, &v) {
            Some(val) => render::to_var(&ctx, &val, &v.name, &v.eval_name, 0),
            None => render::optimized_var(ctx.type_name(v.ty), &v.name, &v.eval_name),
        }
    }

    /// The value now at `place`, rendered as in a scope ("(unreadable …)"
    /// if its memory cannot be read).
    pub fn render_at(&self, mem: &dyn Memory, place: &MemPlace) -> String {
        let ctx = self.ctx(mem);
        let val = value::Val {
            ty: place.ty,
            loc: value::Loc::Mem(place.addr),
        };
        render::to_var(&ctx, &val, "", "", 0).value.value
    }

    /// `size` (1, 2, 4 or 8) bytes at `addr`, seen as an unsigned integer.
    pub fn raw_place(&self, addr: u64, size: u64) -> Option<MemPlace> {
        let name = match size {
            1 => "uint8",
            2 => "uint16",
            4 => "uint32",
            8 => "uint64",
            _ => return None,
        };
        let ty = self.info.types.by_name(name)?;
        Some(MemPlace { addr, size, ty })
    }

    /// The Go type name of a place's value.
    pub fn place_type(&self, place: &MemPlace) -> String {
        self.info.types.name(place.ty)
    }

    /// Children of an expandable value, `start..start+count` (count 0 = all,
    /// capped at 1000).
    pub fn expand(&self, mem: &dyn Memory, e: &Expand, start: u64, count: u64) -> Vec<Var> {
        let ctx = self.ctx(mem);
        match expand::children(&ctx, e, start, count) {
            Ok(v) => v,
            Err(err) => {
                tracing::debug!("govalue: expanding {}: {err:#}", e.eval_name);
                Vec::new()
            }
        }
    }

    /// Evaluates a Go expression in a frame (see `eval`): identifiers
    /// (arguments and locals at `lookup_pc`/`depth`, then the frame
    /// package's globals and constants, then `pkg.Name`), literals, `x.f`,
    /// `x[i]`, `x[lo:hi]`, `x.(T)`, `T(x)`, `*p`, `&x`, builtins, unary and
    /// binary operators. The result is shown as `shown` says.
    pub fn evaluate(
        &self,
        mem: &dyn Memory,
        frame: &FrameRegs,
        lookup_pc: u64,
        depth: usize,
        expr: &str,
        shown: Shown,
    ) -> anyhow::Result<Var> {
        let scope = eval::Scope {
            ctx: self.ctx(mem),
            frame,
            lookup_pc,
            depth,
            vars: Default::default(),
            shown,
        };
        scope.evaluate(expr)
    }
}

/// `v` with its type in this frame: a type parameter's type is the
/// function's dictionary entry (an `*abi.Type`), found in DWARF by its
/// runtime type offset, as Delve does. Errors say why it cannot be known.
///
/// Without a usable dictionary (optimized code often has none), a shape
/// without pointers stands in, as in Delve: its values are exact, its name
/// says it is a shape (`go.shape.int`).
/// Whether `expr` is a Go expression this evaluator reads (a breakpoint's
/// condition is checked when it is set, as Delve does): the parse error.
pub(crate) fn check_syntax(expr: &str) -> Result<(), String> {
    parse::parse(expr).map(|_| ()).map_err(|e| format!("{e:#}"))
}

pub(crate) fn instantiate(ctx: &Ctx, frame: &FrameRegs, v: &Variable) -> anyhow::Result<Variable> {
    let Some((index, shape)) = ctx.info.types.param(v.ty) else {
        return Ok(v.clone());
    };
    let mut out = v.clone();
    out.dict = None;
    match dictionary_type(ctx, frame, v, index, shape) {
        Ok(ty) => out.ty = ty,
        Err(_) if !v.escaped && ctx.info.types.without_pointers(shape) => out.ty = shape,
        Err(e) => return Err(e),
    }
    Ok(out)
}

fn dictionary_type(
    ctx: &Ctx,
    frame: &FrameRegs,
    v: &Variable,
    index: u64,
    shape: TypeId,
) -> anyhow::Result<TypeId> {
    let dict = v
        .dict
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("type parameter without a dictionary"))?;
    let place = match &dict.loc {
        VarLoc::None => Place::Missing,
        VarLoc::Addr(a) => Place::Mem(*a),
        VarLoc::Const(b) => Place::Bytes(b.to_vec()),
        VarLoc::Expr { unit, expr } => location::evaluate(ctx.info, *unit, expr, frame, ctx.mem, 8),
    };
    let ptr = match place {
        Place::Mem(a) => ctx.read_u64(a)?,
        Place::Bytes(b) if b.len() >= 8 => u64::from_le_bytes(b[..8].try_into()?),
        _ => anyhow::bail!("dictionary optimized away"),
    };
    // The slot may not hold this call's dictionary yet (optimized code
    // spills it after the location list says): it must at least be one of
    // this function's dictionaries.
    let base = info::generic_base(&dict.function);
    let ours = ctx.info.dicts.get(&ptr).is_some_and(|names| {
        names.iter().any(|n| {
            base == *n
                || base
                    .strip_prefix(n.as_str())
                    .is_some_and(|m| m.starts_with('.'))
        })
    });
    if !ours {
        anyhow::bail!("no dictionary of {} at {ptr:#x}", dict.function);
    }
    let rtype = ctx.read_u64(ptr.wrapping_add(index.saturating_mul(8)))?;
    if rtype == 0 {
        anyhow::bail!("empty dictionary entry {index}");
    }
    let dynamic = ctx.dynamic_type(rtype);
    let ty = dynamic
        .ty
        .ok_or_else(|| anyhow::anyhow!("no type information for {}", dynamic.name))?;
    let types = &ctx.info.types;
    // A `.paramN` typedef may describe `&x`'s type, *T, when an escaped
    // variable was its first user.
    let fits = types.fits_shape(ty, shape)
        || types
            .pointee(shape)
            .is_some_and(|p| types.fits_shape(ty, p));
    if !fits {
        anyhow::bail!(
            "dictionary type {} does not fit shape {}",
            dynamic.name,
            types.name(shape)
        );
    }
    Ok(ty)
}

/// A variable's value in a frame; None when it is not available there.
pub(crate) fn read_value(ctx: &Ctx, frame: &FrameRegs, v: &Variable) -> Option<Val> {
    let size = if v.escaped {
        8
    } else {
        ctx.info.types.size(v.ty)
    };
    let place = match &v.loc {
        VarLoc::None => return None,
        VarLoc::Addr(a) => Place::Mem(*a),
        VarLoc::Const(b) => Place::Bytes(b.to_vec()),
        VarLoc::Expr { unit, expr } => {
            location::evaluate(ctx.info, *unit, expr, frame, ctx.mem, size)
        }
    };
    let val = match place {
        Place::Mem(a) => Val {
            ty: v.ty,
            loc: Loc::Mem(a),
        },
        Place::Bytes(b) => Val {
            ty: v.ty,
            loc: Loc::Bytes(b.into()),
        },
        Place::Missing => return None,
    };
    if v.escaped {
        // `&x`: the location holds the address of x.
        let addr = ctx.uint(&val, 0, 8).ok()?;
        return (addr != 0).then_some(Val {
            ty: v.ty,
            loc: Loc::Mem(addr),
        });
    }
    Some(val)
}
