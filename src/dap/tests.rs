//! Protocol tests: a client talks to a session backed by the fake target;
//! every message the server sends is checked against the DAP schema.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::DuplexStream;
use tokio::io::{AsyncWriteExt, BufReader, ReadHalf, WriteHalf};

use super::access::ServeOptions;
use super::fake::{self, goroutine, stop, Script, Shared};
use super::framing::{read_frame, write_frame};
use super::schema::{self, Schema};
use super::session;
use crate::debugger::api::{ExceptionKind, OutputChunk, StopReason};
use crate::debugger::handle::EngineHandle;

struct Client {
    r: BufReader<ReadHalf<DuplexStream>>,
    w: WriteHalf<DuplexStream>,
    seq: i64,
    /// Messages received but not consumed yet.
    inbox: VecDeque<Value>,
    /// Every message received, as "response:cmd" / "event:name".
    order: Vec<String>,
    schema: Option<Arc<Schema>>,
    last_seq: i64,
    server: tokio::task::JoinHandle<bool>,
}

fn schema() -> Option<Arc<Schema>> {
    static S: std::sync::OnceLock<Option<Arc<Schema>>> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        let s = schema::load().map(Arc::new);
        if s.is_none() {
            eprintln!("DAP schema not found: messages are not validated");
        }
        s
    })
    .clone()
}

fn script() -> Shared {
    Arc::new(Mutex::new(Script::default()))
}

fn calls(s: &Shared) -> Vec<String> {
    s.lock().unwrap().calls.clone()
}

impl Client {
    fn start(script: &Shared) -> Client {
        Client::with_handle(EngineHandle::spawn(fake::factory(script.clone())))
    }

    fn with_handle(handle: EngineHandle) -> Client {
        let (client, server) = tokio::io::duplex(1 << 16);
        let (sr, sw) = tokio::io::split(server);
        // The fake opens any path; `access` is tested on real recordings (tests/dap_security.rs).
        let opts = ServeOptions {
            trace: Some("/traces/cli".into()),
            allow_any_trace: true,
            ..ServeOptions::default()
        };
        let server = tokio::spawn(session::run(sr, sw, handle, Arc::new(opts), "test".into()));
        let (r, w) = tokio::io::split(client);
        Client {
            r: BufReader::new(r),
            w,
            seq: 0,
            inbox: VecDeque::new(),
            order: Vec::new(),
            schema: schema(),
            last_seq: 0,
            server,
        }
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).await.unwrap();
    }

    async fn send(&mut self, command: &str, args: Value) -> i64 {
        self.seq += 1;
        let msg =
            json!({"seq": self.seq, "type": "request", "command": command, "arguments": args});
        write_frame(&mut self.w, msg.to_string().as_bytes())
            .await
            .unwrap();
        self.seq
    }

    /// The next message from the server (not validated: see `read`).
    async fn read_unchecked(&mut self) -> Option<Value> {
        let body = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut self.r))
            .await
            .expect("timed out waiting for the server")
            .expect("framing error")?;
        let v: Value = serde_json::from_slice(&body).expect("server sent JSON");
        let seq = v["seq"].as_i64().expect("seq");
        assert_eq!(seq, self.last_seq + 1, "seq numbers are consecutive");
        self.last_seq = seq;
        let tag = match v["type"].as_str() {
            Some("response") => format!("response:{}", v["command"].as_str().unwrap()),
            _ => format!("event:{}", v["event"].as_str().unwrap_or("?")),
        };
        self.order.push(tag);
        Some(v)
    }

    async fn read(&mut self) -> Option<Value> {
        let v = self.read_unchecked().await?;
        if let Some(s) = &self.schema {
            let errs = s.check(&v);
            assert!(errs.is_empty(), "{v}\nviolates the DAP schema: {errs:#?}");
        }
        Some(v)
    }

    async fn response(&mut self, seq: i64) -> Value {
        if let Some(i) = self.inbox.iter().position(|m| m["request_seq"] == seq) {
            return self.inbox.remove(i).unwrap();
        }
        loop {
            let m = self
                .read()
                .await
                .expect("connection closed before the response");
            if m["type"] == "response" && m["request_seq"] == seq {
                return m;
            }
            self.inbox.push_back(m);
        }
    }

    async fn ok(&mut self, command: &str, args: Value) -> Value {
        let seq = self.send(command, args).await;
        let r = self.response(seq).await;
        assert_eq!(r["success"], true, "{command}: {r}");
        r
    }

    async fn err(&mut self, command: &str, args: Value) -> Value {
        let seq = self.send(command, args).await;
        let r = self.response(seq).await;
        assert_eq!(r["success"], false, "{command} should fail: {r}");
        r
    }

    async fn event(&mut self, name: &str) -> Value {
        if let Some(i) = self.inbox.iter().position(|m| m["event"] == name) {
            return self.inbox.remove(i).unwrap();
        }
        loop {
            let m = self
                .read()
                .await
                .unwrap_or_else(|| panic!("closed before event {name}"));
            if m["type"] == "event" && m["event"] == name {
                return m;
            }
            self.inbox.push_back(m);
        }
    }

    /// Outputs received so far (consumed).
    fn outputs(&mut self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        self.inbox.retain(|m| {
            if m["event"] == "output" {
                out.push((
                    m["body"]["category"].as_str().unwrap_or("").to_string(),
                    m["body"]["output"].as_str().unwrap_or("").to_string(),
                ));
                false
            } else {
                true
            }
        });
        out
    }

    async fn init(&mut self) -> Value {
        self.ok(
            "initialize",
            json!({"clientID": "vscode", "adapterID": "go", "pathFormat": "path",
                   "linesStartAt1": true, "columnsStartAt1": true,
                   "supportsVariableType": true, "supportsVariablePaging": true,
                   "supportsProgressReporting": true, "supportsInvalidatedEvent": true,
                   "supportsMemoryReferences": true}),
        )
        .await
    }

    async fn attach(&mut self, extra: Value) {
        let mut args = json!({"type": "go", "debugAdapter": "dlv-dap", "request": "attach",
                              "mode": "remote", "port": 2345, "host": "127.0.0.1",
                              "__sessionId": "abc", "dlvToolPath": "/go/bin/dlv"});
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        self.ok("attach", args).await;
    }

    /// initialize, attach, configurationDone: the first stop.
    async fn start_session(&mut self, extra: Value) -> Value {
        self.init().await;
        self.attach(extra).await;
        self.ok("configurationDone", json!({})).await;
        self.event("stopped").await
    }

    async fn disconnect(mut self) {
        self.ok("disconnect", json!({})).await;
        assert!(
            self.read().await.is_none(),
            "the connection closes after disconnect"
        );
        tokio::time::timeout(Duration::from_secs(5), self.server)
            .await
            .expect("session ends")
            .unwrap();
    }
}

