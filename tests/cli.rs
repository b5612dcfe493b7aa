//! The command line: help, exit codes, and clear errors on bad input.

mod common;

use common::*;
use trace_format::*;

fn header(exe: StoredFile) -> Header {
    Header {
        rrgo_version: "0.1.0".into(),
        created_unix_ms: 1_795_000_000_000,
        argv: vec![b"./app".to_vec(), b"--flag".to_vec()],
        env: vec![b"A=1".to_vec()],
        cwd: b"/tmp".to_vec(),
        exe,
        go_version: Some("go1.27.3".into()),
        auxv_random: [7; 16],
        host: HostInfo {
            kernel_release: "6.18".into(),
            hostname: "h".into(),
            cpu_model: "cpu".into(),
            ncpus: 2,
            pinned_cpu: 0,
        },
        initial_signals: Default::default(),
        initial_rlimits: Vec::new(),
    }
}

/// A small trace written by the trace-format crate itself.
fn synthetic_trace(dir: &std::path::Path, events: usize) {
    let exe = std::env::current_exe().unwrap();
    let mut w = TraceWriter::create_with(
        dir,
        WriterOptions {
            chunk_bytes: 512,
            ..Default::default()
        },
        |files| {
            let f = files.store(&exe, None)?;
            Ok::<_, TraceError>(header(f))
        },
    )
    .unwrap();
    for i in 0..events {
        let regs = Regs {
            rip: 0x40_1000 + i as u64,
            ..Default::default()
        };
        w.append(
            EventKind::SyscallEntry {
                nr: 0,
                args: [3, 0xc000_0000, 64, 0, 0, 0],
                regs,
            },
            RecTid(100),
        )
        .unwrap();
        w.append(
            EventKind::SyscallExit {
                nr: 0,
                result: 64,
                writes: vec![MemWrite {
                    addr: RemoteAddr(0xc000_0000),
                    data: vec![i as u8; 64],
                }],
                mode: SyscallMode::Emulated,
                extra: SyscallExtra::None,
            },
            RecTid(100),
        )
        .unwrap();
    }
    w.append(
        EventKind::ProcessExit {
            status: ExitStatus::Code(3),
        },
        RecTid(100),
    )
    .unwrap();
    w.finish().unwrap();
}

