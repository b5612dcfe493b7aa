//! A small Go expression evaluator for watches, hovers and breakpoint
//! conditions: identifiers (arguments and locals, then package variables
//! and integer constants), literals, `x.f` (promoted fields, a closure's
//! captured variables), `x[i]`, slicing `x[lo:hi:max]`, type assertions
//! `x.(T)`, conversions `T(x)`, `*p`, `&x`, the builtins `len`, `cap`,
//! `real`, `imag`, `complex`, `min`, `max`, unary and binary operators
//! (complex numbers included), over values read from the process. Nothing
//! runs in the program: function calls are refused.

use anyhow::{anyhow, bail};

use super::parse::{parse, Expr, TypeExpr, MAX_DEPTH};
use super::render::{go_float, go_quote, runes, string, to_var_shown};
use super::types::{Kind, TypeId};
use super::value::{Ctx, Loc, Val};
use super::{FrameRegs, Var};
use crate::debugger::api::{Shown, Value};

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
    Complex(f64, f64, Option<TypeId>),
    Bool(bool, Option<TypeId>),
    Str(Vec<u8>, Option<TypeId>),
    /// A function named in the expression (`strings.Repeat`): shown by
    /// name, as Delve does; it cannot be called.
    Func(String),
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
    /// How much of the result is shown.
    pub shown: Shown,
}

