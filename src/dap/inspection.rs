//! threads, stackTrace, scopes, variables, evaluate, exceptionInfo.

use serde_json::{json, Value};

use super::json::{get_i64, get_str, i32ish, ids, need_i64, put, HResult, ReqError};
use super::paths;
use super::repl;
use super::session::{Request, Session, VarRef};
use crate::debugger::api::{Goid, GoroutineSummary, ScopeKind, Shown, Value as GoValue};

/// Delve's cap on goroutines listed as threads.
pub const MAX_GOROUTINES: usize = 1 << 10;

/// A function name without its package path up to the last slash, as
/// Delve shows it: `github.com/a/b.(*T).M` → `b.(*T).M`.
pub fn fn_name(function: &str) -> &str {
    if function.is_empty() {
        return "???";
    }
    // The package path ends before the receiver or type parameters.
    let head = &function[..function.find(['(', '[']).unwrap_or(function.len())];
    match head.rfind('/') {
        Some(i) => &function[i + 1..],
        None => function,
    }
}

/// The package path of a function: `github.com/a/b.(*T).M` → `github.com/a/b`.
pub fn package_of(function: &str) -> &str {
    let head = &function[..function.find(['(', '[']).unwrap_or(function.len())];
    let start = head.rfind('/').map(|i| i + 1).unwrap_or(0);
    match head[start..].find('.') {
        Some(dot) => &function[..start + dot],
        None => head.trim_end_matches('.'),
    }
}

/// `* [Go 17 label] main.worker (Thread 4242)`.
pub fn thread_name(g: &GoroutineSummary, selected: Option<Goid>, show_labels: &[String]) -> String {
    let star = if selected == Some(g.goid) { "* " } else { "" };
    let mut labels = String::new();
    for key in show_labels {
        if let Some((_, v)) = g.labels.iter().find(|(k, v)| k == key && !v.is_empty()) {
            if show_labels.len() == 1 {
                labels = format!(" {v}");
            } else {
                labels.push_str(&format!(" {key}:{v}"));
            }
        }
    }
    let thread = match g.thread {
        Some(t) if t != 0 => format!(" (Thread {t})"),
        _ => String::new(),
    };
    format!(
        "{star}[Go {}{labels}] {}{thread}",
        g.goid,
        fn_name(&g.function)
    )
}

/// " waiting for main.stateMu, held by [Go 7] main.worker at main.go:71":
/// the goroutine index's answer for a goroutine parked on a lock.
fn lock_note(w: &crate::commands::goindex::LockWait) -> String {
    let lock = w
        .mutex_name
        .clone()
        .unwrap_or_else(|| format!("{:#x}", w.mutex));
    let Some(h) = &w.holder else {
        return format!(" — waiting for {lock}");
    };
    let at = h
        .location
        .as_deref()
        .map(|l| format!(" at {}", l.rsplit('/').next().unwrap_or(l)))
        .unwrap_or_default();
    format!(
        " — waiting for {lock}, held by [Go {}] {}{at}",
        h.goid,
        h.function.as_deref().map(fn_name).unwrap_or("?")
    )
}

fn dummy_threads() -> Value {
    json!({"threads": [{"id": 1, "name": "Dummy"}]})
}

impl Session {
    pub async fn on_threads(&mut self, req: &Request) -> HResult {
        if !self.loaded {
            self.dummy_thread = true;
            self.respond(req, Some(dummy_threads()));
            return Ok(());
        }
        let r = self
            .engine(|t| Ok((t.goroutines(), t.selected_goroutine(), t.position())))
            .await
            .and_then(|(gs, sel, pos)| Ok((gs?, sel, pos)));
        let threads = match r {
            Ok((gs, selected, pos)) => self.thread_list(gs, selected, pos.event),
            Err(e) => {
                self.output("stderr", format!("Unable to retrieve goroutines: {e}\n"));
                Vec::new()
            }
        };
        self.dummy_thread = threads.is_empty();
        if threads.is_empty() {
            self.respond(req, Some(dummy_threads()));
        } else {
            self.respond(req, Some(json!({ "threads": threads })));
        }
        Ok(())
    }

