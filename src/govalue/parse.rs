//! Parsing Go expressions for the evaluator: a tokenizer for Go's
//! literals and operators and a Pratt parser over Go's precedences, with
//! Go's type syntax where a type may stand (conversions `T(x)`,
//! `[]byte(s)`, `(*T)(p)`, type assertions `x.(T)`). Only the forms the
//! evaluator supports are accepted.

use anyhow::{anyhow, bail};

/// Nesting bound for parsing (and evaluation).
pub(crate) const MAX_DEPTH: usize = 200;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Int(i128),
    Float(f64),
    Str(Vec<u8>),
    Char(u32),
    Op(&'static str),
}

#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Ident(String),
    Int(i128),
    Float(f64),
    Str(Vec<u8>),
    Char(u32),
    Field(Box<Expr>, String),
    /// `x.(data)`: an interface's dynamic value (Delve's child name).
    Data(Box<Expr>),
    /// `x.(T)`: a type assertion.
    Assert(Box<Expr>, TypeExpr),
    Index(Box<Expr>, Box<Expr>),
    /// `x[lo:hi]` and `x[lo:hi:max]`.
    Slice {
        x: Box<Expr>,
        lo: Option<Box<Expr>>,
        hi: Option<Box<Expr>>,
        max: Option<Box<Expr>>,
    },
    /// `f(args)`: a builtin, or a conversion when `f` names a type.
    Call(Box<Expr>, Vec<Expr>),
    /// A type literal where an expression stands (`[]byte` in `[]byte(s)`).
    Type(TypeExpr),
    Unary(&'static str, Box<Expr>),
    Binary(&'static str, Box<Expr>, Box<Expr>),
}

/// A type as written in an expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TypeExpr {
    /// `int`, `main.point`, `unsafe.Pointer`, or a quoted name used
    /// verbatim (`"example.com/a.T"`); also the literal types this parser
    /// only names (`interface {}`, `func(int) string`, `map[string]int`).
    Name(String),
    Ptr(Box<TypeExpr>),
    Slice(Box<TypeExpr>),
    Array(u64, Box<TypeExpr>),
    Map(Box<TypeExpr>, Box<TypeExpr>),
    Chan(Box<TypeExpr>),
}

impl std::fmt::Display for TypeExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TypeExpr::Name(n) => f.write_str(n),
            TypeExpr::Ptr(t) => write!(f, "*{t}"),
            TypeExpr::Slice(t) => write!(f, "[]{t}"),
            TypeExpr::Array(n, t) => write!(f, "[{n}]{t}"),
            TypeExpr::Map(k, v) => write!(f, "map[{k}]{v}"),
            TypeExpr::Chan(t) => write!(f, "chan {t}"),
        }
    }
}

impl Expr {
    /// The expression as a type, when it can be one: `T`, `pkg.T`, `*T`,
    /// a type literal, a quoted type name.
    pub fn as_type(&self) -> Option<TypeExpr> {
        Some(match self {
            Expr::Ident(n) => TypeExpr::Name(n.clone()),
            Expr::Field(x, n) => match &**x {
                Expr::Ident(pkg) => TypeExpr::Name(format!("{pkg}.{n}")),
                _ => return None,
            },
            Expr::Unary("*", x) => TypeExpr::Ptr(Box::new(x.as_type()?)),
            Expr::Type(t) => t.clone(),
            Expr::Str(s) => TypeExpr::Name(String::from_utf8(s.clone()).ok()?),
            _ => return None,
        })
    }
}

/// Go source for an expression (for messages), as Delve's ExprToString.
impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expr::Ident(n) => f.write_str(n),
            Expr::Int(v) => write!(f, "{v}"),
            Expr::Float(v) => write!(f, "{v}"),
            Expr::Str(v) => f.write_str(&super::render::go_quote(v)),
            Expr::Char(c) => match char::from_u32(*c) {
                Some(ch) => write!(f, "{ch:?}"),
                None => write!(f, "{c}"),
            },
            Expr::Field(x, n) => write!(f, "{x}.{n}"),
            Expr::Data(x) => write!(f, "{x}.(data)"),
            Expr::Assert(x, t) => write!(f, "{x}.({t})"),
            Expr::Index(x, i) => write!(f, "{x}[{i}]"),
            Expr::Slice { x, lo, hi, max } => {
                let part =
                    |e: &Option<Box<Expr>>| e.as_ref().map(|e| e.to_string()).unwrap_or_default();
                write!(f, "{x}[{}:{}", part(lo), part(hi))?;
                if max.is_some() {
                    write!(f, ":{}", part(max))?;
                }
                f.write_str("]")
            }
            Expr::Call(callee, args) => {
                match &**callee {
                    Expr::Unary(..) => write!(f, "({callee})(")?,
                    _ => write!(f, "{callee}(")?,
                }
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            Expr::Type(t) => write!(f, "{t}"),
            Expr::Unary(op, x) => write!(f, "{op}{x}"),
            Expr::Binary(op, l, r) => write!(f, "{l} {op} {r}"),
        }
    }
}

