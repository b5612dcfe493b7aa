//! One client connection, one debug session.
//!
//! Three tasks per connection: a reader (frames → requests), a writer
//! (messages → frames, numbering them), and this session loop, which owns
//! all state. Requests are handled one at a time, in order. A motion
//! (continue, step…) runs as its own task on the engine thread; while it
//! runs, `pause`, `threads`, `disconnect` and `dlv config` are answered at
//! once, and every other request waits in a queue until the motion stops
//! (the engine can do nothing else meanwhile). Breakpoint changes during a
//! continue pause it quietly, are applied, and the continue goes on.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::access::ServeOptions;
use super::config::Config;
use super::framing::{read_frame, write_frame, FrameError};
use super::json::{self, ids, HResult, ReqError};
use super::repl;
use crate::debugger::api::{
    ChildrenRef, DebugTarget, EResult, Goid, Granularity, Motion, OutputChunk, ScopeKind, Stop,
    StopReason,
};
use crate::debugger::handle::EngineHandle;

/// A parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    pub seq: i64,
    pub command: String,
    /// The `arguments` object, or Null.
    pub args: Value,
}

enum Incoming {
    Body(Vec<u8>),
    /// The client announced a body over the size limit; the stream cannot be resynchronised.
    TooLarge(usize),
    Broken(FrameError),
    Closed,
}

/// What a motion task reports back.
pub struct MotionOutcome {
    pub stop: EResult<Stop>,
    pub output: Vec<OutputChunk>,
    pub selected: Option<Goid>,
}

/// The motion in progress.
pub struct Running {
    pub motion: Motion,
    pub goid: Option<Goid>,
    pub granularity: Granularity,
    /// How many times to repeat the motion while it ends with a plain step
    /// (restartFrame: one reverse step-out per frame).
    pub repeat: usize,
    /// Report a plain step as DAP's `restart`.
    pub restart: bool,
    /// Paused only to apply breakpoint changes: resume after them.
    pub resume_after: bool,
    /// The user asked for a pause.
    pub user_paused: bool,
    /// Re-sends the interrupt until the motion notices it.
    ticker: Option<JoinHandle<()>>,
}

/// Client capabilities from `initialize` that change what we send.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClientCaps {
    pub progress: bool,
    pub invalidated: bool,
    pub memory_references: bool,
}

#[derive(Debug, Clone)]
pub struct FrameRef {
    pub goid: Goid,
    pub index: usize,
    pub function: String,
}