    fn thread_list(
        &self,
        gs: Vec<GoroutineSummary>,
        selected: Option<Goid>,
        now: u64,
    ) -> Vec<Value> {
        let idx = super::index::ready(&self.goindex);
        let keep = |g: &GoroutineSummary| Some(g.goid) == selected || Some(g.goid) == self.focus;
        let mut gs: Vec<GoroutineSummary> = gs
            .into_iter()
            .filter(|g| !(self.cfg.hide_system_goroutines && g.system) || keep(g))
            .collect();
        if gs.len() > MAX_GOROUTINES {
            self.output(
                "console",
                format!("Too many goroutines, only loaded {MAX_GOROUTINES}"),
            );
            let extra: Vec<GoroutineSummary> = gs[MAX_GOROUTINES..]
                .iter()
                .filter(|g| keep(g))
                .cloned()
                .collect();
            gs.truncate(MAX_GOROUTINES);
            gs.extend(extra);
        }
        gs.iter()
            .map(|g| {
                let mut name = thread_name(g, selected, &self.cfg.show_pprof_labels);
                if let Some(w) = idx.as_ref().and_then(|i| i.lock_wait_at(g.goid, now)) {
                    name.push_str(&lock_note(w));
                }
                json!({"id": i32ish(g.goid), "name": name})
            })
            .collect()
    }

    fn goid_arg(&self, req: &Request, err: impl Fn(String) -> ReqError) -> HResult<Goid> {
        let t = need_i64(&req.args, "threadId")?;
        if t <= 0 {
            return Err(err(format!("no goroutine {t}")));
        }
        Ok(t as Goid)
    }

    pub async fn on_stack_trace(&mut self, req: &Request) -> HResult {
        self.require_loaded()?;
        let err = |d: String| {
            ReqError::new(
                ids::UNABLE_TO_PRODUCE_STACK_TRACE,
                "Unable to produce stack trace",
                d,
            )
        };
        let goid = self.goid_arg(req, err)?;
        let start = get_i64(&req.args, "startFrame")?.unwrap_or(0).max(0) as usize;
        let depth = self.cfg.stack_trace_depth;
        let levels = match get_i64(&req.args, "levels")? {
            Some(l) if l > 0 => l as usize,
            _ => depth,
        };
        let r = self.engine(move |t| t.stack(goid, start, levels)).await;
        let (frames, more) = match r {
            // The placeholder thread of a moment without goroutines (the
            // start of the recording): no frames, not an error.
            Err(_) if self.dummy_thread && goid == 1 => (Vec::new(), false),
            r => r.map_err(|e| err(e.0))?,
        };
        let mut out = Vec::with_capacity(frames.len());
        for (i, f) in frames.iter().enumerate() {
            let id = self.handles.frame_id(goid, start + i, &f.function);
            let mut v = json!({
                "id": id,
                "name": fn_name(&f.function),
                "line": 0,
                "column": 0,
                "instructionPointerReference": format!("{:#x}", f.pc),
            });
            if !f.file.is_empty() {
                let path = paths::to_client(&self.cfg.substitute_path, &f.file);
                v["source"] = json!({"name": paths::basename(&path), "path": path});
                v["line"] = f.line.into();
            }
            if f.runtime {
                v["presentationHint"] = "subtle".into();
            }
            out.push(v);
        }
        // Delve's trick: an unknown total keeps the client paging.
        let total = start + out.len() + if more { depth } else { 0 };
        self.respond(
            req,
            Some(json!({"stackFrames": out, "totalFrames": i32ish(total as u64)})),
        );
        Ok(())
    }

    pub fn on_scopes(&mut self, req: &Request) -> HResult {
        self.require_loaded()?;
        let id = need_i64(&req.args, "frameId")?;
        let f = self.handles.frame(id).cloned().ok_or_else(|| {
            ReqError::new(
                ids::UNABLE_TO_LIST_LOCALS,
                "Unable to list locals",
                format!("unknown frame id {id}"),
            )
        })?;
        let mut scope = |kind| {
            self.handles.var_ref(VarRef::Scope {
                goid: f.goid,
                frame: f.index,
                kind,
            })
        };
        let (a, l, g) = (
            scope(ScopeKind::Arguments),
            scope(ScopeKind::Locals),
            scope(ScopeKind::Globals),
        );
        let package = package_of(&f.function);
        self.respond(
            req,
            Some(json!({"scopes": [
                {"name": "Arguments", "presentationHint": "arguments", "variablesReference": a, "expensive": false},
                {"name": "Locals", "presentationHint": "locals", "variablesReference": l, "expensive": false},
                {"name": format!("Globals (package {package})"), "variablesReference": g, "expensive": true},
            ]})),
        );
        Ok(())
    }