#[tokio::test]
async fn initialize_attach_order_and_first_stop() {
    let s = script();
    s.lock().unwrap().progress = vec![(0, 10), (10, 10)];
    s.lock().unwrap().output = vec![
        OutputChunk::Stdout(b"i=0 total=0\n".to_vec()),
        OutputChunk::Stderr(b"warn\n".to_vec()),
    ];
    let mut c = Client::start(&s);
    let caps = c.init().await;
    let b = &caps["body"];
    assert_eq!(b["supportsStepBack"], true);
    assert_eq!(b["supportsConfigurationDoneRequest"], true);
    assert_eq!(b["supportsTerminateRequest"], false);
    assert_eq!(
        b["exceptionBreakpointFilters"][0]["filter"],
        "unrecovered-panic"
    );
    assert_eq!(
        b["exceptionBreakpointFilters"][1]["filter"],
        "runtime-fatal-throw"
    );
    c.attach(json!({})).await;
    // initialized comes before the attach response, after progress.
    let order: Vec<&str> = c.order.iter().map(String::as_str).collect();
    let i = order
        .iter()
        .position(|t| *t == "event:initialized")
        .unwrap();
    let a = order.iter().position(|t| *t == "response:attach").unwrap();
    assert!(i < a, "{order:?}");
    assert!(order.contains(&"event:progressStart") && order.contains(&"event:progressEnd"));
    assert_eq!(calls(&s)[0], "open Some(\"/traces/cli\")");
    // A filter rrgo does not offer is reported, not taken silently.
    let set = c
        .ok(
            "setExceptionBreakpoints",
            json!({"filters": ["panic", "unrecovered-panic"]}),
        )
        .await;
    let each = &set["body"]["breakpoints"];
    assert_eq!(each[0]["verified"], false, "{set}");
    assert!(
        each[0]["message"]
            .as_str()
            .unwrap()
            .contains("unrecovered-panic"),
        "{set}"
    );
    assert_eq!(each[1]["verified"], true, "{set}");
    let stopped = {
        c.ok(
            "setExceptionBreakpoints",
            json!({"filters": ["unrecovered-panic"]}),
        )
        .await;
        c.ok("configurationDone", json!({})).await;
        c.event("stopped").await
    };
    assert_eq!(stopped["body"]["reason"], "pause");
    assert_eq!(stopped["body"]["description"], "end of recording");
    assert_eq!(stopped["body"]["allThreadsStopped"], true);
    assert_eq!(stopped["body"]["threadId"], 1);
    let out = c.outputs();
    assert!(out.contains(&(
        "console".into(),
        "Type 'dlv help' for list of commands.\n".into()
    )));
    assert!(out.contains(&("stdout".into(), "i=0 total=0\n".into())));
    assert!(out.contains(&("stderr".into(), "warn\n".into())));
    assert!(calls(&s).contains(&"exceptions panics=true fatal=false".into()));
    assert!(calls(&s).contains(&"resume Continue None Line".into()));
    c.disconnect().await;
}

#[tokio::test]
async fn initialize_rejects_uri_paths_and_zero_based_lines() {
    let s = script();
    let mut c = Client::start(&s);
    let r = c
        .err(
            "initialize",
            json!({"adapterID": "go", "pathFormat": "uri"}),
        )
        .await;
    assert!(r["body"]["error"]["format"]
        .as_str()
        .unwrap()
        .contains("pathFormat"));
    c.err(
        "initialize",
        json!({"adapterID": "go", "linesStartAt1": false}),
    )
    .await;
    // A client that sends neither gets the defaults (path, 1-based).
    c.ok("initialize", json!({"adapterID": "go"})).await;
    c.disconnect().await;
}