#[derive(Debug, Clone, Copy)]
pub enum VarRef {
    Scope {
        goid: Goid,
        frame: usize,
        kind: ScopeKind,
    },
    Children {
        of: ChildrenRef,
        indexed: Option<u64>,
        named: Option<u64>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum VarKey {
    Scope(Goid, usize, u8),
    Children(ChildrenRef),
}

/// Frame ids and variable references: valid until the next motion.
#[derive(Debug, Default)]
pub struct Handles {
    frames: Vec<FrameRef>,
    frame_ids: HashMap<(Goid, usize), i64>,
    vars: Vec<VarRef>,
    var_ids: HashMap<VarKey, i64>,
}

/// Handles start here (as Delve's), so they are not confused with thread ids.
const FIRST_HANDLE: i64 = 1000;

impl Handles {
    pub fn reset(&mut self) {
        *self = Handles::default();
    }

    pub fn frame_id(&mut self, goid: Goid, index: usize, function: &str) -> i64 {
        if let Some(id) = self.frame_ids.get(&(goid, index)) {
            return *id;
        }
        self.frames.push(FrameRef {
            goid,
            index,
            function: function.to_string(),
        });
        let id = FIRST_HANDLE + self.frames.len() as i64 - 1;
        self.frame_ids.insert((goid, index), id);
        id
    }

    pub fn frame(&self, id: i64) -> Option<&FrameRef> {
        usize::try_from(id - FIRST_HANDLE)
            .ok()
            .and_then(|i| self.frames.get(i))
    }

    pub fn var_ref(&mut self, r: VarRef) -> i64 {
        let key = match r {
            VarRef::Scope { goid, frame, kind } => VarKey::Scope(goid, frame, kind as u8),
            VarRef::Children { of, .. } => VarKey::Children(of),
        };
        if let Some(id) = self.var_ids.get(&key) {
            return *id;
        }
        self.vars.push(r);
        let id = FIRST_HANDLE + self.vars.len() as i64 - 1;
        self.var_ids.insert(key, id);
        id
    }

    pub fn var(&self, id: i64) -> Option<VarRef> {
        usize::try_from(id - FIRST_HANDLE)
            .ok()
            .and_then(|i| self.vars.get(i))
            .copied()
    }
}

pub struct Session {
    pub handle: EngineHandle,
    /// How the server was started: the trace, who may open what.
    pub opts: Arc<ServeOptions>,
    /// End the session once the responses so far are sent (a refused token).
    pub hang_up: bool,
    out: mpsc::UnboundedSender<Value>,
    motion_tx: mpsc::UnboundedSender<MotionOutcome>,
    pub client: ClientCaps,
    pub cfg: Config,
    /// attach/launch opened the recording.
    pub loaded: bool,
    pub handles: Handles,
    pub motion: Option<Running>,
    pending: VecDeque<Request>,
    /// The last motion failed with this (reported as a "runtime error" exception).
    pub runtime_error: Option<String>,
    /// The goroutine the last stop focused.
    pub focus: Option<Goid>,
    /// The last `threads` answer was the dummy thread 1.
    pub dummy_thread: bool,
    pub progress_ids: u32,
    /// The recording's goroutine index (`dap::index`).
    pub goindex: super::index::IndexSlot,
}

/// Serves one client until it disconnects, the connection breaks, or it
/// starts no debug session within the handshake timeout. `peer` names it in
/// logs. True if it opened the recording (a debug session took place).
pub async fn run<R, W>(
    read: R,
    write: W,
    handle: EngineHandle,
    opts: Arc<ServeOptions>,
    peer: String,
) -> bool
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_loop(write, out_rx));
    let (in_tx, mut in_rx) = mpsc::channel(64);
    let reader = tokio::spawn(read_loop(read, in_tx));
    let (motion_tx, mut motion_rx) = mpsc::unbounded_channel();
    let mut s = Session {
        handle,
        opts,
        hang_up: false,
        out: out_tx,
        motion_tx,
        client: ClientCaps::default(),
        cfg: Config::default(),
        loaded: false,
        handles: Handles::default(),
        motion: None,
        pending: VecDeque::new(),
        runtime_error: None,
        focus: None,
        dummy_thread: false,
        progress_ids: 0,
        goindex: Default::default(),
    };
    let mut handshake = s.opts.handshake_timeout.map(|t| (t, Instant::now() + t));
    loop {
        // Until a recording is loaded, the client must keep the handshake going.
        let deadline = handshake.filter(|_| !s.loaded).map(|(_, d)| d);
        tokio::select! {
            Some(outcome) = motion_rx.recv() => s.on_motion_done(outcome).await,
            _ = sleep_until_some(deadline) => {
                let t = handshake.map(|(t, _)| t.as_secs_f64()).unwrap_or_default();
                s.drop_silent(&peer, t);
                break;
            }
            incoming = in_rx.recv() => match incoming {
                Some(Incoming::Body(body)) => match parse(&body) {
                    Parsed::Request(req) if req.command == "disconnect" => {
                        s.stop_motion(&mut motion_rx).await;
                        s.respond(&req, None);
                        break;
                    }
                    Parsed::Request(req) => {
                        let started = Instant::now();
                        s.on_request(req).await;
                        // Time rrgo spends (loading the recording) is not the client's.
                        if let Some((_, d)) = &mut handshake {
                            *d += started.elapsed();
                        }
                        if s.hang_up {
                            break;
                        }
                    }
                    Parsed::Ignore => {}
                    Parsed::Bad(resp) => s.send(resp),
                },
                Some(Incoming::TooLarge(n)) => {
                    let e = ReqError::invalid(format!(
                        "message of {n} bytes is over the {} MiB limit; closing the connection",
                        super::framing::MAX_BODY >> 20
                    ));
                    s.send(json::error_response(0, "unknown", &e));
                    break;
                }
                Some(Incoming::Broken(e)) => {
                    warn!("DAP connection dropped: {e}");
                    break;
                }
                Some(Incoming::Closed) | None => break,
            }
        }
    }
    s.finish(&mut motion_rx).await;
    let loaded = s.loaded;
    drop(s);
    let _ = writer.await;
    reader.abort();
    loaded
}