    pub async fn on_variables(&mut self, req: &Request) -> HResult {
        self.require_loaded()?;
        let r = need_i64(&req.args, "variablesReference")?;
        let start = get_i64(&req.args, "start")?.unwrap_or(0).max(0) as u64;
        let count = get_i64(&req.args, "count")?.unwrap_or(0).max(0) as u64;
        let filter = get_str(&req.args, "filter")?;
        let lookup = |d: String| {
            ReqError::new(
                ids::UNABLE_TO_LOOKUP_VARIABLE,
                "Unable to lookup variable",
                d,
            )
        };
        let var = self
            .handles
            .var(r)
            .ok_or_else(|| lookup(format!("unknown reference {r}")))?;
        let values = match var {
            VarRef::Scope { goid, frame, kind } => {
                let (id, what) = match kind {
                    ScopeKind::Arguments => (ids::UNABLE_TO_LIST_ARGS, "Unable to list args"),
                    ScopeKind::Locals => (ids::UNABLE_TO_LIST_LOCALS, "Unable to list locals"),
                    ScopeKind::Globals => (ids::UNABLE_TO_LIST_GLOBALS, "Unable to list globals"),
                };
                let mut vs = self
                    .engine(move |t| t.scope(goid, frame, kind))
                    .await
                    .map_err(|e| ReqError::new(id, what, e.0))?;
                let from = (start as usize).min(vs.len());
                vs.drain(..from);
                if count > 0 {
                    vs.truncate(count as usize);
                }
                vs
            }
            VarRef::Children { of, indexed, named } => {
                // The engine lists a value's named children (a map's `len()`)
                // first, then the indexed ones.
                let named = named.unwrap_or(0);
                if filter == Some("named") && indexed.unwrap_or(0) > 0 && named == 0 {
                    Vec::new()
                } else {
                    let (start, count) = match filter {
                        Some("named") if named > 0 => (0, named),
                        Some("named") => (0, 0),
                        Some("indexed") => (start + named, count),
                        _ => (start, count),
                    };
                    self.engine(move |t| t.children(of, start, count))
                        .await
                        .map_err(|e| lookup(e.0))?
                }
            }
        };
        let vars: Vec<Value> = values.iter().map(|v| self.variable(v)).collect();
        self.respond(req, Some(json!({ "variables": vars })));
        Ok(())
    }

    /// A Go value as a DAP `Variable` (also the body of an `evaluate`).
    fn variable(&mut self, v: &GoValue) -> Value {
        let r = match v.children {
            Some(of) => self.handles.var_ref(VarRef::Children {
                of,
                indexed: v.indexed,
                named: v.named,
            }),
            None => 0,
        };
        let mut out = json!({"name": v.name, "value": v.value, "variablesReference": r});
        if !v.type_name.is_empty() {
            out["type"] = v.type_name.clone().into();
        }
        if r > 0 {
            put(
                &mut out,
                "indexedVariables",
                v.indexed.filter(|n| *n > 0).map(i32ish),
            );
            put(
                &mut out,
                "namedVariables",
                v.named.filter(|n| *n > 0).map(i32ish),
            );
        }
        put(&mut out, "evaluateName", v.evaluate_name.clone());
        if self.client.memory_references {
            put(
                &mut out,
                "memoryReference",
                v.address.map(|a| format!("{a:#x}")),
            );
        }
        out
    }

