//! `dlv …` commands typed in the debug console (evaluate), as Delve's DAP
//! server has them: help, config, sources.

use serde_json::{json, Value};

use super::config::{split_fields, Changed};
use super::json::{get_str, HResult, ReqError};
use super::paths;
use super::session::Session;

const HELP: &str = "Prints the help message.\n\n\tdlv help [command]\n\n\
Type \"dlv help\" followed by the name of a command for more information about it.";

const CONFIG: &str = "Changes configuration parameters.\n\n\
\tdlv config -list\n\n\t\tShow all configuration parameters.\n\n\
\tdlv config -list <parameter>\n\n\t\tShow value of a configuration parameter.\n\n\
\tdlv config <parameter> <value>\n\n\t\tChanges the value of a configuration parameter \
(hideSystemGoroutines, stackTraceDepth).\n\n\
\tdlv config substitutePath <from> <to>\n\tdlv config substitutePath <from>\n\
\tdlv config substitutePath -clear\n\n\
\t\tAdds or removes a path substitution rule (from: path in the editor, to: path in the recorded binary).\n\n\
\tdlv config showPprofLabels <label>\n\tdlv config showPprofLabels -clear <label>\n\
\tdlv config showPprofLabels -clear\n\n\
\t\tAdds or removes a pprof label key shown in the goroutine list.";

const SOURCES: &str = "Prints the list of source files.\n\n\tdlv sources [<text>]\n\n\
With <text>, only the files whose path contains it.";

const HISTORY: &str = "Prints a goroutine's history: each state change with the program's time, \
the holder of a mutex it waited for, and what woke it.\n\n\tdlv history <goroutine id>\n\n\
Built from the recording's goroutine index (one replay pass the first time, then cached).";

const SIGNALS: &str = "Prints the signal timeline: when each signal arrived, who sent it, which \
goroutine received it, what it then waited for and who held it, and the handling time split \
into those parts.\n\n\tdlv signals";

const BLOCKED_BY: &str = "Prints what a goroutine waited for and who made it wait: for a \
sync.Mutex, the goroutine that held it, where and when it locked and unlocked it; for other \
waits, the goroutine (and line) that woke it.\n\n\tdlv blocked-by <goroutine id>";

/// (names, help) of each command; the first line of help is its summary.
const COMMANDS: [(&[&str], &str); 6] = [
    (&["help", "h"], HELP),
    (&["config"], CONFIG),
    (&["sources", "s"], SOURCES),
    (&["history"], HISTORY),
    (&["signals"], SIGNALS),
    (&["blocked-by"], BLOCKED_BY),
];

/// Which question of the goroutine index a command asks.
enum IndexQuery {
    History(u64),
    Signals,
    BlockedBy(u64),
}

/// The command part of `dlv <command>`, if `expr` is one.
pub fn dlv_command(expr: &str) -> Option<&str> {
    let rest = expr.trim_start().strip_prefix("dlv")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    Some(rest.trim()).filter(|r| !r.is_empty())
}

/// `call f(x)`: Delve injects a function call; a replay cannot.
pub fn is_call(expr: &str) -> bool {
    expr.trim_start()
        .strip_prefix("call")
        .is_some_and(|r| r.starts_with(char::is_whitespace) && !r.trim().is_empty())
}

/// An evaluate request that needs no engine: answered even while a motion runs.
pub fn answers_while_running(args: &Value) -> bool {
    let Ok(Some(expr)) = get_str(args, "expression") else {
        return false;
    };
    match dlv_command(expr) {
        Some(cmd) => {
            let name = cmd.split_whitespace().next().unwrap_or("");
            !matches!(name, "sources" | "s")
        }
        None => false,
    }
}

fn help(topic: Option<&str>) -> HResult<String> {
    if let Some(t) = topic {
        return COMMANDS
            .iter()
            .find(|(names, _)| names.contains(&t))
            .map(|(_, h)| h.to_string())
            .ok_or_else(|| ReqError::invalid(format!("command not available: {t}")));
    }
    let mut s = String::from("The following commands are available:\n");
    for (names, h) in COMMANDS {
        let summary = h.lines().next().unwrap_or("");
        let name = match names {
            [n, alias @ ..] if !alias.is_empty() => format!("{n} (alias: {})", alias.join(" | ")),
            [n, ..] => n.to_string(),
            [] => continue,
        };
        s.push_str(&format!("    dlv {name:<20} {summary}\n"));
    }
    s.push_str("\nType 'dlv help' followed by a command for full documentation.");
    Ok(s)
}