/// Sleeps until `deadline`; never returns without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn read_loop<R: AsyncRead + Unpin>(read: R, tx: mpsc::Sender<Incoming>) {
    let mut r = BufReader::new(read);
    loop {
        let msg = match read_frame(&mut r).await {
            Ok(Some(body)) => Incoming::Body(body),
            Ok(None) => Incoming::Closed,
            Err(FrameError::TooLarge(n)) => Incoming::TooLarge(n),
            Err(e) => Incoming::Broken(e),
        };
        let end = !matches!(msg, Incoming::Body(_));
        if tx.send(msg).await.is_err() || end {
            return;
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(mut w: W, mut rx: mpsc::UnboundedReceiver<Value>) {
    let mut seq: i64 = 1;
    while let Some(mut v) = rx.recv().await {
        if let Some(m) = v.as_object_mut() {
            m.insert("seq".into(), seq.into());
        }
        seq += 1;
        let body = serde_json::to_vec(&v).unwrap_or_default();
        debug!("-> {}", String::from_utf8_lossy(&body));
        if let Err(e) = write_frame(&mut w, &body).await {
            debug!("DAP client gone while writing: {e}");
            return;
        }
    }
    let _ = w.shutdown().await;
}

enum Parsed {
    Request(Request),
    /// A response from the client (we send no reverse requests).
    Ignore,
    /// An error response to send.
    Bad(Value),
}

fn parse(body: &[u8]) -> Parsed {
    debug!("<- {}", String::from_utf8_lossy(body));
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            let e = ReqError::invalid(format!("the message is not JSON ({e})"));
            return Parsed::Bad(json::error_response(0, "unknown", &e));
        }
    };
    let seq = v.get("seq").and_then(Value::as_i64).filter(|s| *s > 0);
    let command = v.get("command").and_then(Value::as_str);
    let bad = |detail: &str| {
        let e = ReqError::invalid(detail);
        Parsed::Bad(json::error_response(
            seq.unwrap_or(0),
            command.unwrap_or("unknown"),
            &e,
        ))
    };
    if !v.is_object() {
        return bad("a message must be a JSON object");
    }
    match v.get("type").and_then(Value::as_str) {
        Some("request") => {}
        Some("response") => return Parsed::Ignore,
        Some(t) => return bad(&format!("cannot process a message of type {t:?}")),
        None => return bad("'type' is missing"),
    }
    let Some(seq) = seq else {
        return bad("'seq' must be a positive integer");
    };
    let Some(command) = command else {
        return bad("'command' must be a string");
    };
    let args = v.get("arguments").cloned().unwrap_or(Value::Null);
    if !(args.is_object() || args.is_null()) {
        return bad("'arguments' must be an object");
    }
    Parsed::Request(Request {
        seq,
        command: command.to_string(),
        args,
    })
}

impl Session {
    pub fn send(&self, v: Value) {
        // A closed writer means the client is gone; the reader notices.
        let _ = self.out.send(v);
    }

    pub fn respond(&self, req: &Request, body: Option<Value>) {
        self.send(json::response(req.seq, &req.command, body));
    }

    pub fn event(&self, name: &str, body: Value) {
        self.send(json::event(name, Some(body)));
    }

    /// An `output` event; `console` is the debugger's own voice.
    pub fn output(&self, category: &str, text: impl Into<String>) {
        let mut text = text.into();
        if text.is_empty() {
            return;
        }
        if category == "console" && !text.ends_with('\n') {
            text.push('\n');
        }
        self.event("output", json!({"category": category, "output": text}));
    }

