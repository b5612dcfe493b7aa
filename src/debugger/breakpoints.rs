//! The user's breakpoints: where they resolve to, and whether a hit stops.

use super::api::{
    BreakpointStatus, FunctionBreakpoint, InstructionBreakpoint, LineBreakpoint, StopReason,
};
use crate::gobin::GoBinary;
use crate::timeline::{CountKey, Counted};

#[derive(Debug, Clone)]
pub enum Place {
    Line {
        file: String,
    },
    Function,
    /// At one machine instruction (the disassembly view's).
    Instruction,
}

#[derive(Debug, Clone)]
pub struct UserBreakpoint {
    pub id: u32,
    pub place: Place,
    pub addrs: Vec<u64>,
    pub condition: Option<String>,
    pub hit_condition: Option<String>,
    pub log_message: Option<String>,
}

impl UserBreakpoint {
    /// What its hit count counts (the count itself is the timeline's, by
    /// position: `timeline::counts`).
    pub fn count_key(&self) -> CountKey {
        let mut addrs = self.addrs.clone();
        addrs.sort_unstable();
        CountKey {
            of: Counted::Code(addrs),
            condition: self.condition.clone(),
        }
    }
}

#[derive(Default)]
pub struct Breakpoints {
    pub list: Vec<UserBreakpoint>,
    next_id: u32,
}

impl Breakpoints {
    /// A new breakpoint id (watchpoints share the numbering: DAP's
    /// `hitBreakpointIds` must not be ambiguous).
    pub fn new_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    pub fn set_lines(
        &mut self,
        bin: &GoBinary,
        file: &str,
        bps: &[LineBreakpoint],
    ) -> Vec<BreakpointStatus> {
        self.list
            .retain(|b| !matches!(&b.place, Place::Line { file: f, .. } if f == file));
        let mut out = Vec::new();
        for bp in bps {
            // Only the line asked for: a line without a statement is refused,
            // as Delve does (moving it could land in another function).
            let found =
                Some((bp.line, bin.line_addrs(file, bp.line))).filter(|(_, a)| !a.is_empty());
            self.next_id += 1;
            let id = self.next_id;
            if let Err(message) = condition_syntax(&bp.condition) {
                out.push(BreakpointStatus {
                    id,
                    verified: false,
                    file: Some(file.to_string()),
                    line: Some(bp.line),
                    message: Some(message),
                });
                continue;
            }
            match found {
                Some((line, addrs)) => {
                    self.list.push(UserBreakpoint {
                        id,
                        place: Place::Line {
                            file: file.to_string(),
                        },
                        addrs,
                        condition: nonempty(&bp.condition),
                        hit_condition: nonempty(&bp.hit_condition),
                        log_message: nonempty(&bp.log_message),
                    });
                    out.push(BreakpointStatus {
                        id,
                        verified: true,
                        file: Some(file.to_string()),
                        line: Some(line),
                        message: None,
                    });
                }
                None => out.push(BreakpointStatus {
                    id,
                    verified: false,
                    file: Some(file.to_string()),
                    line: Some(bp.line),
                    message: Some(if bin.source_files().iter().any(|f| f == file) {
                        format!(
                            "could not find statement at {}:{}, please use a line with a statement",
                            short(file),
                            bp.line
                        )
                    } else {
                        format!("{} is not a source file of this program", file)
                    }),
                }),
            }
        }
        out
    }

    pub fn set_functions(
        &mut self,
        bin: &GoBinary,
        bps: &[FunctionBreakpoint],
    ) -> Vec<BreakpointStatus> {
        self.list.retain(|b| !matches!(b.place, Place::Function));
        let mut out = Vec::new();
        for bp in bps {
            self.next_id += 1;
            let id = self.next_id;
            let placed = condition_syntax(&bp.condition)
                .and_then(|()| function_location(bin, bp.name.trim()));
            let addrs = match placed {
                Ok(a) => a,
                Err(message) => {
                    out.push(BreakpointStatus {
                        id,
                        verified: false,
                        file: None,
                        line: None,
                        message: Some(message),
                    });
                    continue;
                }
            };
            let (file, line) = bin
                .line_at(addrs[0])
                .map(|(f, l)| (Some(f.to_string()), Some(l)))
                .unwrap_or((None, None));
            self.list.push(UserBreakpoint {
                id,
                place: Place::Function,
                addrs,
                condition: nonempty(&bp.condition),
                hit_condition: nonempty(&bp.hit_condition),
                log_message: None,
            });
            out.push(BreakpointStatus {
                id,
                verified: true,
                file,
                line,
                message: None,
            });
        }
        out
    }