impl Session {
    /// Runs one `dlv` command; the text is the evaluate result.
    pub async fn dlv(&mut self, cmdline: &str) -> HResult<String> {
        let fields = split_fields(cmdline);
        let Some((name, args)) = fields.split_first() else {
            return help(None);
        };
        match name.as_str() {
            "help" | "h" => help(args.first().map(String::as_str)),
            "config" => self.dlv_config(args),
            "sources" | "s" => self.dlv_sources(args.first().map(String::as_str)).await,
            "history" => {
                self.dlv_index(IndexQuery::History(goid_arg(args, HISTORY)?))
                    .await
            }
            "signals" => self.dlv_index(IndexQuery::Signals).await,
            "blocked-by" => {
                self.dlv_index(IndexQuery::BlockedBy(goid_arg(args, BLOCKED_BY)?))
                    .await
            }
            other => Err(ReqError::invalid(format!(
                "command not available: {other} (type 'dlv help')"
            ))),
        }
    }

    fn dlv_config(&mut self, args: &[String]) -> HResult<String> {
        let Some((name, rest)) = args.split_first() else {
            return Err(ReqError::invalid(CONFIG));
        };
        if name == "-list" {
            return self.cfg.list(rest.first().map(String::as_str));
        }
        let (text, changed) = self.cfg.set(name, rest)?;
        if self.client.invalidated {
            let area = match changed {
                Changed::Nothing => None,
                Changed::Threads => Some("threads"),
                Changed::Stacks => Some("stacks"),
            };
            if let Some(area) = area {
                self.event("invalidated", json!({ "areas": [area] }));
            }
        }
        Ok(text)
    }

    /// Answers from the goroutine index (`dap::index`: built by a helper
    /// process when the recording was opened, cached with the trace).
    async fn dlv_index(&mut self, q: IndexQuery) -> HResult<String> {
        self.require_loaded()?;
        let dir = self
            .engine(|t| Ok(t.trace_dir()))
            .await
            .map_err(|e| ReqError::invalid(e.0))?
            .ok_or_else(|| ReqError::invalid("this target has no goroutine index"))?;
        self.output(
            "console",
            "rrgo: reading the goroutine index (the first time, one replay pass)…",
        );
        let idx = super::index::get(&self.goindex, dir, false)
            .await
            .map_err(ReqError::invalid)?;
        let answer = match q {
            IndexQuery::History(g) => {
                crate::commands::history::text(&idx, g, false).map_err(|e| format!("{e:#}"))
            }
            IndexQuery::Signals => Ok(crate::commands::signals::text(&idx)),
            IndexQuery::BlockedBy(g) => Ok(crate::commands::history::blocked_by_text(&idx, g)),
        };
        answer.map_err(ReqError::invalid)
    }

    async fn dlv_sources(&mut self, filter: Option<&str>) -> HResult<String> {
        self.require_loaded()?;
        let files = self
            .engine(|t| Ok(t.source_files()))
            .await
            .map_err(|e| ReqError::invalid(e.0))?;
        let mut files: Vec<String> = files
            .iter()
            .map(|f| paths::to_client(&self.cfg.substitute_path, f))
            .filter(|f| filter.is_none_or(|x| f.contains(x)))
            .collect();
        files.sort();
        Ok(files.join("\n"))
    }
}

/// The goroutine id a command takes, or its help as the error.
fn goid_arg(args: &[String], help: &str) -> HResult<u64> {
    args.first()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| ReqError::invalid(help.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_commands() {
        assert_eq!(dlv_command("dlv help"), Some("help"));
        assert_eq!(dlv_command("  dlv   config -list  "), Some("config -list"));
        assert_eq!(dlv_command("dlv"), None);
        assert_eq!(dlv_command("dlvx help"), None);
        assert_eq!(dlv_command("x + dlv"), None);
        assert!(is_call("call f(1)"));
        assert!(!is_call("caller"));
        assert!(!is_call("call"));
        assert!(answers_while_running(
            &json!({"expression": "dlv config -list"})
        ));
        assert!(!answers_while_running(
            &json!({"expression": "dlv sources"})
        ));
        assert!(!answers_while_running(&json!({"expression": "x"})));
    }

    #[test]
    fn help_text() {
        let h = help(None).unwrap();
        assert!(h.contains("dlv help (alias: h)") && h.contains("dlv config"));
        assert!(help(Some("config")).unwrap().contains("substitutePath"));
        assert!(help(Some("nope")).is_err());
    }
}
