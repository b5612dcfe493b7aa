//! A small Go expression evaluator for watches, hovers and breakpoint
//! conditions: identifiers (arguments and locals, then package variables),
//! literals, `x.f`, `x[i]`, `*p`, `&x`, `len`, `cap`, unary and binary
//! operators, over values read from the process.

use anyhow::{anyhow, bail};

use super::parse::{parse, Expr, MAX_DEPTH};
use super::render::{go_float, go_quote, string, to_var};
use super::types::{Kind, TypeId};
use super::value::{Ctx, Loc, Val};
use super::{FrameRegs, Var};
use crate::debugger::api::Value;

/// A map lookup scans at most this many entries.
const MAX_MAP_SCAN: u64 = 1 << 20;
/// Strings compared or shown by evaluation are read up to this length.
const MAX_EVAL_STRING: u64 = 1 << 20;

/// An intermediate result.
#[derive(Debug, Clone)]
enum Ev {
    /// A value in the process (or assembled from registers).
    Val(Val),
    /// A variable with no value at this pc.
    Optimized(TypeId),
    /// Computed scalars; `ty` is None for untyped constants.
    Int(i128, Option<TypeId>),
    Float(f64, Option<TypeId>),
    Bool(bool, Option<TypeId>),
    Str(Vec<u8>, Option<TypeId>),
    Nil,
}

/// Where identifiers are looked up.
pub(crate) struct Scope<'a> {
    pub ctx: Ctx<'a>,
    pub frame: &'a FrameRegs,
    pub lookup_pc: u64,
    pub depth: usize,
    /// The variables in scope, looked up once per evaluation.
    pub vars: std::cell::OnceCell<Vec<super::Variable>>,
}

/// The package of a function: `main` for `main.f`, the path for
/// `example.com/a/b.(*T).m`.
pub(crate) fn package_of(function: &str) -> &str {
    let slash = function.rfind('/').map(|i| i + 1).unwrap_or(0);
    match function[slash..].find('.') {
        Some(dot) => &function[..slash + dot],
        None => function,
    }
}