    pub async fn on_evaluate(&mut self, req: &Request) -> HResult {
        let expr = get_str(&req.args, "expression")?
            .ok_or_else(|| ReqError::invalid("'expression' is missing"))?
            .to_string();
        let context = get_str(&req.args, "context")?.unwrap_or("");
        // Delve shows errors in the UI except where the client shows them inline.
        let show = !matches!(context, "watch" | "repl" | "hover");
        let err = |d: String| {
            ReqError::new(
                ids::UNABLE_TO_EVALUATE_EXPRESSION,
                "Unable to evaluate expression",
                d,
            )
            .shown(show)
        };
        if let Some(cmd) = repl::dlv_command(&expr) {
            let text = self.dlv(cmd).await.map_err(|e| err(e.detail))?;
            self.respond(req, Some(json!({"result": text, "variablesReference": 0})));
            return Ok(());
        }
        self.require_loaded()?;
        if repl::is_call(&expr) {
            return Err(err(
                "function calls are not possible in a replay (the recorded program cannot run new code)"
                    .into(),
            ));
        }
        let (goid, frame) = match get_i64(&req.args, "frameId")? {
            Some(id) => {
                let f = self
                    .handles
                    .frame(id)
                    .ok_or_else(|| err(format!("unknown frame id {id}")))?;
                (Some(f.goid), f.index)
            }
            None => (None, 0),
        };
        // Delve reloads a string result with 4 KiB where one value is read
        // on its own (a watch shows 512 bytes, as variables do), and sends
        // the whole rendering where it is copied.
        let shown = Shown {
            max_string: match context {
                "repl" | "variables" | "hover" | "clipboard" => 4096,
                _ => Shown::WATCH.max_string,
            },
            full: matches!(context, "variables" | "clipboard"),
        };
        let v = self
            .engine(move |t| t.evaluate_with(&expr, goid, frame, shown))
            .await
            .map_err(|e| err(e.0))?;
        let var = self.variable(&v);
        let mut body = json!({"result": v.value, "variablesReference": var["variablesReference"]});
        for k in [
            "type",
            "indexedVariables",
            "namedVariables",
            "memoryReference",
        ] {
            if let Some(x) = var.get(k) {
                body[k] = x.clone();
            }
        }
        self.respond(req, Some(body));
        Ok(())
    }

    pub async fn on_exception_info(&mut self, req: &Request) -> HResult {
        self.require_loaded()?;
        let err = |d: String| {
            ReqError::new(
                ids::UNABLE_TO_GET_EXCEPTION_INFO,
                "Unable to get exception information",
                d,
            )
        };
        let goid = self.goid_arg(req, err)?;
        if let Some(msg) = &self.runtime_error {
            self.respond(
                req,
                Some(json!({"exceptionId": "runtime error", "description": msg,
                            "breakMode": "unhandled", "details": {"message": msg}})),
            );
            return Ok(());
        }
        let d = self
            .engine(move |t| t.exception(goid))
            .await
            .map_err(|e| err(e.0))?;
        let mut details = json!({"message": d.description, "stackTrace": d.stack});
        put(&mut details, "typeName", d.type_name);
        self.respond(
            req,
            Some(json!({"exceptionId": d.id, "description": d.description,
                        "breakMode": "unhandled", "details": details})),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names() {
        assert_eq!(fn_name("main.worker"), "main.worker");
        assert_eq!(fn_name("github.com/a/b.(*T).M"), "b.(*T).M");
        assert_eq!(
            fn_name("gopkg.in/yaml.v3.(*parser).parse"),
            "yaml.v3.(*parser).parse"
        );
        assert_eq!(
            fn_name("example.com/x/y.F[go.shape.*example.com/z.T]"),
            "y.F[go.shape.*example.com/z.T]"
        );
        assert_eq!(fn_name("github.com/a/b.F.func1"), "b.F.func1");
        assert_eq!(fn_name(""), "???");
        assert_eq!(package_of("main.main.func1"), "main");
        assert_eq!(package_of("github.com/a/b.(*T).M"), "github.com/a/b");
        // Go escapes dots in the last path element of symbol names.
        assert_eq!(
            package_of("gopkg.in/yaml%2ev3.(*parser).parse"),
            "gopkg.in/yaml%2ev3"
        );
        assert_eq!(package_of("runtime.gopark"), "runtime");
    }

    #[test]
    fn names_like_delve() {
        let mut g = GoroutineSummary {
            goid: 17,
            function: "example.com/app/work.worker".into(),
            thread: Some(4242),
            labels: vec![("k".into(), "v".into()), ("j".into(), "w".into())],
            system: false,
        };
        assert_eq!(
            thread_name(&g, Some(17), &[]),
            "* [Go 17] work.worker (Thread 4242)"
        );
        g.thread = None;
        assert_eq!(thread_name(&g, Some(1), &[]), "[Go 17] work.worker");
        assert_eq!(
            thread_name(&g, None, &["k".into()]),
            "[Go 17 v] work.worker"
        );
        assert_eq!(
            thread_name(&g, None, &["k".into(), "j".into(), "x".into()]),
            "[Go 17 k:v j:w] work.worker"
        );
    }
}