#[tokio::test]
async fn malformed_messages_get_errors_and_the_session_goes_on() {
    let s = script();
    let mut c = Client::start(&s);
    // Not JSON: an error response (request_seq 0: unknown), and on we go.
    c.send_raw(b"Content-Length: 9\r\n\r\nnot json!").await;
    let r = c.read_unchecked().await.unwrap();
    assert_eq!(r["success"], false);
    assert_eq!(r["request_seq"], 0);
    assert!(r["body"]["error"]["format"]
        .as_str()
        .unwrap()
        .contains("not JSON"));
    // Missing command, with a seq.
    let body = br#"{"seq":41,"type":"request"}"#;
    c.send_raw(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes())
        .await;
    c.send_raw(body).await;
    let r = c.response(41).await;
    assert_eq!(r["success"], false);
    // Unknown command.
    let r = c.err("frobnicate", json!({})).await;
    assert!(r["body"]["error"]["format"]
        .as_str()
        .unwrap()
        .contains("not supported"));
    c.err("terminate", json!({})).await;
    c.init().await;
    c.attach(json!({})).await;
    // Wrong argument types.
    let r = c.err("stackTrace", json!({"threadId": "one"})).await;
    assert!(r["body"]["error"]["format"]
        .as_str()
        .unwrap()
        .contains("threadId"));
    c.err("stackTrace", json!({})).await;
    c.err("scopes", json!({"frameId": 12345})).await;
    c.err("variables", json!({"variablesReference": 77})).await;
    // Still alive.
    let t = c.ok("threads", json!({})).await;
    assert_eq!(t["body"]["threads"][0]["id"], 1);
    c.disconnect().await;
}