/// Builtins the evaluator has (Delve's set).
const BUILTINS: &[&str] = &["len", "cap", "real", "imag", "complex", "min", "max"];

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
                let mut var = to_var_shown(ctx, &v, text, text, 0, self.shown.full);
                if matches!(ctx.ty(v.ty).map(|t| t.kind.clone()), Ok(Kind::String)) {
                    if let Ok(s) = string(ctx, &v, self.shown.max_string) {
                        var.value.value = s;
                    }
                }
                var
            }
            Ev::Complex(re, im, ty) => {
                // As a value of its type, so that it lists its parts as Delve does.
                let types = &ctx.info.types;
                let ty = match ty {
                    Some(t) => t,
                    None => types
                        .basic("complex128")
                        .ok_or_else(|| anyhow!("no complex128 type"))?,
                };
                let bytes: Vec<u8> = if types.size(ty) == 8 {
                    [
                        (re as f32).to_bits().to_le_bytes(),
                        (im as f32).to_bits().to_le_bytes(),
                    ]
                    .concat()
                } else {
                    [re.to_bits().to_le_bytes(), im.to_bits().to_le_bytes()].concat()
                };
                let v = Val {
                    ty,
                    loc: Loc::Bytes(bytes.into()),
                };
                let mut var = to_var_shown(ctx, &v, text, text, 0, self.shown.full);
                var.value.address = None;
                var.place = None;
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
            Ev::Func(name) => scalar(
                ctx.info
                    .func_signature(&name)
                    .unwrap_or_else(|| "func()".into()),
                name,
            ),
            // Delve types an untyped nil "nil".
            Ev::Nil => scalar("nil".into(), "nil".into()),
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

    /// A package variable, else an integer constant, by `pkg.Name` (a
    /// package may be named by the last element of its path).
    fn lookup_global(&self, full: &str) -> Option<Ev> {
        let named = |n: &str| names(n, full);
        let info = self.ctx.info;
        if let Some(g) = info.globals.iter().find(|g| named(&g.name)) {
            return Some(Ev::Val(Val {
                ty: g.ty,
                loc: Loc::Mem(g.addr),
            }));
        }
        let (value, ty) = match info.consts_by_name.get(full) {
            Some(c) => *c,
            None => {
                let mut found: Vec<_> = info
                    .consts_by_name
                    .iter()
                    .filter(|(n, _)| named(n))
                    .collect();
                found.sort();
                *found.first()?.1
            }
        };
        let unsigned = matches!(self.ctx.ty(ty).map(|t| t.kind.clone()), Ok(Kind::Uint));
        let v = if unsigned {
            value as u64 as i128
        } else {
            value as i128
        };
        Some(Ev::Int(v, Some(ty)))
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
        if let Some(pkg) = self.frame_package() {
            let full = format!("{pkg}.{name}");
            if let Some(ev) = self.lookup_global(&full) {
                return Ok(ev);
            }
            if let Some(f) = self.function(&full) {
                return Ok(Ev::Func(f));
            }
        }
        match name {
            "true" => return Ok(Ev::Bool(true, None)),
            "false" => return Ok(Ev::Bool(false, None)),
            "nil" => return Ok(Ev::Nil),
            _ => {}
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
                            let full = format!("{pkg}.{f}");
                            return self
                                .lookup_global(&full)
                                .or_else(|| self.function(&full).map(Ev::Func))
                                .ok_or_else(|| anyhow!("could not find symbol value for {pkg}"));
                        }
                    }
                }
                let v = self.eval(x, d)?;
                self.field(v, f, x)
            }
            Expr::Data(x) => {
                let v = self.value(self.eval(x, d)?)?;
                match self.ctx.iface_data(&v)? {
                    Some((_, Some(data))) => Ok(Ev::Val(data)),
                    Some((dynamic, None)) => bail!("no type information for {}", dynamic.name),
                    None => Ok(Ev::Nil),
                }
            }
            Expr::Assert(x, t) => {
                let v = self.eval(x, d)?;
                self.assert(v, x, t)
            }
            Expr::Index(x, i) => {
                let xv = self.eval(x, d)?;
                let iv = self.eval(i, d)?;
                self.index(xv, iv, i)
            }
            Expr::Slice { x, lo, hi, max } => {
                let xv = self.eval(x, d)?;
                let bound = |b: &Option<Box<Expr>>| -> anyhow::Result<Option<u64>> {
                    b.as_ref()
                        .map(|b| self.eval(b, d).and_then(|v| self.index_value(v)))
                        .transpose()
                };
                let (lo, hi, max) = (bound(lo)?, bound(hi)?, bound(max)?);
                self.slice(xv, x, lo.unwrap_or(0), hi, max)
            }
            Expr::Call(callee, args) => self.call(callee, args, d),
            Expr::Type(t) => bail!("{t} is a type, not an expression"),
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
            Kind::Complex if t.size == 8 => Ev::Complex(
                f32::from_bits(ctx.uint(&v, 0, 4)? as u32) as f64,
                f32::from_bits(ctx.uint(&v, 4, 4)? as u32) as f64,
                Some(v.ty),
            ),
            Kind::Complex => Ev::Complex(
                f64::from_bits(ctx.uint(&v, 0, 8)?),
                f64::from_bits(ctx.uint(&v, 8, 8)?),
                Some(v.ty),
            ),
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
            Ev::Int(_, Some(t))
            | Ev::Float(_, Some(t))
            | Ev::Complex(_, _, Some(t))
            | Ev::Bool(_, Some(t))
            | Ev::Str(_, Some(t)) => self.ctx.type_name(*t),
            Ev::Val(v) => self.ctx.type_name(v.ty),
            Ev::Optimized(t) => self.ctx.type_name(*t),
            Ev::Int(..) => "int".into(),
            Ev::Float(..) => "float".into(),
            Ev::Complex(..) => "complex".into(),
            Ev::Bool(..) => "bool".into(),
            Ev::Str(..) => "string".into(),
            Ev::Func(name) => self
                .ctx
                .info
                .func_signature(name)
                .unwrap_or_else(|| "func".into()),
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

    fn field(&self, x: Ev, name: &str, base: &Expr) -> anyhow::Result<Ev> {
        let v = self.deref_all(self.value(x)?)?;
        let ctx = &self.ctx;
        match ctx.ty(v.ty)?.kind.clone() {
            Kind::Struct(_) => {
                let path = self
                    .find_field(v.ty, name, base)?
                    .ok_or_else(|| anyhow!("{} has no member {name}", ctx.type_name(v.ty)))?;
                let mut cur = v;
                for step in path {
                    cur = match step {
                        Step::Field(_, off, ty) => ctx.sub(&cur, off, ty)?,
                        Step::Deref => ctx.deref(&cur)?.ok_or_else(|| {
                            anyhow!("nil pointer dereference (embedded field of {name})")
                        })?,
                    };
                }
                Ok(Ev::Val(cur))
            }
            Kind::Chan { elem, hdr } => {
                let h = ctx.header(&v, hdr)?.ok_or_else(|| anyhow!("nil channel"))?;
                Ok(Ev::Val(ctx.chan_field(&h, elem, name)?))
            }
            // A closure's captured variable (Delve's `fn.x`).
            Kind::Func => ctx
                .captured(&v)?
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, cv)| Ev::Val(cv))
                .ok_or_else(|| anyhow!("{} has no member {name}", ctx.type_name(v.ty))),
            _ => bail!("{} has no member {name}", ctx.type_name(v.ty)),
        }
    }

    /// The way to field `name` of struct `ty`, by Go's selector rule: the
    /// shallowest depth of embedding that has it (embedded pointers
    /// followed), and an error if that depth has it more than once.
    fn find_field(&self, ty: TypeId, name: &str, base: &Expr) -> anyhow::Result<Option<Vec<Step>>> {
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
                    here.push(Step::Field(f.name.clone(), f.offset, f.ty));
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
                _ => {
                    // Go refuses this (Delve picks one): name the candidates.
                    let paths: Vec<String> = found
                        .iter()
                        .map(|p| {
                            let names: Vec<&str> = p
                                .iter()
                                .filter_map(|s| match s {
                                    Step::Field(n, ..) => Some(n.as_str()),
                                    Step::Deref => None,
                                })
                                .collect();
                            format!("{base}.{}", names.join("."))
                        })
                        .collect();
                    bail!(
                        "ambiguous selector {base}.{name}: {name} is promoted from {} embedded \
                         fields at the same depth ({}); Go refuses it, name one of them",
                        paths.len(),
                        paths.join(", ")
                    )
                }
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

    /// The array a `*[N]T` points to (Go indexes and slices through it);
    /// any other value as it is.
    fn through_array_pointer(&self, v: Val) -> anyhow::Result<Val> {
        let ctx = &self.ctx;
        if let Kind::Ptr(Some(t)) = ctx.ty(v.ty)?.kind {
            if matches!(ctx.ty(t)?.kind, Kind::Array(..)) {
                return ctx
                    .deref(&v)?
                    .ok_or_else(|| anyhow!("nil pointer dereference"));
            }
        }
        Ok(v)
    }

    /// `byte`, as Delve types a string's elements.
    fn byte_type(&self) -> Option<TypeId> {
        let types = &self.ctx.info.types;
        types.basic("uint8").map(|u8| types.alias("byte", u8))
    }

    fn index(&self, x: Ev, i: Ev, index: &Expr) -> anyhow::Result<Ev> {
        let ctx = &self.ctx;
        if let Ev::Str(s, _) = &x {
            let idx = self.index_value(i)?;
            let b = s
                .get(idx as usize)
                .ok_or_else(|| anyhow!("index {idx} out of bounds [0:{}]", s.len()))?;
            return Ok(Ev::Int(*b as i128, self.byte_type()));
        }
        let v = self.through_array_pointer(self.value(x)?)?;
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
            // C pointers index like C arrays (as in Delve): `p[i]` is the
            // i-th element from where p points, with no bounds to check.
            Kind::Ptr(Some(elem)) if ctx.info.types.is_c(ctx.info.types.resolve_id(v.ty)) => {
                let idx = self.index_value(i)?;
                let base = ctx.uint(&v, 0, 8)?;
                if base == 0 {
                    bail!("nil pointer dereference");
                }
                let at = Val {
                    ty: elem,
                    loc: Loc::Mem(base),
                };
                Ok(Ev::Val(ctx.element(&at, elem, idx)?))
            }
            Kind::String => {
                let (_, len) = ctx.string(&v, 0)?;
                let idx = self.index_value(i)?;
                if idx >= len {
                    bail!("index out of bounds: {idx} >= {len}");
                }
                let ptr = ctx.uint(&v, 0, 8)?;
                let b = ctx.read(ptr.wrapping_add(idx), 1)?[0];
                Ok(Ev::Int(b as i128, self.byte_type()))
            }
            Kind::Map { key, elem, hdr } => {
                let want = self.scalar(i)?;
                self.check_key(&want, key, index)?;
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

    /// Go's rule for a map index: the key must be assignable to the map's
    /// key type (an untyped constant must be representable in it). A key of
    /// the wrong type is an error naming both types, never "key not found".
    fn check_key(&self, want: &Ev, key: TypeId, index: &Expr) -> anyhow::Result<()> {
        let ctx = &self.ctx;
        let kt = ctx.ty(key)?;
        let kname = ctx.type_name(key);
        let ok = match (want, &kt.kind) {
            // Any value fits an interface key (compared by value below).
            (_, Kind::Iface { .. }) => true,
            (Ev::Int(_, None), Kind::Int | Kind::Uint | Kind::Float | Kind::Complex) => true,
            (Ev::Float(f, None), Kind::Int | Kind::Uint) => f.fract() == 0.0,
            (Ev::Float(_, None), Kind::Float | Kind::Complex) => true,
            (Ev::Complex(_, _, None), Kind::Complex) => true,
            (Ev::Str(_, None), Kind::String) => true,
            (Ev::Bool(_, None), Kind::Bool) => true,
            (Ev::Nil, Kind::Ptr(_) | Kind::Chan { .. } | Kind::Map { .. } | Kind::Func) => true,
            (
                Ev::Int(_, Some(t))
                | Ev::Float(_, Some(t))
                | Ev::Complex(_, _, Some(t))
                | Ev::Str(_, Some(t))
                | Ev::Bool(_, Some(t)),
                _,
            ) => {
                ctx.type_name(*t) == kname
                    || ctx.info.types.resolve_id(*t) == ctx.info.types.resolve_id(key)
            }
            (Ev::Val(v), _) => ctx.type_name(v.ty) == kname,
            _ => false,
        };
        if ok {
            return Ok(());
        }
        let what = match want {
            Ev::Int(_, None) => "untyped int constant".to_string(),
            Ev::Float(_, None) => "untyped float constant".to_string(),
            Ev::Complex(_, _, None) => "untyped complex constant".to_string(),
            Ev::Str(_, None) => "untyped string constant".to_string(),
            Ev::Bool(_, None) => "untyped bool constant".to_string(),
            Ev::Nil => "untyped nil".to_string(),
            Ev::Val(_) | Ev::Optimized(_) => format!("variable of type {}", self.kind_name(want)),
            _ => format!("value of type {}", self.kind_name(want)),
        };
        bail!("cannot use {index} ({what}) as {kname} value in map index")
    }

    /// The type an expression names, if it names one: `T`, `pkg.T` (a
    /// package named by its path's last element too), `*T`, `[]T`,
    /// `[N]T`, `map[K]V`, `chan T`, `func(…)…`, `interface {}`; `byte`,
    /// `rune` and `any` as Go defines them. An unqualified name is looked
    /// up in Go's universe, then in the frame's package (Delve needs
    /// `main.T`; Go writes `T`). Pointer, slice and array types the program
    /// never used are made up from their element type, as Delve does.
    fn find_type(&self, t: &TypeExpr) -> Option<TypeId> {
        let types = &self.ctx.info.types;
        match t {
            TypeExpr::Name(n) => {
                let n = match n.as_str() {
                    "byte" => "uint8",
                    "rune" => "int32",
                    "any" | "interface{}" => "interface {}",
                    "struct{}" => "struct {}",
                    other => other,
                };
                if let Some(id) = types.by_name(n).or_else(|| types.basic(n)) {
                    return Some(id);
                }
                if n.contains(['[', '(', ' ', '*']) {
                    return None;
                }
                if !n.contains('.') {
                    let pkg = self.frame_package()?;
                    return types.by_name(&format!("{pkg}.{n}"));
                }
                if !n.contains('/') {
                    return types.by_suffix(&format!("/{n}"));
                }
                None
            }
            TypeExpr::Ptr(e) => Some(types.pointer_to(self.find_type(e)?)),
            TypeExpr::Slice(e) => Some(types.slice_of(self.find_type(e)?)),
            TypeExpr::Array(n, e) => {
                let e = self.find_type(e)?;
                types
                    .by_name(&format!("[{n}]{}", types.name(e)))
                    .or_else(|| Some(types.array_of(e, *n)))
            }
            TypeExpr::Map(k, v) => {
                let (k, v) = (self.find_type(k)?, self.find_type(v)?);
                types.by_name(&format!("map[{}]{}", types.name(k), types.name(v)))
            }
            TypeExpr::Chan(e) => {
                let e = self.find_type(e)?;
                types.by_name(&format!("chan {}", types.name(e)))
            }
        }
    }

    fn type_of(&self, t: &TypeExpr) -> anyhow::Result<TypeId> {
        self.find_type(t)
            .ok_or_else(|| anyhow!("could not find type {t} in the program's debug information"))
    }

    /// `x.(T)`: the interface's dynamic value when its dynamic type is T,
    /// else Go's panic message as Delve words it.
    fn assert(&self, x: Ev, expr: &Expr, t: &TypeExpr) -> anyhow::Result<Ev> {
        let ctx = &self.ctx;
        let v = match x {
            Ev::Val(v) if matches!(ctx.ty(v.ty)?.kind, Kind::Iface { .. }) => v,
            Ev::Optimized(_) => bail!("value is optimized away"),
            _ => bail!("expression {:?} not an interface", expr.to_string()),
        };
        let target = self.type_of(t)?;
        let tname = ctx.type_name(target);
        let iname = ctx.type_name(v.ty);
        let Some((dynamic, data)) = ctx.iface_data(&v)? else {
            bail!("interface conversion: {iname} is nil, not {tname}");
        };
        if dynamic.name == tname {
            return data
                .map(Ev::Val)
                .ok_or_else(|| anyhow!("no type information for {}", dynamic.name));
        }
        if let Kind::Iface { hdr } = ctx.ty(target)?.kind {
            if let Some(m) = super::methods::missing_method(ctx, dynamic.rtype, target)? {
                bail!(
                    "interface conversion: {} is not {tname}: missing method {m}",
                    dynamic.name
                );
            }
            if ctx.info.types.compatible(v.ty, target) {
                return Ok(Ev::Val(Val {
                    ty: target,
                    loc: v.loc,
                }));
            }
            // The same dynamic value in the target's layout: an empty
            // interface holds the type, another one its itab for that
            // interface, when the program has one (else the dynamic value
            // itself stands for it).
            let word = ctx.uint(&v, 8, 8)?;
            let empty = hdr.is_some_and(|h| ctx.info.types.field(h, "tab").is_none());
            let first = if empty {
                Some(dynamic.rtype)
            } else {
                super::methods::find_itab(ctx, target, dynamic.rtype)
            };
            return match first {
                Some(w) => {
                    let mut b = w.to_le_bytes().to_vec();
                    b.extend_from_slice(&word.to_le_bytes());
                    Ok(Ev::Val(Val {
                        ty: target,
                        loc: Loc::Bytes(b.into()),
                    }))
                }
                None => data
                    .map(Ev::Val)
                    .ok_or_else(|| anyhow!("no type information for {}", dynamic.name)),
            };
        }
        bail!(
            "interface conversion: {iname} is {}, not {tname}",
            dynamic.name
        )
    }

    /// `x[lo:hi]`, `x[lo:hi:max]` of a slice, array (addressable), pointer
    /// to array or string, with Go's bounds: 0 <= lo <= hi <= max <= cap.
    fn slice(
        &self,
        x: Ev,
        expr: &Expr,
        lo: u64,
        hi: Option<u64>,
        max: Option<u64>,
    ) -> anyhow::Result<Ev> {
        let ctx = &self.ctx;
        let check = |len: u64, cap: u64, what: &str| -> anyhow::Result<(u64, u64)> {
            let hi = hi.unwrap_or(len);
            let max = max.unwrap_or(cap);
            if max > cap {
                bail!("slice bounds out of range [::{max}] with {what} {cap}");
            }
            if hi > max {
                match max == cap {
                    true => bail!("slice bounds out of range [:{hi}] with {what} {cap}"),
                    false => bail!("slice bounds out of range [:{hi}:{max}]"),
                }
            }
            if lo > hi {
                bail!("slice bounds out of range [{lo}:{hi}]");
            }
            Ok((hi, max))
        };
        if let Ev::Str(s, t) = &x {
            if max.is_some() {
                bail!("invalid operation: 3-index slice of string");
            }
            let len = s.len() as u64;
            let (hi, _) = check(len, len, "length")?;
            return Ok(Ev::Str(s[lo as usize..hi as usize].to_vec(), *t));
        }
        let v = self.through_array_pointer(self.value(x)?)?;
        match ctx.ty(v.ty)?.kind.clone() {
            Kind::String => {
                if max.is_some() {
                    bail!("invalid operation: 3-index slice of string");
                }
                let (_, len) = ctx.string(&v, 0)?;
                let (hi, _) = check(len, len, "length")?;
                let ptr = ctx.uint(&v, 0, 8)?;
                Ok(Ev::Val(Val {
                    ty: v.ty,
                    loc: words(&[ptr.wrapping_add(lo), hi - lo]),
                }))
            }
            Kind::Slice(elem) => {
                let (base, len, cap) = ctx.slice(&v)?;
                let (hi, max) = check(len, cap, "capacity")?;
                let size = ctx.info.types.size(elem);
                Ok(Ev::Val(Val {
                    ty: v.ty,
                    loc: words(&[base.wrapping_add(lo * size), hi - lo, max - lo]),
                }))
            }
            Kind::Array(elem, n) => {
                let Some(addr) = v.address() else {
                    bail!(
                        "cannot slice {expr}: the array is held in registers (it has no address)"
                    );
                };
                let (hi, max) = check(n, n, "length")?;
                let size = ctx.info.types.size(elem);
                Ok(Ev::Val(Val {
                    ty: ctx.info.types.slice_of(elem),
                    loc: words(&[addr.wrapping_add(lo * size), hi - lo, max - lo]),
                }))
            }
            _ => bail!(
                "cannot slice {:?} (type {})",
                expr.to_string(),
                ctx.type_name(v.ty)
            ),
        }
    }

    /// `f(args)`: a builtin, or a conversion when `f` names a type. The
    /// program's own functions cannot run in a replay.
    fn call(&self, callee: &Expr, args: &[Expr], d: usize) -> anyhow::Result<Ev> {
        // A local variable shadows a type or package of its name.
        let local = |e: &Expr| match e {
            Expr::Ident(n) => self.lookup_local(n).is_some(),
            Expr::Field(x, _) => matches!(&**x, Expr::Ident(n) if self.lookup_local(n).is_some()),
            _ => false,
        };
        if let Expr::Ident(name) = callee {
            if BUILTINS.contains(&name.as_str()) && !local(callee) {
                let vals = args
                    .iter()
                    .map(|a| self.eval(a, d))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                return self.builtin(name, vals, args);
            }
        }
        if !local(callee) {
            if let Some(to) = callee.as_type().and_then(|t| self.find_type(&t)) {
                if args.len() != 1 {
                    bail!(
                        "wrong number of arguments to the conversion to {}: {}",
                        self.ctx.type_name(to),
                        args.len()
                    );
                }
                let x = self.eval(&args[0], d)?;
                return self.convert(x, to, &args[0]);
            }
        }
        // Not a type: a function, a func value or a method (an unknown name
        // says so, as in any other expression).
        match callee {
            Expr::Field(x, _) if self.eval(callee, d).is_err() => self.eval(x, d)?,
            _ => self.eval(callee, d)?,
        };
        bail!(
            "cannot call {callee}: a replay cannot run the program's functions \
             (function calls are not possible)"
        )
    }

    /// The full name of a function of the program, by `pkg.Name` (a
    /// package may be named by the last element of its path).
    fn function(&self, full: &str) -> Option<String> {
        self.ctx
            .info
            .functions
            .iter()
            .find(|(_, _, name)| names(name, full))
            .map(|(_, _, name)| name.clone())
    }

    fn builtin(&self, name: &str, vals: Vec<Ev>, args: &[Expr]) -> anyhow::Result<Ev> {
        let types = &self.ctx.info.types;
        let want = |n: usize| -> anyhow::Result<()> {
            if vals.len() != n {
                bail!("wrong number of arguments to {name}: {}", vals.len());
            }
            Ok(())
        };
        match name {
            "len" | "cap" => {
                want(1)?;
                let x = vals.into_iter().next().unwrap_or(Ev::Nil);
                self.len_cap(name == "cap", x)
            }
            "real" | "imag" => {
                want(1)?;
                let x = self.scalar(vals.into_iter().next().unwrap_or(Ev::Nil))?;
                let part = |t: Option<TypeId>| match t.map(|t| types.size(t)) {
                    Some(8) => types.basic("float32"),
                    Some(_) => types.basic("float64"),
                    None => None,
                };
                match (name, x) {
                    ("real", Ev::Complex(re, _, t)) => Ok(Ev::Float(re, part(t))),
                    ("imag", Ev::Complex(_, im, t)) => Ok(Ev::Float(im, part(t))),
                    ("real", Ev::Int(v, None)) => Ok(Ev::Float(v as f64, None)),
                    ("real", Ev::Float(v, None)) => Ok(Ev::Float(v, None)),
                    ("imag", Ev::Int(_, None) | Ev::Float(_, None)) => Ok(Ev::Float(0.0, None)),
                    (_, other) => bail!(
                        "invalid argument {} (type {}) to {name}",
                        args[0],
                        self.kind_name(&other)
                    ),
                }
            }
            "complex" => {
                want(2)?;
                let mut it = vals.into_iter();
                let re = self.scalar(it.next().unwrap_or(Ev::Nil))?;
                let im = self.scalar(it.next().unwrap_or(Ev::Nil))?;
                let part = |i: usize, ev: &Ev| -> anyhow::Result<(f64, Option<TypeId>)> {
                    match ev {
                        Ev::Int(v, None) => Ok((*v as f64, None)),
                        Ev::Float(v, t) => Ok((*v, *t)),
                        other => bail!(
                            "invalid argument {} {} (type {}) to complex",
                            i + 1,
                            args[i],
                            self.kind_name(other)
                        ),
                    }
                };
                let ((a, ta), (b, tb)) = (part(0, &re)?, part(1, &im)?);
                let ty = match ta.or(tb).map(|t| types.size(t)) {
                    Some(4) => types.basic("complex64"),
                    Some(_) => types.basic("complex128"),
                    None => None,
                };
                Ok(Ev::Complex(a, b, ty))
            }
            "min" | "max" => {
                if vals.is_empty() {
                    bail!("not enough arguments to {name}");
                }
                let op = if name == "min" { "<" } else { ">" };
                let mut best: Option<Ev> = None;
                for v in vals {
                    let v = self.scalar(v)?;
                    if !matches!(v, Ev::Int(..) | Ev::Float(..) | Ev::Str(..)) {
                        bail!(
                            "invalid argument to {name}: {} is not ordered",
                            self.kind_name(&v)
                        );
                    }
                    best = Some(match best {
                        None => v,
                        Some(b) => match self.compare(op, v.clone(), b.clone())? {
                            Ev::Bool(true, _) => v,
                            _ => b,
                        },
                    });
                }
                best.ok_or_else(|| anyhow!("not enough arguments to {name}"))
            }
            _ => bail!("{name} is not a builtin"),
        }
    }

    /// `T(x)`: Go's conversions between numeric types, to and from strings
    /// (`string(b)`, `[]byte(s)`, `string(r)`), between types of the same
    /// underlying type (named types, pointers through unsafe.Pointer),
    /// and Delve's integer-to-pointer conversion (`(*T)(0xc000…)`).
    fn convert(&self, x: Ev, to: TypeId, arg: &Expr) -> anyhow::Result<Ev> {
        let ctx = &self.ctx;
        let types = &ctx.info.types;
        let tname = ctx.type_name(to);
        let tkind = ctx.ty(to)?.kind.clone();
        let tsize = types.size(to);
        let cannot = |x: &Ev| {
            anyhow!(
                "cannot convert {arg} ({}) to type {tname}",
                self.kind_name(x)
            )
        };
        if let Ev::Val(v) = &x {
            // Same underlying type: the same bytes, another type.
            if types.compatible(v.ty, to) {
                return Ok(Ev::Val(Val {
                    ty: to,
                    loc: v.loc.clone(),
                }));
            }
            let from = ctx.ty(v.ty)?.kind.clone();
            match (&from, &tkind) {
                // string ↔ []byte, over the same bytes.
                (Kind::String, Kind::Slice(elem)) if types.size(*elem) == 1 => {
                    let (ptr, len) = (ctx.uint(v, 0, 8)?, ctx.string(v, 0)?.1);
                    return Ok(Ev::Val(Val {
                        ty: to,
                        loc: words(&[ptr, len, len]),
                    }));
                }
                (Kind::Slice(elem), Kind::String) if types.size(*elem) == 1 => {
                    let (base, len, _) = ctx.slice(v)?;
                    return Ok(Ev::Val(Val {
                        ty: to,
                        loc: words(&[base, len]),
                    }));
                }
                (Kind::Array(elem, n), Kind::String) if types.size(*elem) == 1 => {
                    let b = ctx.bytes(v, 0, *n)?;
                    return Ok(Ev::Str(b, Some(to)));
                }
                (Kind::Slice(elem), Kind::String) if types.size(*elem) == 4 => {
                    let (base, len, _) = ctx.slice(v)?;
                    let n = len.min(MAX_EVAL_STRING / 4);
                    let raw = ctx.read(base, (n * 4) as usize)?;
                    return Ok(Ev::Str(runes(&raw).into_bytes(), Some(to)));
                }
                (Kind::String, Kind::Slice(elem)) if types.size(*elem) == 4 => {
                    bail!("cannot show []rune({arg}): the runes exist only once the program converts the string")
                }
                // A pointer's address as an integer.
                (Kind::Ptr(_), Kind::Int | Kind::Uint) if tsize == 8 => {
                    return Ok(Ev::Int(ctx.uint(v, 0, 8)? as i128, Some(to)));
                }
                // An address (uintptr) as a pointer.
                (Kind::Int | Kind::Uint, Kind::Ptr(_)) => {
                    let size = types.size(v.ty);
                    return Ok(Ev::Val(Val {
                        ty: to,
                        loc: words(&[ctx.uint(v, 0, size)?]),
                    }));
                }
                _ => {}
            }
        }
        let x = self.scalar(x)?;
        let round = |v: f64| if tsize == 4 { v as f32 as f64 } else { v };
        Ok(match (&tkind, &x) {
            (Kind::Int | Kind::Uint, Ev::Int(n, _)) => Ev::Int(self.wrap(*n, Some(to)), Some(to)),
            (Kind::Int | Kind::Uint, Ev::Float(f, _)) if f.is_finite() => {
                Ev::Int(self.wrap(f.trunc() as i128, Some(to)), Some(to))
            }
            (Kind::Float, Ev::Int(n, _)) => Ev::Float(round(*n as f64), Some(to)),
            (Kind::Float, Ev::Float(f, _)) => Ev::Float(round(*f), Some(to)),
            (Kind::Complex, Ev::Int(n, _)) => Ev::Complex(*n as f64, 0.0, Some(to)),
            (Kind::Complex, Ev::Float(f, _)) => Ev::Complex(*f, 0.0, Some(to)),
            (Kind::Complex, Ev::Complex(re, im, _)) => {
                let r = |v: f64| if tsize == 8 { v as f32 as f64 } else { v };
                Ev::Complex(r(*re), r(*im), Some(to))
            }
            (Kind::Bool, Ev::Bool(b, _)) => Ev::Bool(*b, Some(to)),
            (Kind::String, Ev::Str(s, _)) => Ev::Str(s.clone(), Some(to)),
            // string(rune): the rune's UTF-8, "\uFFFD" for an invalid one.
            (Kind::String, Ev::Int(n, _)) => {
                let c = u32::try_from(*n)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}');
                Ev::Str(c.to_string().into_bytes(), Some(to))
            }
            // Delve's `(*T)(0xc000…)`: a pointer from an address.
            (Kind::Ptr(_), Ev::Int(n, _)) if (0..=u64::MAX as i128).contains(n) => Ev::Val(Val {
                ty: to,
                loc: words(&[*n as u64]),
            }),
            (
                Kind::Ptr(_)
                | Kind::Slice(_)
                | Kind::Map { .. }
                | Kind::Chan { .. }
                | Kind::Func
                | Kind::Iface { .. },
                Ev::Nil,
            ) => Ev::Val(Val {
                ty: to,
                loc: Loc::Bytes(vec![0u8; tsize as usize].into()),
            }),
            _ => return Err(cannot(&x)),
        })
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
                ("-", Ev::Complex(re, im, t)) => Ok(Ev::Complex(-re, -im, t)),
                ("+", v @ (Ev::Int(..) | Ev::Float(..) | Ev::Complex(..))) => Ok(v),
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
            (Ev::Complex(..), _) | (_, Ev::Complex(..)) if op == "==" || op == "!=" => {
                match (self.as_complex(&l), self.as_complex(&r)) {
                    (Some(a), Some(b)) => Some(if a == b {
                        Ordering::Equal
                    } else {
                        Ordering::Less
                    }),
                    _ => bail!(
                        "mismatched types {} and {}",
                        self.kind_name(&l),
                        self.kind_name(&r)
                    ),
                }
            }
            (Ev::Val(a), Ev::Val(b)) if op == "==" || op == "!=" => {
                Some(if self.equal_vals(a, b, 0)? {
                    Ordering::Equal
                } else {
                    Ordering::Less
                })
            }
            // An interface against a constant or a computed value: its
            // dynamic value, if it has that type (`x == 3` for `x any`).
            (Ev::Val(v), other) | (other, Ev::Val(v))
                if (op == "==" || op == "!=") && self.is_iface(v) =>
            {
                let same = match self.ctx.iface_data(v)? {
                    Some((dynamic, Some(dv))) if dynamic.name == self.constant_type(other) => {
                        let dv = self.scalar(Ev::Val(dv))?;
                        matches!(self.compare("==", dv, other.clone())?, Ev::Bool(true, _))
                    }
                    _ => false,
                };
                Some(if same {
                    Ordering::Equal
                } else {
                    Ordering::Less
                })
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

    fn is_iface(&self, v: &Val) -> bool {
        matches!(
            self.ctx.ty(v.ty).map(|t| t.kind.clone()),
            Ok(Kind::Iface { .. })
        )
    }

    /// The type a computed value has in an interface: its own, or an
    /// untyped constant's default type.
    fn constant_type(&self, ev: &Ev) -> String {
        let (ty, default) = match ev {
            Ev::Int(_, t) => (t, "int"),
            Ev::Float(_, t) => (t, "float64"),
            Ev::Complex(_, _, t) => (t, "complex128"),
            Ev::Bool(_, t) => (t, "bool"),
            Ev::Str(_, t) => (t, "string"),
            _ => (&None, ""),
        };
        ty.map_or_else(|| default.to_string(), |t| self.ctx.type_name(t))
    }

    /// Go's `==` on two values in the process: pointers, maps and
    /// channels by address; interfaces by dynamic type and value; structs
    /// and arrays field by field; strings by content. Slices, maps and
    /// functions compare only with nil, as in Go.
    fn equal_vals(&self, a: &Val, b: &Val, depth: u32) -> anyhow::Result<bool> {
        if depth > 16 {
            bail!("values nested too deeply to compare");
        }
        let ctx = &self.ctx;
        let (ta, tb) = (ctx.ty(a.ty)?, ctx.ty(b.ty)?);
        let mismatch = || {
            anyhow!(
                "mismatched types {} and {}",
                ctx.type_name(a.ty),
                ctx.type_name(b.ty)
            )
        };
        match (&ta.kind, &tb.kind) {
            (Kind::Iface { .. }, Kind::Iface { .. }) => {
                match (ctx.iface_data(a)?, ctx.iface_data(b)?) {
                    (None, None) => Ok(true),
                    (None, _) | (_, None) => Ok(false),
                    (Some((da, va)), Some((db, vb))) => {
                        if da.rtype != db.rtype {
                            return Ok(false);
                        }
                        match (va, vb) {
                            (Some(x), Some(y)) => self.equal_vals(&x, &y, depth + 1),
                            _ => bail!(
                                "cannot compare values of type {}: its layout is unknown",
                                da.name
                            ),
                        }
                    }
                }
            }
            // A value against an interface: converted to it, as Go does.
            (Kind::Iface { .. }, _) | (_, Kind::Iface { .. }) => {
                let (i, v) = if self.is_iface(a) { (a, b) } else { (b, a) };
                match ctx.iface_data(i)? {
                    Some((dynamic, Some(dv))) if dynamic.name == ctx.type_name(v.ty) => {
                        self.equal_vals(&dv, v, depth + 1)
                    }
                    Some((dynamic, None)) if dynamic.name == ctx.type_name(v.ty) => {
                        bail!(
                            "cannot compare values of type {}: its layout is unknown",
                            dynamic.name
                        )
                    }
                    _ => Ok(false),
                }
            }
            (Kind::Ptr(_), Kind::Ptr(_))
            | (Kind::Map { .. }, Kind::Map { .. })
            | (Kind::Chan { .. }, Kind::Chan { .. }) => {
                Ok(ctx.uint(a, 0, 8)? == ctx.uint(b, 0, 8)?)
            }
            (Kind::Struct(fa), Kind::Struct(fb)) => {
                if ctx.type_name(a.ty) != ctx.type_name(b.ty) || fa.len() != fb.len() {
                    return Err(mismatch());
                }
                for (x, y) in fa.iter().zip(fb) {
                    let (xv, yv) = (ctx.sub(a, x.offset, x.ty)?, ctx.sub(b, y.offset, y.ty)?);
                    if !self.equal_vals(&xv, &yv, depth + 1)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            (Kind::Array(ea, n), Kind::Array(eb, m)) => {
                if n != m {
                    return Err(mismatch());
                }
                for i in 0..(*n).min(4096) {
                    let (x, y) = (ctx.element(a, *ea, i)?, ctx.element(b, *eb, i)?);
                    if !self.equal_vals(&x, &y, depth + 1)? {
                        return Ok(false);
                    }
                }
                if *n > 4096 {
                    bail!("arrays too long to compare");
                }
                Ok(true)
            }
            (Kind::Slice(_) | Kind::Map { .. } | Kind::Func, _) => {
                bail!("{} can only be compared to nil", ctx.type_name(a.ty))
            }
            _ => {
                let (x, y) = (
                    self.scalar(Ev::Val(a.clone()))?,
                    self.scalar(Ev::Val(b.clone()))?,
                );
                if matches!(x, Ev::Val(_)) || matches!(y, Ev::Val(_)) {
                    return Err(mismatch());
                }
                Ok(matches!(self.compare("==", x, y)?, Ev::Bool(true, _)))
            }
        }
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
            (l @ Ev::Complex(..), r) | (l, r @ Ev::Complex(..)) => {
                let t = match (&l, &r) {
                    (Ev::Complex(_, _, Some(t)), _) | (_, Ev::Complex(_, _, Some(t))) => Some(*t),
                    _ => None,
                };
                let (Some((a, b)), Some((c, d))) = (self.as_complex(&l), self.as_complex(&r))
                else {
                    bail!(
                        "operator {op} not defined on {} and {}",
                        self.kind_name(&l),
                        self.kind_name(&r)
                    );
                };
                let (re, im) = match op {
                    "+" => (a + c, b + d),
                    "-" => (a - c, b - d),
                    "*" => (a * c - b * d, a * d + b * c),
                    "/" => {
                        let n = c * c + d * d;
                        ((a * c + b * d) / n, (b * c - a * d) / n)
                    }
                    _ => bail!("operator {op} not defined on complex"),
                };
                let (re, im) = match t.map(|t| self.ctx.info.types.size(t)) {
                    Some(8) => (re as f32 as f64, im as f32 as f64),
                    _ => (re, im),
                };
                Ok(Ev::Complex(re, im, t))
            }
            (l, r) => bail!(
                "operator {op} not defined on {} and {}",
                self.kind_name(&l),
                self.kind_name(&r)
            ),
        }
    }

    /// A number as a complex one: complex values, and untyped constants
    /// (Go converts those to the complex operand's type).
    fn as_complex(&self, ev: &Ev) -> Option<(f64, f64)> {
        match ev {
            Ev::Complex(re, im, _) => Some((*re, *im)),
            Ev::Int(v, None) => Some((*v as f64, 0.0)),
            Ev::Float(v, None) => Some((*v, 0.0)),
            _ => None,
        }
    }

    fn float_op(&self, op: &str, a: f64, b: f64, t: Option<TypeId>) -> anyhow::Result<Ev> {
        let v = match op {
            "+" => a + b,
            "-" => a - b,
            "*" => a * b,
            "/" => a / b,
            _ => bail!("operator {op} not defined on float"),
        };
        Ok(Ev::Float(self.round_float(v, t), t))
    }

    /// A float32 result keeps float32 precision.
    fn round_float(&self, v: f64, t: Option<TypeId>) -> f64 {
        match t.map(|t| self.ctx.info.types.size(t)) {
            Some(4) => v as f32 as f64,
            _ => v,
        }
    }
}

/// Whether the symbol `name` (`example.com/a/b.F`) is what `full` names
/// (`b.F`: a package named by the last element of its path).
fn names(name: &str, full: &str) -> bool {
    name == full || name.strip_suffix(full).is_some_and(|p| p.ends_with('/'))
}

/// A computed value's bytes: little-endian words (a slice or string
/// header, a pointer).
fn words(w: &[u64]) -> Loc {
    Loc::Bytes(
        w.iter()
            .flat_map(|w| w.to_le_bytes())
            .collect::<Vec<u8>>()
            .into(),
    )
}

/// One step from a struct to a promoted field.
#[derive(Debug, Clone)]
enum Step {
    /// Into the field of this name, at this offset, of this type.
    Field(String, u64, TypeId),
    /// Through the embedded pointer just stepped into.
    Deref,
}
