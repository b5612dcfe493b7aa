//! continue, next, stepIn, stepOut, stepBack, reverseContinue, restartFrame,
//! and the `stopped` event that ends each of them.

use serde_json::json;

use super::json::{get_i64, get_str, i32ish, need_i64, put, HResult, ReqError};
use super::session::{Request, Session};
use crate::debugger::api::{ExceptionKind, Goid, Granularity, Motion, Stop, StopReason};

impl Session {
    /// The response goes first, then the motion runs and a `stopped` event follows.
    pub fn on_motion_request(&mut self, req: &Request) -> HResult {
        self.require_loaded()?;
        let thread = get_i64(&req.args, "threadId")?;
        let granularity = match get_str(&req.args, "granularity")? {
            Some("instruction") => Granularity::Instruction,
            _ => Granularity::Line,
        };
        // The goroutine to step on; the dummy thread stands for none.
        let goid: Option<Goid> = thread
            .filter(|t| *t > 0 && !(self.dummy_thread && *t == 1))
            .map(|t| t as Goid);
        let (motion, goid) = match req.command.as_str() {
            "continue" => (Motion::Continue, None),
            "reverseContinue" => (Motion::ReverseContinue, None),
            "next" => (Motion::Next, goid),
            "stepIn" => (Motion::StepIn, goid),
            "stepOut" => (Motion::StepOut, goid),
            "stepBack" => (Motion::StepBack, goid),
            other => return Err(ReqError::unsupported(other)),
        };
        let body = (motion == Motion::Continue).then(|| json!({"allThreadsContinued": true}));
        self.respond(req, body);
        self.start_motion(Session::new_motion(motion, goid, granularity));
        Ok(())
    }

    /// Rewinds to the call of a frame's function: one reverse step-out per
    /// frame up to and including it. Ends with `stopped` reason `restart`.
    pub fn on_restart_frame(&mut self, req: &Request) -> HResult {
        self.require_loaded()?;
        let id = need_i64(&req.args, "frameId")?;
        let frame = self
            .handles
            .frame(id)
            .cloned()
            .ok_or_else(|| ReqError::invalid(format!("unknown frame id {id}")))?;
        self.respond(req, None);
        let mut run =
            Session::new_motion(Motion::ReverseStepOut, Some(frame.goid), Granularity::Line);
        run.repeat = frame.index + 1;
        run.restart = true;
        self.start_motion(run);
        Ok(())
    }

    pub fn send_stopped(&self, stop: &Stop, selected: Option<Goid>, restart: bool) {
        // At the start of the recording no goroutine exists yet: the one the
        // user had selected would be named but not listed (VS Code then
        // asked for its stack and showed the error); the placeholder is.
        let at_start = matches!(stop.reason, StopReason::StartOfRecording);
        let thread = stop
            .goid
            .or(selected.filter(|_| !at_start))
            .or(self.focus.filter(|_| !at_start))
            .map(i32ish)
            .unwrap_or(1);
        let mut hit: Option<&[u32]> = None;
        let (reason, description, text) = match &stop.reason {
            StopReason::Breakpoint { ids } => {
                hit = Some(ids);
                ("breakpoint", None, None)
            }
            StopReason::FunctionBreakpoint { ids } => {
                hit = Some(ids);
                ("function breakpoint", None, None)
            }
            StopReason::DataBreakpoint { ids, text } => {
                hit = Some(ids);
                ("data breakpoint", None, Some(text.as_str()))
            }
            StopReason::WatchOutOfScope { text, .. } => (
                "data breakpoint",
                Some("watchpoint out of scope"),
                Some(text.as_str()),
            ),
            StopReason::InstructionBreakpoint { ids } => {
                hit = Some(ids);
                ("instruction breakpoint", None, None)
            }
            StopReason::Step if restart => ("restart", None, None),
            StopReason::Step => ("step", None, None),
            StopReason::Pause => ("pause", None, None),
            StopReason::Exception { kind, text } => {
                let d = match kind {
                    ExceptionKind::Panic => "panic",
                    ExceptionKind::FatalError => "fatal error",
                };
                ("exception", Some(d), Some(text.as_str()))
            }
            // Still stopped, not terminated: the user can go backwards.
            StopReason::EndOfRecording => ("pause", Some("end of recording"), None),
            StopReason::StartOfRecording => ("entry", Some("start of recording"), None),
        };
        if matches!(
            stop.reason,
            StopReason::EndOfRecording | StopReason::StartOfRecording
        ) && !stop.description.is_empty()
        {
            self.output("console", format!("rrgo: {}", stop.description));
        }
        let mut body = json!({"reason": reason, "threadId": thread, "allThreadsStopped": true});
        put(&mut body, "description", description);
        put(&mut body, "text", text);
        if let Some(ids) = hit.filter(|ids| !ids.is_empty()) {
            put(&mut body, "hitBreakpointIds", Some(ids.to_vec()));
        }
        self.event("stopped", body);
        if let StopReason::WatchOutOfScope { id, .. } = &stop.reason {
            self.event(
                "breakpoint",
                json!({"reason": "removed", "breakpoint": {"id": id, "verified": false}}),
            );
        }
    }
}