#[tokio::test]
async fn bad_header_drops_the_connection() {
    let s = script();
    let mut c = Client::start(&s);
    c.send_raw(b"Content-Length: lots\r\n\r\n{}").await;
    assert!(c.read().await.is_none());
    tokio::time::timeout(Duration::from_secs(5), c.server)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn oversized_message_is_refused() {
    let s = script();
    let mut c = Client::start(&s);
    c.send_raw(b"Content-Length: 999999999999\r\n\r\n").await;
    let r = c.read_unchecked().await.unwrap();
    assert_eq!(r["success"], false);
    assert!(c.read().await.is_none());
}

#[tokio::test]
async fn requests_before_attach() {
    let s = script();
    let mut c = Client::start(&s);
    c.init().await;
    let t = c.ok("threads", json!({})).await;
    assert_eq!(t["body"]["threads"], json!([{"id": 1, "name": "Dummy"}]));
    let r = c.err("stackTrace", json!({"threadId": 1})).await;
    assert_eq!(r["message"], "No recording loaded");
    c.err("configurationDone", json!({})).await;
    // dlv commands work without a recording.
    let h = c
        .ok(
            "evaluate",
            json!({"expression": "dlv help", "context": "repl"}),
        )
        .await;
    assert!(h["body"]["result"].as_str().unwrap().contains("dlv config"));
    c.disconnect().await;
}

#[tokio::test]
async fn launch_modes_and_open_errors() {
    let s = script();
    let mut c = Client::start(&s);
    c.init().await;
    let r = c
        .err("launch", json!({"mode": "debug", "program": "."}))
        .await;
    assert!(r["body"]["error"]["format"]
        .as_str()
        .unwrap()
        .contains("replay"));
    c.err("attach", json!({"mode": "local", "processId": 42}))
        .await;
    c.err("attach", json!({"stopOnEntry": "yes"})).await;
    s.lock().unwrap().open_error = Some("not a trace: /nope".into());
    let r = c
        .err("launch", json!({"mode": "replay", "traceDirPath": "/nope"}))
        .await;
    assert_eq!(r["message"], "Failed to launch");
    assert!(r["body"]["error"]["format"]
        .as_str()
        .unwrap()
        .contains("not a trace: /nope"));
    s.lock().unwrap().open_error = None;
    c.ok(
        "launch",
        json!({"mode": "replay", "traceDirPath": "/traces/t-1"}),
    )
    .await;
    assert!(calls(&s).contains(&"open Some(\"/traces/t-1\")".into()));
    c.event("initialized").await;
    c.err("attach", json!({})).await; // already loaded
    c.disconnect().await;
}

#[tokio::test]
async fn stop_on_entry_does_not_run() {
    let s = script();
    let mut c = Client::start(&s);
    let st = c.start_session(json!({"stopOnEntry": true})).await;
    assert_eq!(st["body"]["reason"], "entry");
    assert!(!calls(&s).iter().any(|c| c.starts_with("resume")));
    c.disconnect().await;
}

#[tokio::test]
async fn stop_reasons() {
    let s = script();
    {
        let mut sc = s.lock().unwrap();
        sc.selected = Some(2);
        sc.stops = VecDeque::from(vec![
            stop(StopReason::Breakpoint { ids: vec![3] }, Some(2)),
            stop(StopReason::Step, Some(2)),
            stop(
                StopReason::Exception {
                    kind: ExceptionKind::Panic,
                    text: "runtime error: index out of range".into(),
                },
                Some(1),
            ),
            stop(StopReason::StartOfRecording, None),
            stop(StopReason::FunctionBreakpoint { ids: vec![100] }, Some(1)),
            Err(crate::debugger::api::EngineError(
                "divergence at event 7".into(),
            )),
        ]);
    }
    let mut c = Client::start(&s);
    let st = c.start_session(json!({})).await;
    assert_eq!(st["body"]["reason"], "breakpoint");
    assert_eq!(st["body"]["hitBreakpointIds"], json!([3]));
    assert_eq!(st["body"]["threadId"], 2);

    c.ok(
        "stepBack",
        json!({"threadId": 2, "granularity": "instruction"}),
    )
    .await;
    let st = c.event("stopped").await;
    assert_eq!(st["body"]["reason"], "step");
    assert!(calls(&s).contains(&"resume StepBack Some(2) Instruction".into()));

    let r = c.ok("continue", json!({"threadId": 2})).await;
    assert_eq!(r["body"]["allThreadsContinued"], true);
    let st = c.event("stopped").await;
    assert_eq!(st["body"]["reason"], "exception");
    assert_eq!(st["body"]["description"], "panic");
    assert_eq!(st["body"]["text"], "runtime error: index out of range");
    let e = c.ok("exceptionInfo", json!({"threadId": 1})).await;
    assert_eq!(e["body"]["exceptionId"], "panic");
    assert_eq!(e["body"]["breakMode"], "unhandled");
    assert_eq!(e["body"]["details"]["typeName"], "runtime.boundsError");

    c.ok("reverseContinue", json!({"threadId": 1})).await;
    let st = c.event("stopped").await;
    assert_eq!(st["body"]["reason"], "entry");
    assert_eq!(st["body"]["description"], "start of recording");
    // No goroutine exists yet: the placeholder thread, not the one selected.
    assert_eq!(st["body"]["threadId"], 1);
    assert!(calls(&s).contains(&"resume ReverseContinue None Line".into()));

    c.ok("next", json!({"threadId": 1})).await;
    let st = c.event("stopped").await;
    assert_eq!(st["body"]["reason"], "function breakpoint");

    c.ok("stepIn", json!({"threadId": 1})).await;
    let st = c.event("stopped").await;
    assert_eq!(st["body"]["reason"], "exception");
    assert_eq!(st["body"]["description"], "runtime error");
    let e = c.ok("exceptionInfo", json!({"threadId": 1})).await;
    assert_eq!(e["body"]["exceptionId"], "runtime error");
    assert!(c
        .outputs()
        .iter()
        .any(|(cat, o)| cat == "stderr" && o.contains("divergence")));
    c.disconnect().await;
}

#[tokio::test]
async fn threads_names_hiding_and_cap() {
    let s = script();
    {
        let mut sc = s.lock().unwrap();
        let mut gs: Vec<_> = (1..=1500)
            .map(|i| goroutine(i, "example.com/app/work.worker", i % 3 == 0))
            .collect();
        gs[0].thread = Some(4242);
        gs[0].function = "main.main".into();
        gs[4].labels = vec![("request".into(), "r5".into())];
        sc.goroutines = gs;
        sc.selected = Some(1400);
    }
    let mut c = Client::start(&s);
    c.start_session(json!({"showPprofLabels": ["request"]}))
        .await;
    let t = c.ok("threads", json!({})).await;
    let threads = t["body"]["threads"].as_array().unwrap();
    assert_eq!(threads.len(), 1025, "1024 plus the selected one");
    assert_eq!(threads[0]["name"], "[Go 1] main.main (Thread 4242)");
    assert_eq!(threads[1]["name"], "[Go 2] work.worker");
    assert_eq!(threads[4]["name"], "[Go 5 r5] work.worker");
    assert_eq!(threads[1024]["name"], "* [Go 1400] work.worker");
    assert!(c
        .outputs()
        .iter()
        .any(|(_, o)| o.contains("Too many goroutines, only loaded 1024")));

    // Hiding system goroutines, toggled as vscode-go does.
    let l = c
        .ok(
            "evaluate",
            json!({"expression": "dlv config -list hideSystemGoroutines", "context": "context"}),
        )
        .await;
    assert!(l["body"]["result"].as_str().unwrap().contains("false"));
    let r = c
        .ok(
            "evaluate",
            json!({"expression": "dlv config hideSystemGoroutines true", "context": "context"}),
        )
        .await;
    assert!(r["body"]["result"].as_str().unwrap().contains("Updated"));
    let inv = c.event("invalidated").await;
    assert_eq!(inv["body"]["areas"], json!(["threads"]));
    let t = c.ok("threads", json!({})).await;
    let threads = t["body"]["threads"].as_array().unwrap();
    assert_eq!(
        threads.len(),
        1000,
        "1500 minus 500 system goroutines, under the cap"
    );
    assert!(threads
        .iter()
        .all(|t| t["id"].as_u64().unwrap() % 3 != 0 || t["id"] == 1400));
    c.disconnect().await;
}

#[tokio::test]
async fn breakpoints_and_stacks_through_substitute_path() {
    let s = script();
    s.lock().unwrap().depth = 3;
    let mut c = Client::start(&s);
    c.init().await;
    c.attach(json!({"stopOnEntry": true,
                    "substitutePath": [{"from": "/home/me/app", "to": "/build/src"}]}))
        .await;
    let r = c
        .ok(
            "setBreakpoints",
            json!({"source": {"name": "main.go", "path": "/home/me/app/main.go"},
                   "breakpoints": [{"line": 20, "condition": "i == 3"}, {"line": 999}, {"line": 30, "logMessage": "i={i}"}]}),
        )
        .await;
    assert!(calls(&s).contains(&"bp /build/src/main.go [20 if i == 3,999,30]".into()));
    let bps = r["body"]["breakpoints"].as_array().unwrap();
    assert_eq!(bps.len(), 3);
    assert_eq!(bps[0]["verified"], true);
    assert_eq!(bps[0]["line"], 21);
    assert_eq!(bps[0]["source"]["path"], "/home/me/app/main.go");
    assert_eq!(bps[1]["verified"], false);
    assert_eq!(bps[1]["message"], "no code at line 999");
    let r = c
        .ok(
            "setFunctionBreakpoints",
            json!({"breakpoints": [{"name": "main.worker"}, {"name": "nope"}]}),
        )
        .await;
    assert_eq!(r["body"]["breakpoints"][1]["verified"], false);
    c.ok("configurationDone", json!({})).await;
    c.event("stopped").await;
    let st = c.ok("stackTrace", json!({"threadId": 1})).await;
    let frames = st["body"]["stackFrames"].as_array().unwrap();
    assert_eq!(frames.len(), 3);
    assert_eq!(st["body"]["totalFrames"], 3);
    assert_eq!(frames[0]["source"]["path"], "/home/me/app/main.go");
    assert_eq!(frames[0]["source"]["name"], "main.go");
    assert_eq!(frames[0]["name"], "pkg.f0");
    assert_eq!(frames[0]["instructionPointerReference"], "0x401000");
    assert_eq!(frames[2]["presentationHint"], "subtle");
    // The mapping can change at run time.
    c.ok(
        "evaluate",
        json!({"expression": "dlv config substitutePath -clear", "context": "repl"}),
    )
    .await;
    let st = c.ok("stackTrace", json!({"threadId": 1})).await;
    assert_eq!(
        st["body"]["stackFrames"][0]["source"]["path"],
        "/build/src/main.go"
    );
    let src = c
        .ok(
            "evaluate",
            json!({"expression": "dlv sources fmt", "context": "repl"}),
        )
        .await;
    assert_eq!(src["body"]["result"], "/usr/lib/go/src/fmt/print.go");
    c.disconnect().await;
}

#[tokio::test]
async fn stack_paging_and_variables() {
    let s = script();
    s.lock().unwrap().depth = 60;
    let mut c = Client::start(&s);
    c.start_session(json!({"stopOnEntry": true})).await;
    // VS Code: 1 frame, then 19 more.
    let st = c
        .ok(
            "stackTrace",
            json!({"threadId": 1, "startFrame": 0, "levels": 1}),
        )
        .await;
    assert_eq!(st["body"]["stackFrames"].as_array().unwrap().len(), 1);
    assert_eq!(st["body"]["totalFrames"], 1 + 50);
    let top = st["body"]["stackFrames"][0]["id"].clone();
    let st = c
        .ok(
            "stackTrace",
            json!({"threadId": 1, "startFrame": 1, "levels": 19}),
        )
        .await;
    assert_eq!(st["body"]["totalFrames"], 20 + 50);
    let ids: Vec<i64> = st["body"]["stackFrames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert!(
        !ids.contains(&top.as_i64().unwrap()),
        "frame ids are unique"
    );
    let st = c
        .ok("stackTrace", json!({"threadId": 1, "startFrame": 50}))
        .await;
    assert_eq!(st["body"]["stackFrames"].as_array().unwrap().len(), 10);
    assert_eq!(st["body"]["totalFrames"], 60);
    c.err("stackTrace", json!({"threadId": 77})).await;

    // Scopes and variables of frame 1.
    let f1 = c
        .ok(
            "stackTrace",
            json!({"threadId": 1, "startFrame": 1, "levels": 1}),
        )
        .await;
    let f1 = f1["body"]["stackFrames"][0]["id"].clone();
    let sc = c.ok("scopes", json!({"frameId": f1})).await;
    let scopes = sc["body"]["scopes"].as_array().unwrap();
    assert_eq!(scopes[0]["name"], "Arguments");
    assert_eq!(scopes[1]["name"], "Locals");
    assert_eq!(scopes[2]["name"], "Globals (package example.com/app/pkg)");
    assert_eq!(scopes[2]["expensive"], true);
    let args = c
        .ok(
            "variables",
            json!({"variablesReference": scopes[0]["variablesReference"]}),
        )
        .await;
    assert_eq!(args["body"]["variables"][0]["value"], "1");
    assert!(calls(&s).contains(&"scope 1 1 Arguments".into()));
    let locals = c
        .ok(
            "variables",
            json!({"variablesReference": scopes[1]["variablesReference"]}),
        )
        .await;
    let xs = &locals["body"]["variables"][0];
    assert_eq!(xs["indexedVariables"], 250);
    assert_eq!(xs["type"], "[]int");
    assert_eq!(xs["memoryReference"], "0xc000010000");
    assert_eq!(xs["evaluateName"], "xs");
    let p = &locals["body"]["variables"][1];
    assert_eq!(p["namedVariables"], 2);
    // VS Code's paging of a big slice.
    let named = c
        .ok(
            "variables",
            json!({"variablesReference": xs["variablesReference"], "filter": "named"}),
        )
        .await;
    assert_eq!(named["body"]["variables"], json!([]));
    let page = c
        .ok("variables", json!({"variablesReference": xs["variablesReference"], "filter": "indexed", "start": 100, "count": 100}))
        .await;
    let page = page["body"]["variables"].as_array().unwrap();
    assert_eq!(page.len(), 100);
    assert_eq!(page[0]["name"], "[100]");
    let fields = c
        .ok(
            "variables",
            json!({"variablesReference": p["variablesReference"]}),
        )
        .await;
    assert_eq!(fields["body"]["variables"][1]["name"], "Y");

    // evaluate in a frame; errors.
    let e = c
        .ok(
            "evaluate",
            json!({"expression": "p", "frameId": f1, "context": "hover"}),
        )
        .await;
    assert_eq!(e["body"]["result"], "main.point {X: 1, Y: 2}");
    assert!(e["body"]["variablesReference"].as_i64().unwrap() > 0);
    assert!(calls(&s).contains(&"evaluate p Some(1) 1".into()));
    let e = c
        .err(
            "evaluate",
            json!({"expression": "nosuch", "context": "watch"}),
        )
        .await;
    assert_eq!(e["body"]["error"]["showUser"], false);
    assert!(e["body"]["error"]["format"]
        .as_str()
        .unwrap()
        .contains("could not find symbol"));
    let e = c
        .err(
            "evaluate",
            json!({"expression": "call f()", "context": "repl"}),
        )
        .await;
    assert!(e["body"]["error"]["format"]
        .as_str()
        .unwrap()
        .contains("function calls"));

    // Everything is invalid after a motion.
    c.ok("next", json!({"threadId": 1})).await;
    c.event("stopped").await;
    c.err("scopes", json!({"frameId": f1})).await;
    c.disconnect().await;
}

#[tokio::test]
async fn pause_and_threads_while_running() {
    let s = script();
    s.lock().unwrap().blocking_resumes = 1;
    let mut c = Client::start(&s);
    c.init().await;
    c.attach(json!({})).await;
    c.ok("configurationDone", json!({})).await;
    let t = c.ok("threads", json!({})).await;
    assert_eq!(t["body"]["threads"], json!([{"id": -1, "name": "Current"}]));
    // dlv config is answered while running; a stackTrace waits for the stop.
    c.ok(
        "evaluate",
        json!({"expression": "dlv config -list", "context": "repl"}),
    )
    .await;
    let queued = c.send("stackTrace", json!({"threadId": 1})).await;
    c.ok("pause", json!({"threadId": 1})).await;
    let st = c.event("stopped").await;
    assert_eq!(st["body"]["reason"], "pause");
    let r = c.response(queued).await;
    assert_eq!(r["success"], true);
    let stopped_at = c.order.iter().position(|t| t == "event:stopped").unwrap();
    let answered_at = c
        .order
        .iter()
        .position(|t| t == "response:stackTrace")
        .unwrap();
    assert!(stopped_at < answered_at, "{:?}", c.order);
    c.disconnect().await;
}

#[tokio::test]
async fn breakpoints_set_while_continuing_apply_and_resume() {
    let s = script();
    {
        let mut sc = s.lock().unwrap();
        sc.blocking_resumes = 1;
        sc.stops = VecDeque::from(vec![stop(StopReason::Breakpoint { ids: vec![2] }, Some(1))]);
    }
    let mut c = Client::start(&s);
    c.init().await;
    c.attach(json!({})).await;
    c.ok("configurationDone", json!({})).await;
    let r = c
        .ok(
            "setBreakpoints",
            json!({"source": {"path": "/build/src/main.go"}, "breakpoints": [{"line": 5}]}),
        )
        .await;
    assert_eq!(r["body"]["breakpoints"][0]["verified"], true);
    let st = c.event("stopped").await;
    assert_eq!(st["body"]["reason"], "breakpoint", "no pause shows");
    let cl = calls(&s);
    let resumes: Vec<&String> = cl.iter().filter(|c| c.starts_with("resume")).collect();
    assert_eq!(
        resumes,
        ["resume Continue None Line", "resume Continue None Line"]
    );
    let bp = cl.iter().position(|c| c.starts_with("bp ")).unwrap();
    let second = cl.iter().rposition(|c| c.starts_with("resume")).unwrap();
    assert!(bp < second);
    assert_eq!(c.order.iter().filter(|t| *t == "event:stopped").count(), 1);
    c.disconnect().await;
}

/// A reverse-continue paused to change breakpoints starts again from
/// where it began (the engine rewinds), not from where its scan stood.
#[tokio::test]
async fn breakpoints_set_while_reverse_continuing_start_it_again() {
    let s = script();
    let mut c = Client::start(&s);
    c.init().await;
    c.attach(json!({})).await;
    c.ok("configurationDone", json!({})).await;
    c.event("stopped").await;
    {
        let mut sc = s.lock().unwrap();
        sc.blocking_resumes = 1;
        sc.stops = VecDeque::from(vec![stop(StopReason::Breakpoint { ids: vec![2] }, Some(1))]);
    }
    c.ok("reverseContinue", json!({"threadId": 1})).await;
    c.ok(
        "setBreakpoints",
        json!({"source": {"path": "/build/src/main.go"}, "breakpoints": [{"line": 5}]}),
    )
    .await;
    let st = c.event("stopped").await;
    assert_eq!(st["body"]["reason"], "breakpoint", "no pause shows");
    let cl = calls(&s);
    let moves: Vec<&String> = cl
        .iter()
        .filter(|c| c.starts_with("resume") || *c == "rewind" || c.starts_with("bp "))
        .collect();
    let n = moves.len();
    assert!(n >= 4, "{moves:?}");
    assert_eq!(
        moves[n - 4],
        "resume ReverseContinue None Line",
        "{moves:?}"
    );
    assert_eq!(moves[n - 3], "rewind", "{moves:?}");
    assert!(moves[n - 2].starts_with("bp "), "{moves:?}");
    assert_eq!(
        moves[n - 1],
        "resume ReverseContinue None Line",
        "{moves:?}"
    );
    c.disconnect().await;
}

#[tokio::test]
async fn disconnect_while_running_and_next_client() {
    let s = script();
    s.lock().unwrap().blocking_resumes = 1;
    let handle = EngineHandle::spawn(fake::factory(s.clone()));
    let mut c = Client::with_handle(handle.clone());
    c.init().await;
    c.attach(json!({})).await;
    c.ok("configurationDone", json!({})).await;
    c.disconnect().await;
    // A second client gets a fresh session on the same engine.
    let mut c = Client::with_handle(handle);
    c.init().await;
    c.attach(json!({})).await;
    let st = {
        c.ok("configurationDone", json!({})).await;
        c.event("stopped").await
    };
    assert_eq!(st["body"]["description"], "end of recording");
    assert_eq!(
        calls(&s).iter().filter(|c| c.starts_with("open")).count(),
        2
    );
    c.disconnect().await;
}

#[tokio::test]
async fn restart_frame_reverses_out_of_frames() {
    let s = script();
    s.lock().unwrap().stops = VecDeque::from(vec![
        stop(StopReason::Step, Some(1)),
        stop(StopReason::Step, Some(1)),
    ]);
    let mut c = Client::start(&s);
    c.start_session(json!({"stopOnEntry": true})).await;
    let st = c.ok("stackTrace", json!({"threadId": 1})).await;
    let f1 = st["body"]["stackFrames"][1]["id"].clone();
    c.ok("restartFrame", json!({"frameId": f1})).await;
    let st = c.event("stopped").await;
    assert_eq!(st["body"]["reason"], "restart");
    let n = calls(&s)
        .iter()
        .filter(|c| *c == "resume ReverseStepOut Some(1) Line")
        .count();
    assert_eq!(n, 2);
    c.disconnect().await;
}

#[tokio::test]
async fn accept_loop_serves_clients_one_after_another() {
    let s = script();
    let handle = EngineHandle::spawn(fake::factory(s.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(super::accept_loop(
        listener,
        Arc::new(ServeOptions::default()),
        handle,
    ));
    for _ in 0..2 {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (r, mut w) = stream.into_split();
        let mut r = BufReader::new(r);
        let msg = json!({"seq": 1, "type": "request", "command": "initialize", "arguments": {"adapterID": "go"}});
        write_frame(&mut w, msg.to_string().as_bytes())
            .await
            .unwrap();
        let body = read_frame(&mut r).await.unwrap().unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["command"], "initialize");
        let msg = json!({"seq": 2, "type": "request", "command": "disconnect"});
        write_frame(&mut w, msg.to_string().as_bytes())
            .await
            .unwrap();
        let body = read_frame(&mut r).await.unwrap().unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["command"], "disconnect");
        assert!(read_frame(&mut r).await.unwrap().is_none());
    }
    server.abort();
}

#[test]
fn addresses() {
    assert_eq!(super::parse_addr(":2345").unwrap(), "127.0.0.1:2345");
    assert_eq!(super::parse_addr("0.0.0.0:0").unwrap(), "0.0.0.0:0");
    assert_eq!(
        super::parse_addr("localhost:2345").unwrap(),
        "localhost:2345"
    );
    assert_eq!(super::parse_addr("[::1]:2345").unwrap(), "[::1]:2345");
    for bad in ["2345", ":", "host:port", ":70000", "::1:2345"] {
        assert!(super::parse_addr(bad).is_err(), "{bad}");
    }
}

/// What a turned-away client gets is valid DAP: a note, the error response
/// to its first request, `terminated`, then the close.
#[tokio::test]
async fn turned_away_client_gets_valid_messages() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (stream, peer) = listener.accept().await.unwrap();
    let busy = super::access::Busy {
        peer: addr,
        since: std::time::Instant::now(),
    };
    let server = tokio::spawn(super::access::turn_away(stream, peer, busy));
    let (r, mut w) = client.into_split();
    let mut r = BufReader::new(r);
    let msg = json!({"seq": 7, "type": "request", "command": "initialize", "arguments": {"adapterID": "go"}});
    write_frame(&mut w, msg.to_string().as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(body) = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut r))
        .await
        .expect("turn_away answers within seconds")
        .unwrap()
    {
        let v: Value = serde_json::from_slice(&body).unwrap();
        if let Some(s) = schema() {
            let errs = s.check(&v);
            assert!(errs.is_empty(), "{v}\nviolates the DAP schema: {errs:#?}");
        }
        got.push(v);
    }
    server.await.unwrap();
    let kinds: Vec<String> = got
        .iter()
        .map(|m| {
            m["event"]
                .as_str()
                .or(m["command"].as_str())
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(kinds, ["output", "initialize", "terminated"], "{got:?}");
    assert_eq!(got[1]["request_seq"], 7);
    assert_eq!(got[1]["success"], false);
    assert!(got[1]["message"]
        .as_str()
        .unwrap()
        .contains("serving another client"));
}

#[tokio::test]
async fn disassembly_memory_and_instruction_breakpoints() {
    let s = script();
    s.lock().unwrap().stops = VecDeque::from(vec![stop(
        StopReason::InstructionBreakpoint { ids: vec![200] },
        Some(1),
    )]);
    let mut c = Client::start(&s);
    let init = c.init().await;
    for cap in [
        "supportsDisassembleRequest",
        "supportsReadMemoryRequest",
        "supportsInstructionBreakpoints",
    ] {
        assert_eq!(init["body"][cap], true, "{cap}");
    }
    c.attach(json!({"stopOnEntry": true})).await;
    let r = c
        .ok(
            "setInstructionBreakpoints",
            json!({"breakpoints": [{"instructionReference": "0x401000", "offset": 8},
                                   {"instructionReference": "0x10"},
                                   {"instructionReference": "main.f"}]}),
        )
        .await;
    assert!(calls(&s).contains(&"ibp [0x401008,0x10]".into()));
    let bps = r["body"]["breakpoints"].as_array().unwrap();
    assert_eq!(bps.len(), 3);
    assert_eq!(bps[0]["verified"], true);
    assert_eq!(bps[0]["id"], 200);
    assert_eq!(bps[0]["instructionReference"], "0x401008");
    assert_eq!(bps[0]["line"], 12);
    assert_eq!(bps[1]["verified"], false);
    assert_eq!(bps[1]["message"], "0x10 is not in a function");
    assert_eq!(bps[2]["verified"], false);
    c.ok("configurationDone", json!({})).await;
    c.event("stopped").await;

    c.ok("continue", json!({"threadId": 1})).await;
    let st = c.event("stopped").await;
    assert_eq!(st["body"]["reason"], "instruction breakpoint");
    assert_eq!(st["body"]["hitBreakpointIds"], json!([200]));

    // Two slots before the code are filler; lines only where they change.
    let d = c
        .ok(
            "disassemble",
            json!({"memoryReference": "0x401000", "offset": 2, "instructionOffset": -4,
                   "instructionCount": 8, "resolveSymbols": true}),
        )
        .await;
    assert!(calls(&s).contains(&"disassemble 0x401002 -4 8 true".into()));
    let ins = d["body"]["instructions"].as_array().unwrap();
    assert_eq!(ins.len(), 8);
    assert_eq!(ins[0]["address"], "0x400ffe");
    assert_eq!(ins[0]["presentationHint"], "invalid");
    assert_eq!(ins[0]["instruction"], "??");
    assert_eq!(ins[2]["address"], "0x401000");
    assert_eq!(ins[2]["symbol"], "main.f");
    assert_eq!(ins[2]["instructionBytes"], "90");
    assert_eq!(ins[2]["location"]["path"], fake::FILE);
    assert_eq!(ins[2]["line"], 10);
    assert!(ins[3].get("location").is_none() && ins[3].get("line").is_none());
    assert_eq!(ins[6]["line"], 11);
    assert!(ins[6].get("location").is_none());

    // Memory: a read running off the readable range says how much is not there.
    let m = c
        .ok(
            "readMemory",
            json!({"memoryReference": "0xc0000ffc", "offset": 1, "count": 6}),
        )
        .await;
    assert_eq!(m["body"]["address"], "0xc0000ffd");
    assert_eq!(
        m["body"]["data"],
        super::memory::base64(&[0xfd, 0xfe, 0xff])
    );
    assert_eq!(m["body"]["unreadableBytes"], 3);
    let bad = c
        .err(
            "readMemory",
            json!({"memoryReference": "nowhere", "count": 1}),
        )
        .await;
    assert!(bad["body"]["error"]["format"]
        .as_str()
        .unwrap()
        .contains("must be an address"));
    let w = c
        .err(
            "writeMemory",
            json!({"memoryReference": "0xc0000000", "data": "AA=="}),
        )
        .await;
    assert_eq!(
        w["body"]["error"]["format"],
        "Unable to write memory: cannot write memory in a replay: the recording is what happened"
    );
    c.disconnect().await;
}