const OPS: &[&str] = &[
    "&&", "||", "==", "!=", "<=", ">=", "<<", ">>", "&^", "<", ">", "+", "-", "*", "/", "%", "!",
    "&", "|", "^", "(", ")", "[", "]", ".", ",", ":", "{", "}",
];

fn escape(chars: &[char], i: &mut usize, out: &mut Vec<u8>, quote: char) -> anyhow::Result<()> {
    let c = *chars
        .get(*i)
        .ok_or_else(|| anyhow!("unterminated escape"))?;
    *i += 1;
    let hex = |i: &mut usize, n: usize| -> anyhow::Result<u32> {
        let s: String = chars
            .get(*i..*i + n)
            .ok_or_else(|| anyhow!("bad escape"))?
            .iter()
            .collect();
        *i += n;
        u32::from_str_radix(&s, 16).map_err(|_| anyhow!("bad escape"))
    };
    let push_char = |out: &mut Vec<u8>, c: u32| -> anyhow::Result<()> {
        let c = char::from_u32(c).ok_or_else(|| anyhow!("bad escape"))?;
        out.extend_from_slice(c.to_string().as_bytes());
        Ok(())
    };
    match c {
        'n' => out.push(b'\n'),
        't' => out.push(b'\t'),
        'r' => out.push(b'\r'),
        'a' => out.push(7),
        'b' => out.push(8),
        'f' => out.push(12),
        'v' => out.push(11),
        '\\' => out.push(b'\\'),
        'x' => out.push(hex(i, 2)? as u8),
        'u' => push_char(out, hex(i, 4)?)?,
        'U' => push_char(out, hex(i, 8)?)?,
        c if c == quote => out.extend_from_slice(c.to_string().as_bytes()),
        _ => bail!("unknown escape sequence \\{c}"),
    }
    Ok(())
}

fn tokenize(s: &str) -> anyhow::Result<Vec<Tok>> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '_'
                    || chars[i] == '.'
                    || ((chars[i] == '+' || chars[i] == '-')
                        && matches!(chars[i - 1], 'e' | 'E' | 'p' | 'P')))
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().filter(|&&c| c != '_').collect();
            out.push(number(&text)?);
        } else if c == '"' {
            i += 1;
            let mut bytes = Vec::new();
            loop {
                let c = *chars
                    .get(i)
                    .ok_or_else(|| anyhow!("string literal not terminated"))?;
                i += 1;
                match c {
                    '"' => break,
                    '\\' => escape(&chars, &mut i, &mut bytes, '"')?,
                    c => bytes.extend_from_slice(c.to_string().as_bytes()),
                }
            }
            out.push(Tok::Str(bytes));
        } else if c == '`' {
            i += 1;
            let start = i;
            while i < chars.len() && chars[i] != '`' {
                i += 1;
            }
            if i >= chars.len() {
                bail!("raw string literal not terminated");
            }
            out.push(Tok::Str(
                chars[start..i].iter().collect::<String>().into_bytes(),
            ));
            i += 1;
        } else if c == '\'' {
            i += 1;
            let mut bytes = Vec::new();
            match chars.get(i) {
                Some('\\') => {
                    i += 1;
                    escape(&chars, &mut i, &mut bytes, '\'')?;
                }
                Some(&c) => {
                    i += 1;
                    bytes.extend_from_slice(c.to_string().as_bytes());
                }
                None => bail!("rune literal not terminated"),
            }
            if chars.get(i) != Some(&'\'') {
                bail!("rune literal not terminated");
            }
            i += 1;
            let r = match std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.chars().next())
            {
                Some(ch) if bytes.len() == ch.len_utf8() => ch as u32,
                _ if bytes.len() == 1 => bytes[0] as u32,
                _ => bail!("invalid rune literal"),
            };
            out.push(Tok::Char(r));
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let op = OPS
                .iter()
                .find(|op| rest.starts_with(**op))
                .ok_or_else(|| anyhow!("unexpected character {c:?}"))?;
            i += op.chars().count();
            out.push(Tok::Op(op));
        }
    }
    Ok(out)
}

