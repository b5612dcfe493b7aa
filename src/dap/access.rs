//! Who the DAP server lets in, and which recordings it opens for them.
//!
//! A recording holds the program it replays, so opening one runs code: a
//! client may only name the recording given on the command line (or, when
//! none was, one under the user's trace directory) unless the server was
//! started with `--dap-allow-any-trace`. An optional token (`--dap-token`,
//! `RRGO_DAP_TOKEN`) must come in the launch/attach arguments as
//! `rrgoToken`. Clients that arrive while another is served are told so and
//! closed (`turn_away`); the handshake deadline lives in `session`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tracing::{info, warn};

use super::framing::{read_frame, write_frame};
use super::json::{self, get_str, ids, ReqError};
use crate::trace_dir;

/// The launch/attach argument that carries the token.
pub const TOKEN_KEY: &str = "rrgoToken";
/// A turned-away client waits this long for its first request to be answered.
const TURN_AWAY_WAIT: Duration = Duration::from_secs(5);
/// A client that arrives just as the previous one leaves is served, not turned away.
pub const FREE_GRACE: Duration = Duration::from_secs(1);
/// At most this many turned-away clients are being answered at once; more are closed at once.
pub const MAX_TURNING_AWAY: usize = 16;

/// How `rrgo replay --dap` was started.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// The trace named on the command line (None: the latest at attach).
    pub trace: Option<PathBuf>,
    /// `--dap-allow-any-trace`: a `launch` may name any recording.
    pub allow_any_trace: bool,
    /// `--dap-token` / `RRGO_DAP_TOKEN`: required in launch/attach arguments.
    pub token: Option<String>,
    /// None: wait for the handshake forever.
    pub handshake_timeout: Option<Duration>,
    /// `--accept-multiclient`: serve clients one after another; else exit
    /// once a debug session (one that opened the recording) ends.
    pub accept_multiclient: bool,
}

/// Checks the launch/attach arguments' token. Err: refuse, and close the connection.
pub fn check_token(opts: &ServeOptions, args: &Value) -> Result<(), String> {
    let Some(want) = &opts.token else {
        return Ok(());
    };
    match args.get(TOKEN_KEY).and_then(Value::as_str) {
        Some(got) if same_secret(got.as_bytes(), want.as_bytes()) => Ok(()),
        Some(_) => Err(format!(
            "the token in \"{TOKEN_KEY}\" is not this server's: use the value rrgo was given \
             (RRGO_DAP_TOKEN or --dap-token)"
        )),
        None => Err(format!(
            "this rrgo server requires a token: add \"{TOKEN_KEY}\": \"${{env:RRGO_DAP_TOKEN}}\" \
             to the debug configuration (the value rrgo was given with RRGO_DAP_TOKEN or \
             --dap-token)"
        )),
    }
}

/// Compares in time independent of where the first difference is.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The recording a `launch` naming `requested` (its `traceDirPath`) may open,
/// as the path to open; Err says why not and how to allow it.
pub fn launch_trace(opts: &ServeOptions, requested: &str) -> Result<PathBuf, String> {
    if opts.allow_any_trace {
        return Ok(PathBuf::from(requested));
    }
    let found = trace_dir::resolve(Some(Path::new(requested))).map_err(|e| e.to_string())?;
    let real = found
        .canonicalize()
        .map_err(|e| format!("cannot open {}: {e}", found.display()))?;
    let why = " A recording holds the program that replaying it runs, so rrgo opens only \
               the recordings it was told to trust.";
    let allow = "or start the server with --dap-allow-any-trace to let clients open any recording";
    match &opts.trace {
        Some(served) => {
            if served.canonicalize().is_ok_and(|s| s == real) {
                return Ok(real);
            }
            Err(format!(
                "this rrgo server serves only the recording given on its command line ({}), \
                 not {requested:?}.{why} Attach with \"mode\": \"remote\" to debug {0}, start \
                 `rrgo replay --dap ADDR {requested}` to debug the other one, {allow}.",
                served.display()
            ))
        }
        None => {
            let root = trace_dir::trace_root().map_err(|e| e.to_string())?;
            if is_under_root(&real, &root) {
                return Ok(real);
            }
            Err(format!(
                "this rrgo server opens only recordings under the trace directory {} \
                 ($RRGO_TRACE_DIR, else ~/.local/share/rrgo), and {requested:?} is not one.\
                 {why} Name the recording on rrgo's command line (`rrgo replay --dap ADDR \
                 {requested}`), {allow}.",
                root.display()
            ))
        }
    }
}