#[test]
fn help_explains_the_commands_and_exit_codes() {
    let s = Scratch::new();
    let out = s.run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for word in [
        "record",
        "replay",
        "ls",
        "info",
        "dump",
        "Exit codes",
        "latest-trace",
    ] {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
    let out = s.run(&["replay", "--help"]);
    assert!(text(&out.stdout).contains("--dap"));
}

#[test]
fn info_and_dump_describe_a_trace() {
    let s = Scratch::new();
    let dir = s.path().join("synthetic");
    synthetic_trace(&dir, 100);
    let out = s.run(&["info", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let info = text(&out.stdout);
    assert!(info.contains("events:       201"), "{info}");
    assert!(info.contains("syscall-entry    100\n"), "{info}");
    // Where the bytes go: every kind's encoded size, largest first.
    let bytes = info
        .lines()
        .find_map(|l| l.strip_prefix("bytes:"))
        .unwrap_or_else(|| panic!("no bytes line: {info}"));
    let total: u64 = bytes.split_whitespace().next().unwrap().parse().unwrap();
    let kinds: Vec<(&str, u64)> = bytes
        .split_once("by kind: ")
        .unwrap()
        .1
        .split(", ")
        .map(|k| {
            let mut w = k.split_whitespace();
            (w.next().unwrap(), w.next().unwrap().parse().unwrap())
        })
        .collect();
    assert_eq!(kinds.iter().map(|(_, b)| b).sum::<u64>(), total, "{info}");
    assert!(kinds.windows(2).all(|w| w[0].1 >= w[1].1), "{info}");
    assert!(kinds.iter().any(|(k, _)| *k == "syscall-entry"), "{info}");
    assert!(info.contains("status:       complete"), "{info}");
    assert!(info.contains("exit code 3"), "{info}");

    let out = s.run(&[
        "dump",
        dir.to_str().unwrap(),
        "--from",
        "10",
        "--count",
        "3",
    ]);
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].starts_with("#10 ") && lines[0].contains("read("),
        "{lines:?}"
    );
    let out = s.run(&["dump", dir.to_str().unwrap(), "--json", "--from", "200"]);
    let line = text(&out.stdout);
    assert!(
        line.contains("\"ProcessExit\"") && line.contains("\"time\":200"),
        "{line}"
    );
}

#[test]
fn missing_trace_is_exit_code_3() {
    let s = Scratch::new();
    for cmd in ["info", "dump", "replay"] {
        let out = s.run(&[cmd, "/nonexistent/trace"]);
        assert_eq!(out.status.code(), Some(3), "{cmd}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).starts_with("rrgo: error: "),
            "{}",
            text(&out.stderr)
        );
    }
    // No trace at all yet: the latest one is asked for.
    let out = s.run(&["info"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("rrgo record"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn corrupt_truncated_and_future_traces_give_clear_errors() {
    let s = Scratch::new();
    let dir = s.path().join("t");
    synthetic_trace(&dir, 400);
    let events = dir.join("events");
    let bytes = std::fs::read(&events).unwrap();

    // Truncated without an index: a readable prefix, reported as incomplete.
    std::fs::remove_file(dir.join("index")).unwrap();
    std::fs::write(&events, &bytes[..bytes.len() / 2]).unwrap();
    let out = s.run(&["info", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("INCOMPLETE"),
        "{}",
        text(&out.stdout)
    );

    // A corrupt chunk payload: dump stops with exit code 3 and says where.
    let mut bad = bytes.clone();
    let mid = bad.len() / 3;
    for b in &mut bad[mid..mid + 16] {
        *b ^= 0xff;
    }
    std::fs::write(&events, &bad).unwrap();
    let out = s.run(&["dump", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("rrgo: error:"),
        "{}",
        text(&out.stderr)
    );

    // A trace from another format version.
    let header = dir.join("header");
    let mut h = std::fs::read(&header).unwrap();
    h[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    std::fs::write(&header, &h).unwrap();
    let out = s.run(&["info", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("trace format {}", FORMAT_VERSION + 1)) && err.contains("0.1.0"),
        "{err}"
    );

    // Not a trace at all.
    let out = s.run(&["info", s.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn recording_a_missing_program_fails_cleanly() {
    let s = Scratch::new();
    let out = s.run(&["record", "/nonexistent/program"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no such file"),
        "{}",
        text(&out.stderr)
    );
    let out = s.run(&["record", "no-such-program-in-path-xyz"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not found in PATH"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn dap_server_argument_errors_are_usage_or_trace_errors() {
    let s = Scratch::new();
    let dir = s.path().join("t");
    synthetic_trace(&dir, 1);
    let out = s.run(&["replay", dir.to_str().unwrap(), "--dap", "not an address"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let missing = s.path().join("missing");
    let out = s.run(&["replay", missing.to_str().unwrap(), "--dap", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
}

#[test]
fn traces_go_to_the_trace_dir_with_a_latest_link() {
    let s = Scratch::new();
    let prog = example(&go_versions()[0], "hello");
    for _ in 0..2 {
        let out = output_within(s.cmd().arg("record").arg(&prog), DEADLINE);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("rrgo: trace saved to"));
    }
    assert!(s.path().join("hello-0/header").exists());
    assert!(s.path().join("hello-1/header").exists());
    let latest = std::fs::read_link(s.path().join("latest-trace")).unwrap();
    assert_eq!(latest, std::path::PathBuf::from("hello-1"));
    let ls = text(&s.run(&["ls"]).stdout);
    assert!(
        ls.contains("hello-0") && ls.contains("hello-1  <- latest-trace"),
        "{ls}"
    );
    // -q silences rrgo, not the program.
    let out = output_within(s.cmd().args(["record", "-q"]).arg(&prog), DEADLINE);
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("hello, gopher"));
    // Replaying by name, the latest by default.
    let out = s.run(&["replay", "-a"]);
    assert!(
        text(&out.stdout).contains("hello, gopher"),
        "{}",
        text(&out.stderr)
    );
}
