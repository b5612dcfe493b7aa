//! Per-session settings from the launch/attach arguments, changeable later
//! with `dlv config` in the debug console.

use serde_json::Value;

use super::json::{get_array, get_bool, get_i64, get_str, HResult, ReqError};
use super::paths::Rule;

pub const DEFAULT_STACK_TRACE_DEPTH: usize = 50;

#[derive(Debug, Clone)]
pub struct Config {
    pub stop_on_entry: bool,
    pub stack_trace_depth: usize,
    pub hide_system_goroutines: bool,
    /// pprof label keys shown in thread names.
    pub show_pprof_labels: Vec<String>,
    pub substitute_path: Vec<Rule>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            stop_on_entry: false,
            stack_trace_depth: DEFAULT_STACK_TRACE_DEPTH,
            hide_system_goroutines: false,
            show_pprof_labels: Vec::new(),
            substitute_path: Vec::new(),
        }
    }
}

/// What `dlv config` changed, for the `invalidated` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    Nothing,
    Threads,
    Stacks,
}

impl Config {
    /// Reads the settings rrgo honours from launch/attach arguments; all
    /// other keys are ignored.
    pub fn from_args(args: &Value) -> HResult<Config> {
        let mut c = Config {
            stop_on_entry: get_bool(args, "stopOnEntry")?.unwrap_or(false),
            ..Config::default()
        };
        if let Some(d) = get_i64(args, "stackTraceDepth")? {
            if d > 0 {
                c.stack_trace_depth = d as usize;
            }
        }
        c.hide_system_goroutines = get_bool(args, "hideSystemGoroutines")?.unwrap_or(false);
        if let Some(labels) = get_array(args, "showPprofLabels")? {
            for l in labels {
                let l = l
                    .as_str()
                    .ok_or_else(|| ReqError::invalid("'showPprofLabels' must list strings"))?;
                c.show_pprof_labels.push(l.to_string());
            }
        }
        if let Some(rules) = get_array(args, "substitutePath")? {
            for r in rules {
                let bad =
                    || ReqError::invalid("'substitutePath' entries must be {\"from\", \"to\"}");
                let from = get_str(r, "from").map_err(|_| bad())?.ok_or_else(bad)?;
                let to = get_str(r, "to").map_err(|_| bad())?.ok_or_else(bad)?;
                c.substitute_path.push(Rule {
                    from: from.to_string(),
                    to: to.to_string(),
                });
            }
        }
        Ok(c)
    }

    const NAMES: [&'static str; 4] = [
        "hideSystemGoroutines",
        "showPprofLabels",
        "stackTraceDepth",
        "substitutePath",
    ];

    fn value_of(&self, name: &str) -> Option<String> {
        Some(match name {
            "hideSystemGoroutines" => self.hide_system_goroutines.to_string(),
            "showPprofLabels" => format!("{:?}", self.show_pprof_labels),
            "stackTraceDepth" => self.stack_trace_depth.to_string(),
            "substitutePath" => {
                let rules: Vec<String> = self
                    .substitute_path
                    .iter()
                    .map(|r| format!("{:?} → {:?}", r.from, r.to))
                    .collect();
                format!("[{}]", rules.join(", "))
            }
            _ => return None,
        })
    }

