//! A small DAP client over std's TcpStream, and a `rrgo replay --dap`
//! server process for it, for the tests that talk DAP to the real binary.
//! Every wait has a deadline.
#![allow(dead_code)]

use super::{Scratch, Watchdog};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Loading dapdemo's recording takes a second or two; this bounds it on a busy machine.
pub const LOAD: Duration = Duration::from_secs(60);
/// What "within seconds" means for the answers tested here.
pub const PROMPT: Duration = Duration::from_secs(10);

/// `rrgo replay --dap ADDR ARGS…` with its stderr collected as it comes.
pub struct Server {
    pub child: Child,
    pub port: u16,
    stderr: Arc<Mutex<String>>,
    /// The stderr pipe reached its end: all rrgo printed is in `stderr`.
    drained: Arc<std::sync::atomic::AtomicBool>,
    _watchdog: Watchdog,
}

impl Server {
    pub fn start(s: &Scratch, addr: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_with_umask(s, addr, args, env, None)
    }

    /// `start` with the process umask set to `umask` in the server.
    pub fn start_with_umask(
        s: &Scratch,
        addr: &str,
        args: &[&str],
        env: &[(&str, &str)],
        umask: Option<u32>,
    ) -> Server {
        let mut cmd = s.cmd();
        if let Some(mask) = umask {
            use std::os::unix::process::CommandExt;
            // SAFETY: umask is async-signal-safe.
            unsafe {
                cmd.pre_exec(move || {
                    libc::umask(mask as libc::mode_t);
                    Ok(())
                });
            }
        }
        cmd.arg("replay")
            .arg("--dap")
            .arg(addr)
            .args(args)
            .env_remove("RRGO_DAP_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let watchdog = Watchdog::new(child.id());
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let drained = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let end = drained.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
            end.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let mut server = Server {
            child,
            port: 0,
            stderr,
            drained,
            _watchdog: watchdog,
        };
        let line = server.wait_stderr("DAP server listening on ", PROMPT);
        let port = line.rsplit(':').next().and_then(|p| p.trim().parse().ok());
        server.port = port.unwrap_or_else(|| panic!("no port in {line:?}"));
        server
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The first stderr line containing `needle`; panics after `limit`.
    pub fn wait_stderr(&mut self, needle: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            // Read first: once set, every line is in `stderr` (the reader
            // can lag behind the exit: a CI run missed "DAP server
            // exiting" so).
            let drained = self.drained.load(std::sync::atomic::Ordering::SeqCst);
            if let Some(l) = self.stderr().lines().find(|l| l.contains(needle)) {
                return l.to_string();
            }
            if let (true, Ok(Some(st))) = (drained, self.child.try_wait()) {
                panic!(
                    "rrgo exited ({st}) without printing {needle:?}:\n{}",
                    self.stderr()
                );
            }
            assert!(
                start.elapsed() < limit,
                "rrgo did not print {needle:?} within {limit:?}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A DAP client on one connection.
pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
    seq: i64,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            r: BufReader::new(stream.try_clone().unwrap()),
            w: stream,
            seq: 0,
        }
    }

    pub fn send(&mut self, command: &str, args: Value) -> i64 {
        self.seq += 1;
        let body =
            json!({"seq": self.seq, "type": "request", "command": command, "arguments": args})
                .to_string();
        // One write: a header and body in two segments wait out Nagle and
        // delayed ACKs (40 ms a request).
        let msg = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        self.w.write_all(msg.as_bytes()).unwrap();
        self.seq
    }

    /// The next message, None when the server closed the connection; panics after `limit`.
    pub fn read(&mut self, limit: Duration) -> Option<Value> {
        let deadline = Instant::now() + limit;
        let mut length = None;
        loop {
            let line = self.read_line(deadline)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length:") {
                length = v.trim().parse::<usize>().ok();
            }
        }
        let mut body = vec![0; length.expect("a Content-Length header")];
        self.set_timeout(deadline);
        self.r.read_exact(&mut body).unwrap();
        Some(serde_json::from_slice(&body).unwrap())
    }

    pub fn set_timeout(&mut self, deadline: Instant) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no message from the server in time");
        self.r
            .get_ref()
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
    }

    pub fn read_line(&mut self, deadline: Instant) -> Option<String> {
        let mut line = String::new();
        self.set_timeout(deadline);
        match self.r.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(line),
            // A reset counts as closed.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
            Err(e) => panic!("no message from the server within the deadline ({e})"),
        }
    }

    /// The response to request `seq`, skipping events; panics after `limit` or at a close.
    pub fn response(&mut self, seq: i64, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = self
                .read(left)
                .unwrap_or_else(|| panic!("connection closed before the response to {seq}"));
            if m["type"] == "response" && m["request_seq"] == seq {
                return m;
            }
        }
    }

    pub fn request(&mut self, command: &str, args: Value, limit: Duration) -> Value {
        let seq = self.send(command, args);
        self.response(seq, limit)
    }

    /// Every message up to the server's close; panics if it does not close within `limit`.
    pub fn until_closed(&mut self, limit: Duration) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        while let Some(m) = self.read(deadline.saturating_duration_since(Instant::now())) {
            seen.push(m);
        }
        seen
    }

    pub fn initialize(&mut self) {
        let r = self.request("initialize", json!({"adapterID": "go"}), PROMPT);
        assert_eq!(r["success"], true, "initialize: {r}");
    }
}

pub fn attach_args(extra: Value) -> Value {
    let mut a = json!({"type": "go", "request": "attach", "mode": "remote", "port": 0});
    for (k, v) in extra.as_object().unwrap() {
        a[k] = v.clone();
    }
    a
}

pub fn launch_args(trace: &Path) -> Value {
    json!({"type": "go", "request": "launch", "mode": "replay", "traceDirPath": trace})
}