    /// Replaces the instruction breakpoints; `refusal` says why an address
    /// cannot hold one (not an instruction start, a syscall…).
    pub fn set_instructions(
        &mut self,
        bin: &GoBinary,
        bps: &[InstructionBreakpoint],
        refusal: impl Fn(u64) -> Option<String>,
    ) -> Vec<BreakpointStatus> {
        self.list.retain(|b| !matches!(b.place, Place::Instruction));
        let mut out = Vec::new();
        for bp in bps {
            self.next_id += 1;
            let id = self.next_id;
            let (file, line) = bin
                .line_at(bp.addr)
                .map(|(f, l)| (Some(f.to_string()), Some(l)))
                .unwrap_or((None, None));
            if let Some(why) = refusal(bp.addr) {
                out.push(BreakpointStatus {
                    id,
                    verified: false,
                    file: None,
                    line: None,
                    message: Some(why),
                });
                continue;
            }
            self.list.push(UserBreakpoint {
                id,
                place: Place::Instruction,
                addrs: vec![bp.addr],
                condition: nonempty(&bp.condition),
                hit_condition: nonempty(&bp.hit_condition),
                log_message: None,
            });
            out.push(BreakpointStatus {
                id,
                verified: true,
                file,
                line,
                message: None,
            });
        }
        out
    }

    /// The stop reason for a hit of breakpoints `ids`: an instruction
    /// breakpoint's first, then a function breakpoint's (the more specific
    /// request names the stop).
    pub fn reason(&self, ids: Vec<u32>) -> StopReason {
        let place =
            |p: fn(&Place) -> bool| self.list.iter().any(|b| ids.contains(&b.id) && p(&b.place));
        if place(|p| matches!(p, Place::Instruction)) {
            StopReason::InstructionBreakpoint { ids }
        } else if place(|p| matches!(p, Place::Function)) {
            StopReason::FunctionBreakpoint { ids }
        } else {
            StopReason::Breakpoint { ids }
        }
    }