    fn find(name: &str) -> HResult<&'static str> {
        Self::NAMES
            .iter()
            .find(|n| n.eq_ignore_ascii_case(name))
            .copied()
            .ok_or_else(|| ReqError::invalid(format!("{name:?} is not a configuration parameter")))
    }

    /// `dlv config -list [name]`.
    pub fn list(&self, name: Option<&str>) -> HResult<String> {
        match name {
            Some(n) => {
                let n = Self::find(n)?;
                Ok(format!("{n}\t{}\n", self.value_of(n).unwrap_or_default()))
            }
            None => Ok(Self::NAMES
                .iter()
                .map(|n| format!("{n:<22}{}\n", self.value_of(n).unwrap_or_default()))
                .collect()),
        }
    }

    /// `dlv config <name> [<value>…]`: returns the message and what changed.
    pub fn set(&mut self, name: &str, args: &[String]) -> HResult<(String, Changed)> {
        let name = Self::find(name)?;
        if args.is_empty() {
            return Ok((self.list(Some(name))?, Changed::Nothing));
        }
        let changed = match name {
            "hideSystemGoroutines" => {
                self.hide_system_goroutines = parse_bool(&args[0])?;
                Changed::Threads
            }
            "stackTraceDepth" => {
                let d: usize = args[0].parse().ok().filter(|d| *d > 0).ok_or_else(|| {
                    ReqError::invalid("stackTraceDepth must be a positive integer")
                })?;
                self.stack_trace_depth = d;
                Changed::Stacks
            }
            "showPprofLabels" => {
                match args {
                    [c] if c == "-clear" => self.show_pprof_labels.clear(),
                    [c, l] if c == "-clear" => self.show_pprof_labels.retain(|x| x != l),
                    [l] => {
                        if !self.show_pprof_labels.contains(l) {
                            self.show_pprof_labels.push(l.clone());
                        }
                    }
                    _ => {
                        return Err(ReqError::invalid(
                            "usage: dlv config showPprofLabels <label> | -clear [<label>]",
                        ))
                    }
                }
                Changed::Threads
            }
            "substitutePath" => {
                match args {
                    [c] if c == "-clear" => self.substitute_path.clear(),
                    [from] => {
                        let before = self.substitute_path.len();
                        self.substitute_path.retain(|r| &r.from != from);
                        if self.substitute_path.len() == before {
                            return Err(ReqError::invalid(format!(
                                "could not find rule for {from:?}"
                            )));
                        }
                    }
                    [from, to] => match self.substitute_path.iter_mut().find(|r| &r.from == from) {
                        Some(r) => r.to = to.clone(),
                        None => self.substitute_path.push(Rule {
                            from: from.clone(),
                            to: to.clone(),
                        }),
                    },
                    _ => {
                        return Err(ReqError::invalid(
                            "usage: dlv config substitutePath <from> [<to>] | -clear",
                        ))
                    }
                }
                Changed::Stacks
            }
            _ => unreachable!("find returned a known name"),
        };
        Ok((format!("{}Updated", self.list(Some(name))?), changed))
    }
}

fn parse_bool(s: &str) -> HResult<bool> {
    match s {
        "true" | "on" | "1" => Ok(true),
        "false" | "off" | "0" => Ok(false),
        _ => Err(ReqError::invalid(format!("{s:?} is not true or false"))),
    }
}

/// Splits a command line into fields; double quotes group (for paths with spaces).
pub fn split_fields(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn from_launch_args() {
        let c = Config::from_args(&json!({
            "type": "go", "request": "attach", "mode": "remote", "port": 2345,
            "__sessionId": "x", "stopOnEntry": true, "stackTraceDepth": 7,
            "hideSystemGoroutines": true, "showPprofLabels": ["k"],
            "substitutePath": [{"from": "/a", "to": "/b"}],
            "env": {"X": "1"}, "guessSubstitutePath": {"ClientGOROOT": "/go"}
        }))
        .unwrap();
        assert!(c.stop_on_entry && c.hide_system_goroutines);
        assert_eq!(c.stack_trace_depth, 7);
        assert_eq!(c.show_pprof_labels, ["k"]);
        assert_eq!(c.substitute_path[0].to, "/b");
        let d = Config::from_args(&json!({"stackTraceDepth": 0})).unwrap();
        assert_eq!(d.stack_trace_depth, DEFAULT_STACK_TRACE_DEPTH);
        assert!(Config::from_args(&json!({"stopOnEntry": "yes"})).is_err());
        assert!(Config::from_args(&json!({"substitutePath": [{"from": 1}]})).is_err());
    }

    #[test]
    fn dlv_config() {
        let mut c = Config::default();
        assert!(c
            .list(Some("hideSystemGoroutines"))
            .unwrap()
            .contains("false"));
        let (msg, ch) = c.set("hideSystemGoroutines", &["true".into()]).unwrap();
        assert!(msg.contains("true") && msg.ends_with("Updated"));
        assert_eq!(ch, Changed::Threads);
        assert!(c.hide_system_goroutines);
        c.set("substitutePath", &["/x".into(), "/y".into()])
            .unwrap();
        c.set("substitutePath", &["/x".into(), "/z".into()])
            .unwrap();
        assert_eq!(c.substitute_path.len(), 1);
        assert_eq!(c.substitute_path[0].to, "/z");
        assert!(c.set("substitutePath", &["/nope".into()]).is_err());
        c.set("substitutePath", &["-clear".into()]).unwrap();
        assert!(c.substitute_path.is_empty());
        assert!(c.set("stackTraceDepth", &["0".into()]).is_err());
        assert!(c.set("bogus", &["1".into()]).is_err());
        let all = c.list(None).unwrap();
        assert_eq!(all.lines().count(), 4);
    }

    #[test]
    fn fields() {
        assert_eq!(split_fields(r#" a  "b c" d"#), ["a", "b c", "d"]);
        assert_eq!(split_fields(r#""""#), [""]);
        assert!(split_fields("  ").is_empty());
    }
}