/// `real` (canonical) is a trace inside `root`, or the trace `latest-trace` there points to.
fn is_under_root(real: &Path, root: &Path) -> bool {
    let Ok(root) = root.canonicalize() else {
        return false;
    };
    if real != root && real.starts_with(&root) {
        return true;
    }
    // `record -o DIR` outside the root still makes DIR the latest trace.
    root.join(trace_dir::LATEST)
        .canonicalize()
        .is_ok_and(|latest| latest == real)
}

/// Loopback addresses reach only this machine (still every local user).
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The warning for an address other machines can reach.
pub fn exposure_warning(local: SocketAddr, has_token: bool) -> String {
    let reach = if local.ip().is_unspecified() {
        "every network interface"
    } else {
        "a network interface"
    };
    let token = if has_token {
        "A token is required (RRGO_DAP_TOKEN), but the traffic, token included, is not encrypted."
    } else {
        "No token is required: set RRGO_DAP_TOKEN (see README) if you must listen there."
    };
    format!(
        "rrgo: WARNING: the DAP server listens on {local}, {reach} that other machines can \
         reach. Whoever connects can read the recording (the program's memory, environment and \
         every byte it read) and make rrgo run the recorded program. {token} Prefer \
         127.0.0.1:PORT with an SSH tunnel (ssh -L PORT:127.0.0.1:PORT host)."
    )
}

/// The client being served, for the message other clients get.
#[derive(Debug, Clone, Copy)]
pub struct Busy {
    pub peer: SocketAddr,
    pub since: Instant,
}

/// Answers a client that arrived while `busy` is served: an `output` event
/// now, an error response to its first request (if it sends one within
/// `TURN_AWAY_WAIT`), then `terminated`, and the connection is closed.
pub async fn turn_away(stream: TcpStream, peer: SocketAddr, busy: Busy) {
    let detail = format!(
        "rrgo is serving another client ({}, connected {} s ago) and serves one at a time; \
         try again when it disconnects",
        busy.peer,
        busy.since.elapsed().as_secs()
    );
    warn!("DAP client {peer} turned away: {detail}");
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut seq = 0;
    let mut send = |mut v: Value| {
        seq += 1;
        if let Some(m) = v.as_object_mut() {
            m.insert("seq".into(), seq.into());
        }
        serde_json::to_vec(&v).unwrap_or_default()
    };
    let note = json!({"category": "important", "output": format!("{detail}\n")});
    let mut out = vec![send(json::event("output", Some(note)))];
    if let Ok(Ok(Some(body))) = tokio::time::timeout(TURN_AWAY_WAIT, read_frame(&mut r)).await {
        let (req_seq, command) = request_head(&body);
        let e = ReqError::new(ids::SERVER_BUSY, "rrgo is serving another client", detail);
        out.push(send(json::error_response(req_seq, &command, &e)));
    }
    out.push(send(json::event("terminated", None)));
    for body in out {
        if write_frame(&mut w, &body).await.is_err() {
            break;
        }
    }
    let _ = w.shutdown().await;
    info!("DAP client {peer} closed");
}

/// The seq and command of a request, as far as they can be read.
fn request_head(body: &[u8]) -> (i64, String) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let seq = v.get("seq").and_then(Value::as_i64).unwrap_or(0);
    let command = get_str(&v, "command").ok().flatten().unwrap_or("unknown");
    (seq, command.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(token: Option<&str>) -> ServeOptions {
        ServeOptions {
            token: token.map(str::to_string),
            ..ServeOptions::default()
        }
    }

    #[test]
    fn tokens() {
        assert!(check_token(&opts(None), &json!({})).is_ok());
        let o = opts(Some("s3cret"));
        assert!(check_token(&o, &json!({"rrgoToken": "s3cret"})).is_ok());
        assert!(check_token(&o, &json!({"rrgoToken": "s3cre"})).is_err());
        assert!(check_token(&o, &json!({"rrgoToken": "s3creT"})).is_err());
        assert!(check_token(&o, &json!({"rrgoToken": 1})).is_err());
        assert!(check_token(&o, &json!({}))
            .unwrap_err()
            .contains("rrgoToken"));
    }

    #[test]
    fn loopback() {
        assert!(is_loopback("127.0.0.1".parse().unwrap()));
        assert!(is_loopback("::1".parse().unwrap()));
        assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!is_loopback("0.0.0.0".parse().unwrap()));
        assert!(!is_loopback("::".parse().unwrap()));
        assert!(!is_loopback("10.1.2.3".parse().unwrap()));
    }

    #[test]
    fn heads() {
        assert_eq!(
            request_head(br#"{"seq":4,"command":"initialize"}"#),
            (4, "initialize".to_string())
        );
        assert_eq!(request_head(b"junk"), (0, "unknown".to_string()));
    }
}