    pub fn addrs(&self) -> impl Iterator<Item = u64> + '_ {
        self.list.iter().flat_map(|b| b.addrs.iter().copied())
    }

    pub fn at(&self, addr: u64) -> Vec<usize> {
        (0..self.list.len())
            .filter(|&i| self.list[i].addrs.contains(&addr))
            .collect()
    }
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn short(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Delve's hit conditions: `N` or `== N`, `!= N`, `> N`, `>= N`, `< N`, `<= N`, `% N`.
pub fn hit_condition_met(cond: &str, hits: u64) -> Result<bool, String> {
    let c = cond.trim();
    let (op, num) = ["==", "!=", ">=", "<=", ">", "<", "%"]
        .iter()
        .find_map(|op| c.strip_prefix(op).map(|rest| (*op, rest.trim())))
        .unwrap_or(("==", c));
    let n: u64 = num.parse().map_err(|_| {
        format!("invalid hit condition {cond:?}: expected e.g. `5`, `>= 5` or `% 5`")
    })?;
    Ok(match op {
        "==" => hits == n,
        "!=" => hits != n,
        ">=" => hits >= n,
        "<=" => hits <= n,
        ">" => hits > n,
        "<" => hits < n,
        _ => n != 0 && hits % n == 0,
    })
}

/// A log point's message with each `{expr}` replaced by `eval(expr)`.
pub fn interpolate(msg: &str, mut eval: impl FnMut(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = msg;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        match rest[open + 1..].find('}') {
            Some(close) => {
                out.push_str(&eval(&rest[open + 1..open + 1 + close]));
                rest = &rest[open + close + 2..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// A function name with what the user need not spell out removed: type
/// arguments (`Map[go.shape.int]`, `List[T]`) and a pointer receiver's
/// punctuation (`(*T).M` is `T.M`), as the generic dictionaries are named.
fn canonical(name: &str) -> String {
    crate::govalue::generic_base(&name.replace(' ', ""))
}

/// Where a function breakpoint goes, in the forms Delve takes: a full name
/// (`main.(*Server).Handle`, `main.main.func1`), a suffix of one at a
/// package or path boundary (`Handle`, `Server.Handle`, `(*Server).Handle`,
/// `http.ListenAndServe`), a generic function or method by its name alone
/// (every instantiation: `main.Map`, `main.List.Push`), or `file.go:line`.
/// The addresses are past the prologues; an error says why there are none.
/// A condition that does not parse is refused when set (Delve does; it was
/// accepted and then stopped at every hit with the error).
fn condition_syntax(condition: &Option<String>) -> Result<(), String> {
    match nonempty(condition) {
        Some(c) => crate::govalue::check_syntax(&c).map_err(|e| format!("condition {c:?}: {e}")),
        None => Ok(()),
    }
}

pub(super) fn function_location(bin: &GoBinary, spec: &str) -> Result<Vec<u64>, String> {
    // "", "*", "()": no function is named (they matched the compiler's
    // autogenerated code).
    if !spec.chars().any(|c| c.is_alphanumeric() || c == '_') {
        return Err(format!("{spec:?} names no function"));
    }
    if let Some((file, line)) = spec.rsplit_once(':') {
        if let Ok(line) = line.trim().parse::<u64>() {
            let file = file.trim();
            let files: Vec<&String> = bin
                .source_files()
                .iter()
                .filter(|f| *f == file || f.ends_with(&format!("/{file}")))
                .collect();
            if files.is_empty() {
                return Err(format!("{file} is not a source file of this program"));
            }
            if files.len() > 1 {
                return Err(format!(
                    "{file} is ambiguous: {} source files match",
                    files.len()
                ));
            }
            let addrs = bin.line_addrs(files[0], line);
            if addrs.is_empty() {
                return Err(format!(
                    "could not find statement at {file}:{line}, please use a line with a statement"
                ));
            }
            return Ok(addrs);
        }
    }
    let exact = bin.functions_named(spec);
    let fns: Vec<&crate::gobin::Function> = if !exact.is_empty() {
        exact
    } else {
        let want = canonical(spec);
        let matching: Vec<&crate::gobin::Function> = bin
            .functions()
            .iter()
            .filter(|f| {
                let have = canonical(&f.name);
                have == want
                    || have
                        .strip_suffix(want.as_str())
                        .is_some_and(|p| p.ends_with('.') || p.ends_with('/'))
            })
            .collect();
        // The compiler's wrappers (a value method called through a
        // pointer) only when nothing else matches.
        let own: Vec<&crate::gobin::Function> = matching
            .iter()
            .copied()
            .filter(|f| {
                bin.line_at(f.entry)
                    .is_some_and(|(file, _)| !file.ends_with("<autogenerated>"))
            })
            .collect();
        if own.is_empty() {
            matching
        } else {
            own
        }
    };
    if fns.is_empty() {
        return Err(format!("could not find function {spec}"));
    }
    Ok(fns.iter().map(|f| bin.after_prologue(f.entry)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_conditions_follow_delve() {
        assert_eq!(hit_condition_met("2", 2), Ok(true));
        assert_eq!(hit_condition_met("2", 3), Ok(false));
        assert_eq!(hit_condition_met(">= 3", 3), Ok(true));
        assert_eq!(hit_condition_met("% 2", 4), Ok(true));
        assert_eq!(hit_condition_met("% 2", 3), Ok(false));
        assert!(hit_condition_met("lots", 1).is_err());
    }

    #[test]
    fn log_messages_interpolate_expressions() {
        let s = interpolate("i is {i}, t={total}!", |e| format!("<{e}>"));
        assert_eq!(s, "i is <i>, t=<total>!");
        assert_eq!(interpolate("open {brace", |_| "x".into()), "open {brace");
    }
}