    /// Runs `f` against the loaded recording on the engine thread.
    pub async fn engine<R, F>(&self, f: F) -> EResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn DebugTarget) -> EResult<R> + Send + 'static,
    {
        self.handle.call(f).await
    }

    pub fn require_loaded(&self) -> HResult {
        if self.loaded {
            Ok(())
        } else {
            Err(ReqError::new(
                ids::NOT_LOADED,
                "No recording loaded",
                "send 'attach' or 'launch' first",
            ))
        }
    }

    async fn on_request(&mut self, req: Request) {
        if let Some(run) = &mut self.motion {
            match req.command.as_str() {
                "pause" => {
                    run.user_paused = true;
                    self.keep_interrupting();
                    self.respond(&req, None);
                    return;
                }
                "threads" => {
                    // Goroutines cannot be read while the replay runs.
                    self.respond(
                        &req,
                        Some(json!({"threads": [{"id": -1, "name": "Current"}]})),
                    );
                    return;
                }
                "evaluate" if repl::answers_while_running(&req.args) => {
                    self.dispatch(req).await;
                    return;
                }
                // Pause a continue quietly to apply the change, then go on.
                "setBreakpoints"
                | "setFunctionBreakpoints"
                | "setExceptionBreakpoints"
                | "setInstructionBreakpoints"
                    if matches!(run.motion, Motion::Continue | Motion::ReverseContinue)
                        && !run.user_paused =>
                {
                    run.resume_after = true;
                    self.keep_interrupting();
                }
                _ => {}
            }
            debug!("{} waits for the running motion to stop", req.command);
            self.pending.push_back(req);
            return;
        }
        self.dispatch(req).await
    }

    pub async fn dispatch(&mut self, req: Request) {
        let r = match req.command.as_str() {
            "initialize" => self.on_initialize(&req),
            "attach" | "launch" => self.on_attach(&req).await,
            "configurationDone" => self.on_configuration_done(&req).await,
            "setBreakpoints" => self.on_set_breakpoints(&req).await,
            "setFunctionBreakpoints" => self.on_set_function_breakpoints(&req).await,
            "setExceptionBreakpoints" => self.on_set_exception_breakpoints(&req).await,
            "dataBreakpointInfo" => self.on_data_breakpoint_info(&req).await,
            "setDataBreakpoints" => self.on_set_data_breakpoints(&req).await,
            "setInstructionBreakpoints" => self.on_set_instruction_breakpoints(&req).await,
            "continue" | "next" | "stepIn" | "stepOut" | "stepBack" | "reverseContinue" => {
                self.on_motion_request(&req)
            }
            "restartFrame" => self.on_restart_frame(&req),
            "pause" | "disconnect" => {
                // Nothing runs: nothing to pause.
                self.respond(&req, None);
                Ok(())
            }
            "threads" => self.on_threads(&req).await,
            "stackTrace" => self.on_stack_trace(&req).await,
            "scopes" => self.on_scopes(&req),
            "variables" => self.on_variables(&req).await,
            "evaluate" => self.on_evaluate(&req).await,
            "exceptionInfo" => self.on_exception_info(&req).await,
            "disassemble" => self.on_disassemble(&req).await,
            "readMemory" => self.on_read_memory(&req).await,
            "writeMemory" => self.on_write_memory(&req),
            other => Err(ReqError::unsupported(other)),
        };
        if let Err(e) = r {
            debug!("{} failed: {}: {}", req.command, e.summary, e.detail);
            self.send(json::error_response(req.seq, &req.command, &e));
        }
    }

    /// Starts a motion on the engine thread; its outcome comes back to the
    /// session loop.
    pub fn start_motion(&mut self, mut run: Running) {
        self.handles.reset();
        self.runtime_error = None;
        let handle = self.handle.clone();
        let tx = self.motion_tx.clone();
        let (motion, goid, granularity, repeat) =
            (run.motion, run.goid, run.granularity, run.repeat.max(1));
        tokio::spawn(async move {
            let r = handle
                .call(move |t| {
                    let mut stop = t.resume(motion, goid, granularity);
                    for _ in 1..repeat {
                        match &stop {
                            Ok(s) if s.reason == StopReason::Step => {
                                stop = t.resume(motion, goid, granularity)
                            }
                            _ => break,
                        }
                    }
                    Ok(MotionOutcome {
                        stop,
                        output: t.take_output(),
                        selected: t.selected_goroutine(),
                    })
                })
                .await;
            let outcome = r.unwrap_or_else(|e| MotionOutcome {
                stop: Err(e),
                output: Vec::new(),
                selected: None,
            });
            let _ = tx.send(outcome);
        });
        run.ticker = None;
        self.motion = Some(run);
    }

    pub fn new_motion(motion: Motion, goid: Option<Goid>, granularity: Granularity) -> Running {
        Running {
            motion,
            goid,
            granularity,
            repeat: 1,
            restart: false,
            resume_after: false,
            user_paused: false,
            ticker: None,
        }
    }

    /// Interrupts the running motion, again every 50 ms until it stops: the
    /// engine clears a stale interrupt when a call starts, so one sent just
    /// before the motion's call began would be lost.
    fn keep_interrupting(&mut self) {
        let Some(run) = &mut self.motion else { return };
        if run.ticker.is_some() {
            return;
        }
        let handle = self.handle.clone();
        run.ticker = Some(tokio::spawn(async move {
            loop {
                handle.interrupt();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }

    async fn on_motion_done(&mut self, o: MotionOutcome) {
        let Some(mut run) = self.motion.take() else {
            return;
        };
        if let Some(t) = run.ticker.take() {
            t.abort();
        }
        self.forward_output(o.output);
        self.handles.reset();
        match o.stop {
            Ok(stop)
                if stop.reason == StopReason::Pause && run.resume_after && !run.user_paused =>
            {
                // Paused only to change breakpoints: apply them and go on.
                // A reverse-continue starts again where it began: its scan
                // stood somewhere before that.
                if run.motion == Motion::ReverseContinue {
                    if let Err(e) = self.handle.call(|t| t.rewind_paused_motion()).await {
                        self.output("stderr", format!("Unable to run: {e}\n"));
                    }
                }
                self.drain_pending().await;
                if self.motion.is_none() {
                    run.resume_after = false;
                    self.start_motion(run);
                }
                return;
            }
            Ok(stop) => {
                if let Some(g) = stop.goid.or(o.selected) {
                    self.focus = Some(g);
                }
                self.send_stopped(&stop, o.selected, run.restart);
            }
            Err(e) => {
                self.output("stderr", format!("Unable to run: {e}\n"));
                self.runtime_error = Some(e.0.clone());
                let thread = self.focus.or(o.selected).map(json::i32ish).unwrap_or(1);
                self.event(
                    "stopped",
                    json!({"reason": "exception", "description": "runtime error",
                           "text": e.0, "threadId": thread, "allThreadsStopped": true}),
                );
            }
        }
        self.drain_pending().await;
    }

    /// Handles the requests that waited for the motion, until one starts another.
    async fn drain_pending(&mut self) {
        while self.motion.is_none() {
            let Some(req) = self.pending.pop_front() else {
                break;
            };
            self.dispatch(req).await;
        }
    }

    pub fn forward_output(&self, chunks: Vec<OutputChunk>) {
        for c in chunks {
            match c {
                OutputChunk::Stdout(b) => self.output("stdout", String::from_utf8_lossy(&b)),
                OutputChunk::Stderr(b) => self.output("stderr", String::from_utf8_lossy(&b)),
                OutputChunk::Log(s) | OutputChunk::Note(s) => self.output("console", s),
            }
        }
    }

    /// Stops a running motion (disconnect, lost client) and waits for it.
    async fn stop_motion(&mut self, motion_rx: &mut mpsc::UnboundedReceiver<MotionOutcome>) {
        while self.motion.is_some() {
            self.handle.interrupt();
            match tokio::time::timeout(Duration::from_millis(50), motion_rx.recv()).await {
                Ok(Some(o)) => {
                    if let Some(t) = self.motion.take().and_then(|mut r| r.ticker.take()) {
                        t.abort();
                    }
                    self.forward_output(o.output);
                }
                Ok(None) => break,
                Err(_) => {}
            }
        }
    }

    /// The client started no debug session in time: say so, to it and in the log.
    fn drop_silent(&self, peer: &str, secs: f64) {
        let msg = format!(
            "no debug session started within {secs} s (initialize, then attach or launch): \
             closing the connection so that other clients can be served \
             (--dap-handshake-timeout changes the limit)"
        );
        warn!("DAP client {peer}: {msg}");
        self.output("important", format!("rrgo: {msg}\n"));
        self.send(json::event("terminated", None));
    }

    /// End of the session: leave the engine idle for the next client.
    async fn finish(&mut self, motion_rx: &mut mpsc::UnboundedReceiver<MotionOutcome>) {
        self.stop_motion(motion_rx).await;
        if self.loaded {
            // Clears an interrupt left over from the last pause.
            let _ = self.engine(|_| Ok(())).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_stable_and_reset() {
        let mut h = Handles::default();
        let a = h.frame_id(1, 0, "main.main");
        let b = h.frame_id(2, 0, "main.worker");
        assert_eq!(h.frame_id(1, 0, "main.main"), a);
        assert_ne!(a, b);
        assert_eq!(h.frame(b).unwrap().goid, 2);
        assert!(h.frame(5).is_none() && h.frame(a + 10).is_none());
        let v = h.var_ref(VarRef::Children {
            of: ChildrenRef(9),
            indexed: None,
            named: Some(2),
        });
        assert_eq!(
            h.var_ref(VarRef::Children {
                of: ChildrenRef(9),
                indexed: None,
                named: Some(2)
            }),
            v
        );
        h.reset();
        assert!(h.frame(a).is_none() && h.var(v).is_none());
    }

    #[test]
    fn parse_requests() {
        assert!(matches!(
            parse(br#"{"seq":3,"type":"request","command":"threads"}"#),
            Parsed::Request(Request { seq: 3, .. })
        ));
        assert!(matches!(
            parse(br#"{"seq":3,"type":"response","command":"runInTerminal","success":true,"request_seq":1}"#),
            Parsed::Ignore
        ));
        for bad in [
            &b"not json"[..],
            br#"[1,2]"#,
            br#"{"seq":3,"type":"request"}"#,
            br#"{"seq":3,"type":"request","command":5}"#,
            br#"{"seq":"x","type":"request","command":"threads"}"#,
            br#"{"seq":3,"type":"event","event":"x"}"#,
            br#"{"seq":3,"type":"request","command":"threads","arguments":[1]}"#,
        ] {
            assert!(
                matches!(parse(bad), Parsed::Bad(_)),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
