//! initialize, attach/launch, configurationDone (disconnect is in the
//! session loop: it must wait for a running motion).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tracing::warn;

use super::access;
use super::config::Config;
use super::json::{get_bool, get_str, ids, HResult, ReqError};
use super::session::{Request, Session};
use crate::debugger::api::{EngineError, Granularity, Motion};

/// What rrgo supports, and only that.
pub fn capabilities() -> Value {
    json!({
        "supportsConfigurationDoneRequest": true,
        "supportsConditionalBreakpoints": true,
        "supportsHitConditionalBreakpoints": true,
        "supportsFunctionBreakpoints": true,
        "supportsDataBreakpoints": true,
        "supportsLogPoints": true,
        "supportsDelayedStackTraceLoading": true,
        "supportsEvaluateForHovers": true,
        "supportsClipboardContext": true,
        "supportsExceptionInfoRequest": true,
        "supportsSteppingGranularity": true,
        "supportsStepBack": true,
        "supportsRestartFrame": true,
        "supportsDisassembleRequest": true,
        "supportsReadMemoryRequest": true,
        "supportsInstructionBreakpoints": true,
        "supportTerminateDebuggee": false,
        "supportsTerminateRequest": false,
        "exceptionBreakpointFilters": [
            {"filter": "unrecovered-panic", "label": "Unrecovered Panics", "default": true},
            {"filter": "runtime-fatal-throw", "label": "Fatal Throws", "default": true},
        ],
    })
}

impl Session {
    pub fn on_initialize(&mut self, req: &Request) -> HResult {
        let a = &req.args;
        let fail = |d: String| ReqError::new(ids::FAILED_TO_INITIALIZE, "Failed to initialize", d);
        if let Some(f) = get_str(a, "pathFormat")? {
            if f != "path" {
                return Err(fail(format!("Unsupported 'pathFormat' value '{f}'.")));
            }
        }
        if get_bool(a, "linesStartAt1")? == Some(false) {
            return Err(fail("Only 1-based line numbers are supported.".into()));
        }
        let flag = |k: &str| get_bool(a, k).ok().flatten().unwrap_or(false);
        self.client.progress = flag("supportsProgressReporting");
        self.client.invalidated = flag("supportsInvalidatedEvent");
        self.client.memory_references = flag("supportsMemoryReferences");
        self.respond(req, Some(capabilities()));
        Ok(())
    }