impl Scope<'_> {
    pub fn evaluate(&self, text: &str) -> anyhow::Result<Var> {
        let expr = parse(text)?;
        let ev = self.eval(&expr, 0)?;
        self.to_var(ev, text)
    }

    fn to_var(&self, ev: Ev, text: &str) -> anyhow::Result<Var> {
        let ctx = &self.ctx;
        let typed = |ty: Option<TypeId>, default: &str| {
            ty.map(|t| ctx.type_name(t))
                .unwrap_or_else(|| default.into())
        };
        let scalar = |type_name: String, value: String| Var {
            value: Value {
                name: text.to_string(),
                type_name,
                value,
                evaluate_name: Some(text.to_string()),
                ..Value::default()
            },
            expand: None,
            place: None,
        };
        Ok(match ev {
            Ev::Val(v) => {
                let mut var = to_var(ctx, &v, text, text, 0);
                if matches!(ctx.ty(v.ty).map(|t| t.kind.clone()), Ok(Kind::String)) {
                    // Evaluations show longer strings than scopes (Delve's 4 KiB).
                    if let Ok(s) = string(ctx, &v, 4096) {
                        var.value.value = s;
                    }
                }
                var
            }
            Ev::Optimized(ty) => super::render::optimized_var(ctx.type_name(ty), text, text),
            Ev::Int(v, ty) => {
                let mut s = v.to_string();
                if ty.is_some_and(|t| matches!(ctx.ty(t).map(|t| t.kind.clone()), Ok(Kind::Uint))) {
                    s = format!("{s} = {v:#x}");
                }
                scalar(typed(ty, "int"), s)
            }
            Ev::Float(v, ty) => {
                let bits32 = ty.is_some_and(|t| ctx.info.types.size(t) == 4);
                scalar(typed(ty, "float64"), go_float(v, bits32))
            }
            Ev::Bool(v, ty) => scalar(typed(ty, "bool"), v.to_string()),
            Ev::Str(v, ty) => scalar(typed(ty, "string"), go_quote(&v)),
            Ev::Nil => scalar(String::new(), "nil".into()),
        })
    }

    /// A local's value; an error when its type (a type parameter's) cannot
    /// be known here.
    fn lookup_local(&self, name: &str) -> Option<anyhow::Result<Ev>> {
        let vars = self
            .vars
            .get_or_init(|| self.ctx.info.scope_variables(self.lookup_pc, self.depth));
        let v = vars.iter().find(|v| v.name == name)?;
        let v = match super::instantiate(&self.ctx, self.frame, v) {
            Ok(v) => v,
            Err(e) => return Some(Err(e.context(format!("type of {name}")))),
        };
        Some(Ok(match super::read_value(&self.ctx, self.frame, &v) {
            Some(val) => Ev::Val(val),
            None => Ev::Optimized(v.ty),
        }))
    }

    fn lookup_global(&self, full: &str) -> Option<Ev> {
        let g = self.ctx.info.globals.iter().find(|g| {
            g.name == full || g.name.strip_suffix(full).is_some_and(|p| p.ends_with('/'))
        })?;
        Some(Ev::Val(Val {
            ty: g.ty,
            loc: Loc::Mem(g.addr),
        }))
    }

    fn frame_package(&self) -> Option<String> {
        let f = self
            .ctx
            .info
            .subprogram_at(self.lookup_pc)
            .map(|s| s.name.clone())
            .or_else(|| {
                self.ctx
                    .info
                    .function_name(self.lookup_pc)
                    .map(str::to_string)
            })?;
        Some(package_of(&f).to_string())
    }

    fn ident(&self, name: &str) -> anyhow::Result<Ev> {
        if let Some(ev) = self.lookup_local(name) {
            return ev;
        }
        match name {
            "true" => return Ok(Ev::Bool(true, None)),
            "false" => return Ok(Ev::Bool(false, None)),
            "nil" => return Ok(Ev::Nil),
            _ => {}
        }
        if let Some(pkg) = self.frame_package() {
            if let Some(ev) = self.lookup_global(&format!("{pkg}.{name}")) {
                return Ok(ev);
            }
        }
        bail!("could not find symbol value for {name}")
    }

    fn eval(&self, e: &Expr, depth: usize) -> anyhow::Result<Ev> {
        if depth > MAX_DEPTH {
            bail!("expression too deeply nested");
        }
        let d = depth + 1;
        match e {
            Expr::Ident(n) => self.ident(n),
            Expr::Int(v) => Ok(Ev::Int(*v, None)),
            Expr::Float(v) => Ok(Ev::Float(*v, None)),
            Expr::Str(v) => Ok(Ev::Str(v.clone(), None)),
            Expr::Char(v) => Ok(Ev::Int(*v as i128, None)),
            Expr::Field(x, f) => {
                // `pkg.Name`: a package variable, unless `pkg` is a variable.
                if let Expr::Ident(pkg) = &**x {
                    if self.lookup_local(pkg).is_none() {
                        let in_frame_pkg = self
                            .frame_package()
                            .and_then(|p| self.lookup_global(&format!("{p}.{pkg}")));
                        if in_frame_pkg.is_none() {
                            return self
                                .lookup_global(&format!("{pkg}.{f}"))
                                .ok_or_else(|| anyhow!("could not find symbol value for {pkg}"));
                        }
                    }
                }
                let v = self.eval(x, d)?;
                self.field(v, f)
            }
            Expr::Data(x) => {
                let v = self.value(self.eval(x, d)?)?;
                match self.ctx.iface_data(&v)? {
                    Some((_, Some(data))) => Ok(Ev::Val(data)),
                    Some((dynamic, None)) => bail!("no type information for {}", dynamic.name),
                    None => Ok(Ev::Nil),
                }
            }
            Expr::Index(x, i) => {
                let x = self.eval(x, d)?;
                let i = self.eval(i, d)?;
                self.index(x, i)
            }
            Expr::Call(name, args) => {
                if args.len() != 1 || (name != "len" && name != "cap") {
                    bail!("function calls are not supported");
                }
                let v = self.eval(&args[0], d)?;
                self.len_cap(name == "cap", v)
            }
            Expr::Unary(op, x) => {
                let x = self.eval(x, d)?;
                self.unary(op, x)
            }
            Expr::Binary(op, l, r) => {
                let l = self.eval(l, d)?;
                // Short-circuit like Go.
                if *op == "&&" || *op == "||" {
                    let lb = self.as_bool(l)?;
                    if (*op == "&&" && !lb) || (*op == "||" && lb) {
                        return Ok(Ev::Bool(lb, None));
                    }
                    let rb = self.as_bool(self.eval(r, d)?)?;
                    return Ok(Ev::Bool(rb, None));
                }
                let r = self.eval(r, d)?;
                self.binary(op, l, r)
            }
        }
    }

    fn value(&self, ev: Ev) -> anyhow::Result<Val> {
        match ev {
            Ev::Val(v) => Ok(v),
            Ev::Optimized(_) => bail!("value is optimized away"),
            _ => bail!("not a variable"),
        }
    }

    fn int_type(&self) -> Option<TypeId> {
        self.ctx.info.types.by_name("int")
    }

    /// Loads numbers, bools and strings out of memory.
    fn scalar(&self, ev: Ev) -> anyhow::Result<Ev> {
        let Ev::Val(v) = ev else {
            if let Ev::Optimized(_) = ev {
                bail!("value is optimized away");
            }
            return Ok(ev);
        };
        let ctx = &self.ctx;
        let t = ctx.ty(v.ty)?;
        let size = t.size.clamp(1, 8);
        Ok(match t.kind {
            Kind::Int => Ev::Int(ctx.int(&v, 0, size)? as i128, Some(v.ty)),
            Kind::Uint => Ev::Int(ctx.uint(&v, 0, size)? as i128, Some(v.ty)),
            Kind::Bool => Ev::Bool(ctx.uint(&v, 0, 1)? != 0, Some(v.ty)),
            Kind::Float if t.size == 4 => Ev::Float(
                f32::from_bits(ctx.uint(&v, 0, 4)? as u32) as f64,
                Some(v.ty),
            ),
            Kind::Float => Ev::Float(f64::from_bits(ctx.uint(&v, 0, 8)?), Some(v.ty)),
            Kind::String => {
                let (bytes, len) = ctx.string(&v, MAX_EVAL_STRING)?;
                if (bytes.len() as u64) < len {
                    bail!("string too long to compare");
                }
                Ev::Str(bytes, Some(v.ty))
            }
            _ => Ev::Val(v),
        })
    }

    fn as_bool(&self, ev: Ev) -> anyhow::Result<bool> {
        match self.scalar(ev)? {
            Ev::Bool(b, _) => Ok(b),
            other => bail!("not a boolean: {}", self.kind_name(&other)),
        }
    }

    fn kind_name(&self, ev: &Ev) -> String {
        match ev {
            Ev::Val(v) => self.ctx.type_name(v.ty),
            Ev::Optimized(t) => self.ctx.type_name(*t),
            Ev::Int(..) => "int".into(),
            Ev::Float(..) => "float".into(),
            Ev::Bool(..) => "bool".into(),
            Ev::Str(..) => "string".into(),
            Ev::Nil => "nil".into(),
        }
    }

    /// Follows pointers (a few levels) to what they point to.
    fn deref_all(&self, mut v: Val) -> anyhow::Result<Val> {
        for _ in 0..8 {
            match self.ctx.ty(v.ty)?.kind {
                Kind::Ptr(Some(_)) => {
                    v = self
                        .ctx
                        .deref(&v)?
                        .ok_or_else(|| anyhow!("nil pointer dereference"))?
                }
                _ => return Ok(v),
            }
        }
        Ok(v)
    }

    fn field(&self, x: Ev, name: &str) -> anyhow::Result<Ev> {
        let v = self.deref_all(self.value(x)?)?;
        let ctx = &self.ctx;
        match ctx.ty(v.ty)?.kind.clone() {
            Kind::Struct(_) => {
                let path = self
                    .find_field(v.ty, name)?
                    .ok_or_else(|| anyhow!("{} has no member {name}", ctx.type_name(v.ty)))?;
                let mut cur = v;
                for step in path {
                    cur = match step {
                        Step::Field(off, ty) => ctx.sub(&cur, off, ty)?,
                        Step::Deref => ctx.deref(&cur)?.ok_or_else(|| {
                            anyhow!("nil pointer dereference (embedded field of {name})")
                        })?,
                    };
                }
                Ok(Ev::Val(cur))
            }
            Kind::Chan { hdr, .. } => {
                let h = ctx.header(&v, hdr)?.ok_or_else(|| anyhow!("nil channel"))?;
                Ok(Ev::Val(ctx.field(&h, name)?))
            }
            _ => bail!("{} has no member {name}", ctx.type_name(v.ty)),
        }
    }

    /// The way to field `name` of struct `ty`, by Go's selector rule: the
    /// shallowest depth of embedding that has it (embedded pointers
    /// followed), and an error if that depth has it more than once.
    fn find_field(&self, ty: TypeId, name: &str) -> anyhow::Result<Option<Vec<Step>>> {
        let types = &self.ctx.info.types;
        let mut level: Vec<(TypeId, Vec<Step>)> = vec![(ty, Vec::new())];
        for _depth in 0..8 {
            let mut found: Vec<Vec<Step>> = Vec::new();
            let mut next = Vec::new();
            for (t, path) in &level {
                let Some(rt) = types.resolve(*t) else {
                    continue;
                };
                let Kind::Struct(fields) = &rt.kind else {
                    continue;
                };
                for f in fields {
                    let mut here = path.clone();
                    here.push(Step::Field(f.offset, f.ty));
                    if f.name == name {
                        found.push(here.clone());
                    }
                    if !f.embedded {
                        continue;
                    }
                    // An embedded *T promotes T's fields through the pointer.
                    let inner = types.resolve_id(f.ty);
                    match types.resolve(inner).map(|t| t.kind.clone()) {
                        Some(Kind::Ptr(Some(pointee))) => {
                            here.push(Step::Deref);
                            next.push((types.resolve_id(pointee), here));
                        }
                        Some(Kind::Struct(_)) => next.push((inner, here)),
                        _ => {}
                    }
                }
            }
            match found.len() {
                0 if next.is_empty() => return Ok(None),
                0 => level = next,
                1 => return Ok(found.pop()),
                _ => bail!(
                    "ambiguous selector {name}: {} fields at the same depth",
                    found.len()
                ),
            }
        }
        Ok(None)
    }

    fn index_value(&self, ev: Ev) -> anyhow::Result<u64> {
        match self.scalar(ev)? {
            Ev::Int(i, _) if (0..1 << 48).contains(&i) => Ok(i as u64),
            Ev::Int(i, _) => bail!("index {i} out of bounds"),
            other => bail!("non-integer index ({})", self.kind_name(&other)),
        }
    }

    fn index(&self, x: Ev, i: Ev) -> anyhow::Result<Ev> {
        let ctx = &self.ctx;
        if let Ev::Str(s, _) = &x {
            let idx = self.index_value(i)?;
            let b = s
                .get(idx as usize)
                .ok_or_else(|| anyhow!("index {idx} out of bounds [0:{}]", s.len()))?;
            return Ok(Ev::Int(*b as i128, ctx.info.types.by_name("uint8")));
        }
        let mut v = self.value(x)?;
        if let Kind::Ptr(Some(t)) = ctx.ty(v.ty)?.kind {
            if matches!(ctx.ty(t)?.kind, Kind::Array(..)) {
                v = ctx
                    .deref(&v)?
                    .ok_or_else(|| anyhow!("nil pointer dereference"))?;
            }
        }
        match ctx.ty(v.ty)?.kind.clone() {
            Kind::Slice(elem) => {
                let (base, len, _) = ctx.slice(&v)?;
                let idx = self.index_value(i)?;
                if idx >= len {
                    bail!("index out of bounds: {idx} >= {len}");
                }
                let base = Val {
                    ty: elem,
                    loc: Loc::Mem(base),
                };
                Ok(Ev::Val(ctx.element(&base, elem, idx)?))
            }
            Kind::Array(elem, n) => {
                let idx = self.index_value(i)?;
                if idx >= n {
                    bail!("index out of bounds: {idx} >= {n}");
                }
                Ok(Ev::Val(ctx.element(&v, elem, idx)?))
            }
            Kind::String => {
                let (_, len) = ctx.string(&v, 0)?;
                let idx = self.index_value(i)?;
                if idx >= len {
                    bail!("index out of bounds: {idx} >= {len}");
                }
                let ptr = ctx.uint(&v, 0, 8)?;
                let b = ctx.read(ptr.wrapping_add(idx), 1)?[0];
                Ok(Ev::Int(b as i128, ctx.info.types.by_name("uint8")))
            }
            Kind::Map { key, elem, hdr } => {
                let want = self.scalar(i)?;
                let Some(h) = ctx.header(&v, hdr)? else {
                    bail!("key not found");
                };
                let m = super::maps::entries(ctx, &h, key, elem, 0, MAX_MAP_SCAN)?;
                for (k, val) in m.entries {
                    let k = self.scalar(Ev::Val(k))?;
                    if let Ok(Ev::Bool(true, _)) = self.compare("==", k, want.clone()) {
                        return Ok(Ev::Val(val));
                    }
                }
                bail!("key not found")
            }
            _ => bail!(
                "expression of type {} cannot be indexed",
                ctx.type_name(v.ty)
            ),
        }
    }

    fn len_cap(&self, cap: bool, x: Ev) -> anyhow::Result<Ev> {
        let ctx = &self.ctx;
        let int = self.int_type();
        if let Ev::Str(s, _) = &x {
            if !cap {
                return Ok(Ev::Int(s.len() as i128, int));
            }
        }
        let mut v = self.value(x)?;
        if let Kind::Ptr(Some(t)) = ctx.ty(v.ty)?.kind {
            if matches!(ctx.ty(t)?.kind, Kind::Array(..)) {
                v = Val { ty: t, loc: v.loc };
            }
        }
        let n = match ctx.ty(v.ty)?.kind.clone() {
            Kind::String if !cap => ctx.string(&v, 0)?.1,
            Kind::Slice(_) => {
                let (_, len, c) = ctx.slice(&v)?;
                if cap {
                    c
                } else {
                    len
                }
            }
            Kind::Array(_, n) => n,
            Kind::Map { hdr, .. } if !cap => match ctx.header(&v, hdr)? {
                Some(h) => super::maps::len(ctx, &h)?,
                None => 0,
            },
            Kind::Chan { hdr, .. } => match ctx.header(&v, hdr)? {
                Some(h) => ctx.field_uint(&h, if cap { "dataqsiz" } else { "qcount" })?,
                None => 0,
            },
            _ => bail!(
                "invalid argument {} for {}",
                ctx.type_name(v.ty),
                if cap { "cap" } else { "len" }
            ),
        };
        Ok(Ev::Int(n as i128, int))
    }

    fn unary(&self, op: &str, x: Ev) -> anyhow::Result<Ev> {
        let ctx = &self.ctx;
        match op {
            "*" => {
                let v = self.value(x)?;
                match ctx.ty(v.ty)?.kind {
                    Kind::Ptr(Some(_)) => Ok(Ev::Val(
                        ctx.deref(&v)?
                            .ok_or_else(|| anyhow!("nil pointer dereference"))?,
                    )),
                    _ => bail!(
                        "expression of type {} cannot be dereferenced",
                        ctx.type_name(v.ty)
                    ),
                }
            }
            "&" => {
                let v = self.value(x)?;
                let Some(addr) = v.address() else {
                    bail!("cannot take the address of a value in registers");
                };
                Ok(Ev::Val(Val {
                    ty: ctx.info.types.pointer_to(v.ty),
                    loc: Loc::Bytes(addr.to_le_bytes().to_vec().into()),
                }))
            }
            _ => match (op, self.scalar(x)?) {
                ("-", Ev::Int(v, t)) => Ok(Ev::Int(self.wrap(v.wrapping_neg(), t), t)),
                ("-", Ev::Float(v, t)) => Ok(Ev::Float(-v, t)),
                ("+", v @ (Ev::Int(..) | Ev::Float(..))) => Ok(v),
                ("!", Ev::Bool(b, t)) => Ok(Ev::Bool(!b, t)),
                ("^", Ev::Int(v, t)) => Ok(Ev::Int(self.wrap(!v, t), t)),
                (op, other) => bail!("operator {op} not defined on {}", self.kind_name(&other)),
            },
        }
    }

    /// Truncates a result to its type's width, as Go arithmetic does.
    fn wrap(&self, v: i128, ty: Option<TypeId>) -> i128 {
        let Some(t) = ty.and_then(|t| self.ctx.ty(t).ok()) else {
            return v;
        };
        let bits = (t.size.clamp(1, 8) * 8) as u32;
        let mask: i128 = if bits >= 64 {
            u64::MAX as i128
        } else {
            (1i128 << bits) - 1
        };
        let u = v & mask;
        match t.kind {
            Kind::Int if u >> (bits - 1) & 1 == 1 => u - (1i128 << bits),
            _ => u,
        }
    }

    fn is_nil(&self, v: &Val) -> anyhow::Result<bool> {
        let ctx = &self.ctx;
        Ok(match ctx.ty(v.ty)?.kind {
            Kind::Ptr(_)
            | Kind::Map { .. }
            | Kind::Chan { .. }
            | Kind::Func
            | Kind::Iface { .. }
            | Kind::Slice(_) => ctx.uint(v, 0, 8)? == 0,
            _ => bail!("{} cannot be compared to nil", ctx.type_name(v.ty)),
        })
    }

    fn compare(&self, op: &str, l: Ev, r: Ev) -> anyhow::Result<Ev> {
        use std::cmp::Ordering;
        let ord: Option<Ordering> = match (&l, &r) {
            (Ev::Nil, Ev::Nil) => Some(Ordering::Equal),
            (Ev::Val(v), Ev::Nil) | (Ev::Nil, Ev::Val(v)) => {
                if self.is_nil(v)? {
                    Some(Ordering::Equal)
                } else {
                    Some(Ordering::Less)
                }
            }
            (Ev::Int(a, _), Ev::Int(b, _)) => Some(a.cmp(b)),
            (Ev::Float(a, _), Ev::Float(b, _)) => a.partial_cmp(b),
            (Ev::Int(a, _), Ev::Float(b, _)) => (*a as f64).partial_cmp(b),
            (Ev::Float(a, _), Ev::Int(b, _)) => a.partial_cmp(&(*b as f64)),
            (Ev::Str(a, _), Ev::Str(b, _)) => Some(a.cmp(b)),
            (Ev::Bool(a, _), Ev::Bool(b, _)) if op == "==" || op == "!=" => Some(a.cmp(b)),
            (Ev::Val(a), Ev::Val(b)) if op == "==" || op == "!=" => {
                // Pointers, maps, channels compare by address.
                let pointerish = |v: &Val| {
                    matches!(
                        self.ctx.ty(v.ty).map(|t| t.kind.clone()),
                        Ok(Kind::Ptr(_) | Kind::Map { .. } | Kind::Chan { .. })
                    )
                };
                if !pointerish(a) || !pointerish(b) {
                    bail!(
                        "cannot compare {} and {}",
                        self.kind_name(&l),
                        self.kind_name(&r)
                    );
                }
                Some(self.ctx.uint(a, 0, 8)?.cmp(&self.ctx.uint(b, 0, 8)?))
            }
            _ => bail!(
                "mismatched types {} and {}",
                self.kind_name(&l),
                self.kind_name(&r)
            ),
        };
        let Some(ord) = ord else {
            return Ok(Ev::Bool(op == "!=", None));
        };
        Ok(Ev::Bool(
            match op {
                "==" => ord == Ordering::Equal,
                "!=" => ord != Ordering::Equal,
                "<" => ord == Ordering::Less,
                "<=" => ord != Ordering::Greater,
                ">" => ord == Ordering::Greater,
                ">=" => ord != Ordering::Less,
                _ => bail!("unknown comparison {op}"),
            },
            None,
        ))
    }

    fn binary(&self, op: &str, l: Ev, r: Ev) -> anyhow::Result<Ev> {
        let l = self.scalar(l)?;
        let r = self.scalar(r)?;
        if matches!(op, "==" | "!=" | "<" | "<=" | ">" | ">=") {
            return self.compare(op, l, r);
        }
        match (l, r) {
            (Ev::Int(a, ta), Ev::Int(b, tb)) => {
                let t = ta.or(tb);
                let v = match op {
                    "+" => a.wrapping_add(b),
                    "-" => a.wrapping_sub(b),
                    "*" => a.wrapping_mul(b),
                    "/" | "%" if b == 0 => bail!("integer divide by zero"),
                    "/" => a.wrapping_div(b),
                    "%" => a.wrapping_rem(b),
                    "&" => a & b,
                    "|" => a | b,
                    "^" => a ^ b,
                    "&^" => a & !b,
                    "<<" if (0..128).contains(&b) => a.wrapping_shl(b as u32),
                    ">>" if (0..128).contains(&b) => a.wrapping_shr(b as u32),
                    "<<" | ">>" => bail!("invalid shift count {b}"),
                    _ => bail!("operator {op} not defined on int"),
                };
                Ok(Ev::Int(self.wrap(v, t), t))
            }
            (Ev::Float(a, ta), Ev::Float(b, tb)) => self.float_op(op, a, b, ta.or(tb)),
            (Ev::Float(a, t), Ev::Int(b, None)) => self.float_op(op, a, b as f64, t),
            (Ev::Int(a, None), Ev::Float(b, t)) => self.float_op(op, a as f64, b, t),
            (Ev::Str(mut a, ta), Ev::Str(b, tb)) if op == "+" => {
                a.extend_from_slice(&b);
                Ok(Ev::Str(a, ta.or(tb)))
            }
            (l, r) => bail!(
                "operator {op} not defined on {} and {}",
                self.kind_name(&l),
                self.kind_name(&r)
            ),
        }
    }

    fn float_op(&self, op: &str, a: f64, b: f64, t: Option<TypeId>) -> anyhow::Result<Ev> {
        Ok(Ev::Float(
            match op {
                "+" => a + b,
                "-" => a - b,
                "*" => a * b,
                "/" => a / b,
                _ => bail!("operator {op} not defined on float"),
            },
            t,
        ))
    }
}

/// One step from a struct to a promoted field.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Into the field at this offset, of this type.
    Field(u64, TypeId),
    /// Through the embedded pointer just stepped into.
    Deref,
}