fn number(text: &str) -> anyhow::Result<Tok> {
    let lower = text.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i128::from_str_radix(o, 8).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit())
    {
        i128::from_str_radix(&lower[1..], 8).ok()
    } else {
        lower.parse::<i128>().ok()
    };
    if let Some(v) = int {
        return Ok(Tok::Int(v));
    }
    lower
        .parse::<f64>()
        .map(Tok::Float)
        .map_err(|_| anyhow!("invalid number {text}"))
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

fn precedence(op: &str) -> Option<u8> {
    Some(match op {
        "||" => 1,
        "&&" => 2,
        "==" | "!=" | "<" | "<=" | ">" | ">=" => 3,
        "+" | "-" | "|" | "^" => 4,
        "*" | "/" | "%" | "<<" | ">>" | "&" | "&^" => 5,
        _ => return None,
    })
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, op: &str) -> anyhow::Result<()> {
        match self.next() {
            Some(Tok::Op(o)) if o == op => Ok(()),
            other => bail!("expected {op}, found {}", describe(other.as_ref())),
        }
    }

    fn binary(&mut self, min: u8) -> anyhow::Result<Expr> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            bail!("expression too deeply nested");
        }
        let mut lhs = self.unary()?;
        while let Some(Tok::Op(op)) = self.peek() {
            let op = *op;
            let Some(p) = precedence(op) else { break };
            if p < min {
                break;
            }
            self.pos += 1;
            let rhs = self.binary(p + 1)?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn unary(&mut self) -> anyhow::Result<Expr> {
        if let Some(Tok::Op(op @ ("-" | "+" | "!" | "^" | "*" | "&"))) = self.peek() {
            let op = *op;
            self.pos += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                bail!("expression too deeply nested");
            }
            let e = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Unary(op, Box::new(e)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> anyhow::Result<Expr> {
        let mut e = self.primary()?;
        loop {
            match self.peek() {
                Some(Tok::Op(".")) => {
                    self.pos += 1;
                    match self.next() {
                        Some(Tok::Ident(f)) => e = Expr::Field(Box::new(e), f),
                        Some(Tok::Op("(")) => {
                            if let (Some(Tok::Ident(t)), Some(Tok::Op(")"))) =
                                (self.peek(), self.toks.get(self.pos + 1))
                            {
                                if t == "data" {
                                    self.pos += 2;
                                    e = Expr::Data(Box::new(e));
                                    continue;
                                }
                                if t == "type" {
                                    bail!("type switches are not expressions");
                                }
                            }
                            let t = self.type_expr()?;
                            self.expect(")")?;
                            e = Expr::Assert(Box::new(e), t);
                        }
                        other => bail!("expected field name, found {}", describe(other.as_ref())),
                    }
                }
                Some(Tok::Op("[")) => {
                    self.pos += 1;
                    let bound = |p: &mut Parser| -> anyhow::Result<Option<Box<Expr>>> {
                        Ok(match p.peek() {
                            Some(Tok::Op(":" | "]")) => None,
                            _ => Some(Box::new(p.binary(1)?)),
                        })
                    };
                    let lo = bound(self)?;
                    if self.peek() != Some(&Tok::Op(":")) {
                        let i = lo.ok_or_else(|| anyhow!("expected an index"))?;
                        self.expect("]")?;
                        e = Expr::Index(Box::new(e), i);
                        continue;
                    }
                    self.pos += 1;
                    let hi = bound(self)?;
                    let mut max = None;
                    if self.peek() == Some(&Tok::Op(":")) {
                        self.pos += 1;
                        if hi.is_none() {
                            bail!("middle index required in 3-index slice");
                        }
                        max = Some(
                            bound(self)?
                                .ok_or_else(|| anyhow!("final index required in 3-index slice"))?,
                        );
                    }
                    self.expect("]")?;
                    e = Expr::Slice {
                        x: Box::new(e),
                        lo,
                        hi,
                        max,
                    };
                }
                Some(Tok::Op("(")) => {
                    self.pos += 1;
                    let mut args = Vec::new();
                    if self.peek() != Some(&Tok::Op(")")) {
                        loop {
                            args.push(self.binary(1)?);
                            if self.peek() == Some(&Tok::Op(",")) {
                                self.pos += 1;
                                if self.peek() == Some(&Tok::Op(")")) {
                                    break;
                                }
                            } else {
                                break;
                            }
                        }
                    }
                    self.expect(")")?;
                    e = Expr::Call(Box::new(e), args);
                }
                _ => return Ok(e),
            }
        }
    }

    fn primary(&mut self) -> anyhow::Result<Expr> {
        match self.peek() {
            Some(Tok::Op("[")) => return Ok(Expr::Type(self.type_expr()?)),
            Some(Tok::Ident(k))
                if matches!(k.as_str(), "map" | "chan" | "func" | "interface" | "struct") =>
            {
                return Ok(Expr::Type(self.type_expr()?));
            }
            _ => {}
        }
        match self.next() {
            Some(Tok::Ident(n)) => Ok(Expr::Ident(n)),
            Some(Tok::Int(v)) => Ok(Expr::Int(v)),
            Some(Tok::Float(v)) => Ok(Expr::Float(v)),
            Some(Tok::Str(v)) => Ok(Expr::Str(v)),
            Some(Tok::Char(v)) => Ok(Expr::Char(v)),
            Some(Tok::Op("(")) => {
                let e = self.binary(1)?;
                self.expect(")")?;
                Ok(e)
            }
            other => bail!("unexpected {}", describe(other.as_ref())),
        }
    }

    /// Go's type syntax: names (qualified or quoted), `*T`, `[]T`, `[N]T`,
    /// `map[K]V`, `chan T`, `func(…) …`, `interface {}`, `struct {}`.
    fn type_expr(&mut self) -> anyhow::Result<TypeExpr> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            bail!("type too deeply nested");
        }
        let t = match self.next() {
            Some(Tok::Op("*")) => TypeExpr::Ptr(Box::new(self.type_expr()?)),
            Some(Tok::Op("(")) => {
                let t = self.type_expr()?;
                self.expect(")")?;
                t
            }
            Some(Tok::Op("[")) => match self.next() {
                Some(Tok::Op("]")) => TypeExpr::Slice(Box::new(self.type_expr()?)),
                Some(Tok::Int(n)) if (0..1 << 40).contains(&n) => {
                    self.expect("]")?;
                    TypeExpr::Array(n as u64, Box::new(self.type_expr()?))
                }
                other => bail!("expected array length, found {}", describe(other.as_ref())),
            },
            Some(Tok::Str(s)) => {
                TypeExpr::Name(String::from_utf8(s).map_err(|_| anyhow!("type name is not UTF-8"))?)
            }
            Some(Tok::Ident(k)) if k == "map" => {
                self.expect("[")?;
                let key = self.type_expr()?;
                self.expect("]")?;
                TypeExpr::Map(Box::new(key), Box::new(self.type_expr()?))
            }
            Some(Tok::Ident(k)) if k == "chan" => TypeExpr::Chan(Box::new(self.type_expr()?)),
            Some(Tok::Ident(k)) if k == "interface" || k == "struct" => {
                self.expect("{")?;
                self.expect("}")?;
                TypeExpr::Name(format!("{k} {{}}"))
            }
            Some(Tok::Ident(k)) if k == "func" => {
                self.expect("(")?;
                let params = self.type_list(")")?;
                let mut name = format!("func({})", params.join(", "));
                match self.peek() {
                    Some(Tok::Op("(")) => {
                        self.pos += 1;
                        let results = self.type_list(")")?;
                        name.push_str(&format!(" ({})", results.join(", ")));
                    }
                    Some(Tok::Ident(_) | Tok::Op("*" | "[")) => {
                        name.push_str(&format!(" {}", self.type_expr()?));
                    }
                    _ => {}
                }
                TypeExpr::Name(name)
            }
            Some(Tok::Ident(n)) => {
                let mut name = n;
                if self.peek() == Some(&Tok::Op(".")) {
                    if let Some(Tok::Ident(m)) = self.toks.get(self.pos + 1) {
                        name = format!("{name}.{m}");
                        self.pos += 2;
                    }
                }
                TypeExpr::Name(name)
            }
            other => bail!("expected a type, found {}", describe(other.as_ref())),
        };
        self.depth -= 1;
        Ok(t)
    }

    /// Types separated by commas up to `close` (consumed), as text.
    fn type_list(&mut self, close: &str) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        if self.peek() == Some(&Tok::Op(")")) {
            self.pos += 1;
            return Ok(out);
        }
        loop {
            out.push(self.type_expr()?.to_string());
            match self.next() {
                Some(Tok::Op(",")) => {}
                Some(Tok::Op(o)) if o == close => return Ok(out),
                other => bail!("expected , or {close}, found {}", describe(other.as_ref())),
            }
        }
    }
}

fn describe(t: Option<&Tok>) -> String {
    match t {
        None => "end of expression".into(),
        Some(Tok::Op(o)) => format!("'{o}'"),
        Some(Tok::Ident(i)) => i.clone(),
        Some(t) => format!("{t:?}"),
    }
}

pub(crate) fn parse(s: &str) -> anyhow::Result<Expr> {
    let toks = tokenize(s)?;
    if toks.is_empty() {
        bail!("empty expression");
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let e = p.binary(1)?;
    if p.pos < p.toks.len() {
        bail!("unexpected {} after expression", describe(p.peek()));
    }
    Ok(e)
}