    /// `attach` (vscode-go `mode: remote`: the trace from the command line)
    /// or `launch` (`mode: replay` with `traceDirPath`, which `access` must
    /// allow). A missing or wrong token ends the connection.
    pub async fn on_attach(&mut self, req: &Request) -> HResult {
        let launch = req.command == "launch";
        let (id, summary) = if launch {
            (ids::FAILED_TO_LAUNCH, "Failed to launch")
        } else {
            (ids::FAILED_TO_ATTACH, "Failed to attach")
        };
        let fail = |d: String| ReqError::new(id, summary, d);
        if let Err(why) = access::check_token(&self.opts, &req.args) {
            warn!("DAP {}: refused: {why}", req.command);
            self.hang_up = true;
            return Err(fail(why));
        }
        if self.loaded {
            return Err(fail(
                "this debug session already has a recording loaded".into(),
            ));
        }
        let invalid = |e: ReqError| fail(format!("invalid debug configuration - {}", e.detail));
        let cfg = Config::from_args(&req.args).map_err(invalid)?;
        let mode = get_str(&req.args, "mode").map_err(invalid)?;
        let trace = if launch {
            match mode {
                None | Some("replay") => {}
                Some(m) => {
                    return Err(fail(format!(
                        "mode \"{m}\" is not supported: rrgo replays recordings; \
                         launch with \"mode\": \"replay\" and \"traceDirPath\", \
                         or attach with \"mode\": \"remote\""
                    )))
                }
            }
            match get_str(&req.args, "traceDirPath").map_err(invalid)? {
                Some(p) if !p.is_empty() => {
                    let allowed = access::launch_trace(&self.opts, p);
                    Some(
                        allowed
                            .inspect_err(|why| warn!("DAP launch refused: {why}"))
                            .map_err(fail)?,
                    )
                }
                _ => self.opts.trace.clone(),
            }
        } else {
            if mode == Some("local") {
                return Err(fail(
                    "rrgo cannot attach to a running process (\"mode\": \"local\"); \
                     attach with \"mode\": \"remote\" to debug the recording"
                        .into(),
                ));
            }
            self.opts.trace.clone()
        };
        self.open(req.seq, trace).await.map_err(|e| fail(e.0))?;
        self.cfg = cfg;
        self.loaded = true;
        // The goroutine index, built meanwhile in the background: the
        // threads view names lock holders once it is there.
        let background = std::env::var("RRGO_DAP_INDEX").map_or(true, |v| v != "0");
        if let (true, Ok(Some(dir))) = (background, self.engine(|t| Ok(t.trace_dir())).await) {
            let slot = self.goindex.clone();
            tokio::spawn(async move {
                if let Err(e) = super::index::get(&slot, dir, true).await {
                    tracing::debug!("no goroutine index: {e}");
                }
            });
        }
        if let Ok(p) = self.engine(|t| Ok(t.position())).await {
            self.output(
                "console",
                format!(
                    "rrgo: replaying a recording of {} events (now at event {})",
                    p.total_events, p.event
                ),
            );
        }
        // Delve's order: `initialized`, then the response.
        self.send(super::json::event("initialized", None));
        self.respond(req, None);
        Ok(())
    }

    /// Loads the recording, reporting progress if the client shows it.
    async fn open(&mut self, request_seq: i64, trace: Option<PathBuf>) -> Result<(), EngineError> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let handle = self.handle.clone();
        let fut = handle.open(trace, tx);
        tokio::pin!(fut);
        let progress_id = self.client.progress.then(|| {
            self.progress_ids += 1;
            format!("rrgo-load-{}", self.progress_ids)
        });
        if let Some(id) = &progress_id {
            self.event(
                "progressStart",
                json!({"progressId": id, "title": "Loading the recording", "requestId": request_seq}),
            );
        }
        let mut last: Option<(u64, Instant)> = None;
        let result = loop {
            tokio::select! {
                r = &mut fut => break r,
                Some((done, total)) = rx.recv() => {
                    let Some(id) = &progress_id else { continue };
                    let pct = done.min(total).saturating_mul(100).checked_div(total).unwrap_or(0);
                    // At most one update per percent and per 100 ms.
                    let due = last.is_none_or(|(p, t)| pct != p && t.elapsed() >= Duration::from_millis(100));
                    if due {
                        last = Some((pct, Instant::now()));
                        self.event("progressUpdate", json!({
                            "progressId": id, "percentage": pct, "message": format!("{done} of {total}"),
                        }));
                    }
                }
            }
        };
        if let Some(id) = &progress_id {
            let message = if result.is_ok() { "loaded" } else { "failed" };
            self.event("progressEnd", json!({"progressId": id, "message": message}));
        }
        result
    }

    pub async fn on_configuration_done(&mut self, req: &Request) -> HResult {
        self.require_loaded()?;
        self.respond(req, None);
        self.output("console", "Type 'dlv help' for list of commands.");
        if self.cfg.stop_on_entry {
            let selected = self
                .engine(|t| Ok(t.selected_goroutine()))
                .await
                .ok()
                .flatten();
            self.focus = selected;
            let thread = selected.map(super::json::i32ish).unwrap_or(1);
            self.event(
                "stopped",
                json!({"reason": "entry", "threadId": thread, "allThreadsStopped": true}),
            );
        } else {
            self.start_motion(Session::new_motion(
                Motion::Continue,
                None,
                Granularity::Line,
            ));
        }
        Ok(())
    }
}
