//! Shared helpers for the integration tests: they drive the real `rrgo`
//! binary on the Go programs in examples/, built by scripts/setup.sh with
//! every toolchain in scripts/go-versions.
#![allow(dead_code)]

pub mod dapclient;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn rrgo() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rrgo"))
}

/// The pinned Go versions, newest first.
pub fn go_versions() -> Vec<String> {
    std::fs::read_to_string(repo().join("scripts/go-versions"))
        .expect("scripts/go-versions")
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The newest pinned Go version (the first in scripts/go-versions).
pub fn newest() -> String {
    go_versions().into_iter().next().expect("a Go version")
}

/// A built example; panics with a hint when scripts/setup.sh has not run.
pub fn example(version: &str, name: &str) -> PathBuf {
    let p = repo()
        .join(".build")
        .join(format!("go{version}"))
        .join(name);
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh (or scripts/build-examples.sh)",
        p.display()
    );
    p
}

/// The line number of `// #BP <marker>` in examples/<name>/main.go.
pub fn marker_line(name: &str, marker: &str) -> usize {
    marker_line_in(&format!("{name}/main.go"), marker)
}

/// `marker_line` in another file of the examples (`stalls/ledger/ledger.go`).
pub fn marker_line_in(file: &str, marker: &str) -> usize {
    let src = std::fs::read_to_string(repo().join("examples").join(file)).unwrap();
    let tag = format!("// #BP {marker}");
    src.lines()
        .position(|l| l.contains(&tag))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no marker {marker} in examples/{file}"))
}

/// A scratch trace root; `RRGO_TRACE_DIR` points there for every command.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    /// A fresh directory, removed afterwards unless `RRGO_TEST_KEEP=1`
    /// (to look at a failing test's traces).
    pub fn new() -> Scratch {
        let mut dir = tempfile::Builder::new()
            .prefix("rrgo-test-")
            .tempdir()
            .unwrap();
        if std::env::var_os("RRGO_TEST_KEEP").is_some_and(|v| v == "1") {
            dir.disable_cleanup(true);
            eprintln!("scratch kept: {}", dir.path().display());
        }
        Scratch { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn cmd(&self) -> Command {
        use std::os::unix::process::CommandExt;
        let mut c = Command::new(rrgo());
        c.env("RRGO_TRACE_DIR", self.path())
            .env_remove("RRGO_LOG")
            .stdin(Stdio::null());
        // Dispositions are inherited through exec, and Go keeps an inherited
        // SIG_IGN: under `nohup` (SIGHUP) or from a shell's background job
        // (SIGINT, SIGQUIT) the recorded programs would ignore the signals
        // the death tests send. Every rrgo starts with them at their default.
        // SAFETY: signal(2) is async-signal-safe; nothing else runs here.
        unsafe {
            c.pre_exec(|| {
                for sig in [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM] {
                    libc::signal(sig, libc::SIG_DFL);
                }
                Ok(())
            });
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        output_within(self.cmd().args(args), DEADLINE)
    }

    /// Records `prog args` into `<scratch>/<trace>`.
    pub fn record(&self, trace: &str, prog: &Path, args: &[&str]) -> (Output, PathBuf) {
        self.record_env(trace, prog, args, &[])
    }

    /// `record` with extra environment for rrgo (knobs such as RRGO_PREEMPT_MS).
    pub fn record_env(
        &self,
        trace: &str,
        prog: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> (Output, PathBuf) {
        let dir = self.path().join(trace);
        let mut cmd = self.cmd();
        cmd.envs(env.iter().copied())
            .arg("record")
            .arg("-o")
            .arg(&dir)
            .arg("--")
            .arg(prog)
            .args(args);
        (output_within(&mut cmd, DEADLINE), dir)
    }

    pub fn replay(&self, trace: &Path) -> Output {
        output_within(self.cmd().arg("replay").arg("-a").arg(trace), DEADLINE)
    }
}

/// No single rrgo run in the tests takes near this long; a hang must fail, not stall CI.
pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// Like `Command::output`, but kills the process (and fails) past `limit`.
pub fn output_within(cmd: &mut Command, limit: std::time::Duration) -> Output {
    use std::io::Read;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let ereader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > limit {
            // Where everything was, for a hang that does not come back.
            // (Its output is not waited for: a child it started may hold
            // the pipes open.)
            let states = process_tree(child.id());
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {limit:?}; its threads then \
                 (pid/tid name state wchan):\n{states}"
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Output {
        status,
        stdout: reader.join().unwrap(),
        stderr: ereader.join().unwrap(),
    }
}

/// Every thread of `root` and of the processes below it: pid/tid, name,
/// state and the kernel function it waits in.
fn process_tree(root: u32) -> String {
    let read = |p: String| std::fs::read_to_string(p).unwrap_or_default();
    // (pid, ppid) of every process: the field after the parenthesised name.
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = read(format!("/proc/{pid}/stat"));
            let after = stat.rsplit_once(')')?.1;
            Some((pid, after.split_whitespace().nth(1)?.parse().ok()?))
        })
        .collect();
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(parents.iter().filter(|p| p.1 == parent).map(|p| p.0));
        i += 1;
    }
    let mut out = String::new();
    for pid in tree {
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let t = task.path();
            let stat = read(format!("{}/stat", t.display()));
            let state = stat
                .rsplit_once(')')
                .map_or("?", |s| s.1.trim())
                .chars()
                .next();
            out += &format!(
                "  {pid}/{} {} {} {}\n",
                task.file_name().to_string_lossy(),
                read(format!("{}/comm", t.display())).trim(),
                state.unwrap_or('?'),
                read(format!("{}/wchan", t.display())).trim()
            );
        }
    }
    out
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// rrgo's own messages (`rrgo: …`) removed, leaving the program's stderr.
pub fn program_stderr(out: &Output) -> String {
    text(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with("rrgo: "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Asserts a replay reproduced the recording: same stdout, stderr, exit status.
pub fn assert_same(what: &str, recorded: &Output, replayed: &Output) {
    assert!(
        !text(&replayed.stderr).contains("diverged"),
        "{what}: replay diverged:\n{}",
        text(&replayed.stderr)
    );
    assert_eq!(
        text(&recorded.stdout),
        text(&replayed.stdout),
        "{what}: stdout differs; replay's stderr:\n{}",
        text(&replayed.stderr)
    );
    assert_eq!(
        program_stderr(recorded),
        program_stderr(replayed),
        "{what}: stderr differs; replay's stderr:\n{}",
        text(&replayed.stderr)
    );
    assert_eq!(
        recorded.status.code(),
        replayed.status.code(),
        "{what}: exit code differs; replay's stderr:\n{}",
        text(&replayed.stderr)
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        recorded.status.signal(),
        replayed.status.signal(),
        "{what}: exit signal differs"
    );
}

/// The number of the first (or last) event whose `rrgo dump` line contains `needle`.
pub fn event_with(s: &Scratch, trace: &Path, needle: &str, last: bool) -> String {
    let dump = s.run(&["dump", trace.to_str().unwrap()]);
    let out = text(&dump.stdout);
    let mut lines = out.lines().filter(|l| l.contains(needle));
    let line = if last {
        lines.next_back()
    } else {
        lines.next()
    };
    line.and_then(|l| {
        l.trim_start_matches('#')
            .split_whitespace()
            .next()
            .map(str::to_string)
    })
    .unwrap_or_else(|| panic!("no event with {needle:?} in the trace"))
}

/// Kills a spawned rrgo after `DEADLINE` unless dropped first, so a hang
/// fails the test instead of stalling CI.
pub struct Watchdog(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Watchdog {
    pub fn new(pid: u32) -> Watchdog {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            while start.elapsed() < DEADLINE {
                if flag.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            // SAFETY: killing the test's own child process.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        });
        Watchdog(done)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Reads a recorded program's stderr up to its `ready pid=N` line; returns
/// N and everything read so far. Panics if the stream ends first.
pub fn wait_ready(
    stderr: &mut std::io::BufReader<std::process::ChildStderr>,
    what: &str,
) -> (i32, String) {
    use std::io::BufRead;
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "{what} never said ready: {seen}"
        );
        seen.push_str(&line);
        if let Some(p) = line.trim().strip_prefix("ready pid=") {
            return (p.parse().unwrap(), seen);
        }
    }
}

/// `rrgo record` running in the background, its program past `ready pid=N`.
pub struct Background {
    pub child: std::process::Child,
    pub stderr: std::io::BufReader<std::process::ChildStderr>,
    /// The recorded program's pid.
    pub pid: i32,
    /// rrgo's stderr up to and including the ready line.
    pub seen: String,
    pub watchdog: Watchdog,
}

impl Scratch {
    /// Starts `rrgo record FLAGS -o TRACE -- PROG ARGS` and returns once the
    /// program said `ready pid=N` on stderr.
    pub fn record_until_ready(
        &self,
        flags: &[&str],
        trace: &Path,
        prog: &Path,
        args: &[&str],
    ) -> Background {
        let mut child = self
            .cmd()
            .arg("record")
            .args(flags)
            .arg("-o")
            .arg(trace)
            .arg("--")
            .arg(prog)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let watchdog = Watchdog::new(child.id());
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let what = prog.file_name().unwrap_or_default().to_string_lossy();
        let (pid, seen) = wait_ready(&mut stderr, &what);
        Background {
            child,
            stderr,
            pid,
            seen,
            watchdog,
        }
    }
}

impl Background {
    /// Sends the recorded program `n` SIGUSR1s 5 ms apart, then, after
    /// `settle`, SIGTERM, and waits for the recording to end.
    pub fn usr1s_then_term(self, n: usize, settle: std::time::Duration) -> Output {
        for _ in 0..n {
            // SAFETY: signalling the recorded program.
            unsafe { libc::kill(self.pid, libc::SIGUSR1) };
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::thread::sleep(settle);
        // SAFETY: as above.
        unsafe { libc::kill(self.pid, libc::SIGTERM) };
        self.finish()
    }

    /// Waits for the recording to end; its stderr is all of it.
    pub fn finish(mut self) -> Output {
        use std::io::Read;
        let mut rest = Vec::new();
        self.stderr.read_to_end(&mut rest).unwrap();
        let mut out = self.child.wait_with_output().unwrap();
        drop(self.watchdog);
        let mut all = self.seen.into_bytes();
        all.extend(rest);
        out.stderr = all;
        out
    }
}

/// examples/`name` built by Go `version` as a position-independent
/// executable (`-buildmode=pie`, as distributions build Go programs) into
/// `dir`; with `debug`, without optimizations (`-gcflags=all=-N -l`).
pub fn example_pie(version: &str, name: &str, dir: &Path, debug: bool) -> PathBuf {
    build_pie(version, name, dir, debug, false)
}

/// `example_pie` linked by the C linker (`-ldflags=-linkmode=external`, as
/// every cgo program built `-buildmode=pie` is): the image starts with a
/// read-only segment below its text. Needs gcc.
pub fn example_pie_linked_externally(version: &str, name: &str, dir: &Path) -> PathBuf {
    build_pie(version, name, dir, false, true)
}

fn build_pie(version: &str, name: &str, dir: &Path, debug: bool, external: bool) -> PathBuf {
    let go = repo()
        .join(".tools")
        .join(format!("go{version}"))
        .join("go/bin/go");
    assert!(
        go.exists(),
        "{} is missing: run scripts/setup.sh",
        go.display()
    );
    let exe = dir.join(format!("{name}{}.pie", if external { ".ext" } else { "" }));
    let built = output_within(
        Command::new(&go)
            .args(["build", "-buildvcs=false", "-buildmode=pie"])
            .args(debug.then_some("-gcflags=all=-N -l"))
            .args(external.then_some("-ldflags=-linkmode=external"))
            .envs(external.then_some(("CGO_ENABLED", "1")))
            .arg("-o")
            .arg(&exe)
            .arg(format!("./{name}"))
            .current_dir(repo().join("examples"))
            .env("GOTOOLCHAIN", "local")
            .env("GOPROXY", "off")
            .env("GOFLAGS", "")
            .env("GOCACHE", dir.join("gocache")),
        std::time::Duration::from_secs(300),
    );
    assert!(
        built.status.success(),
        "go{version} build -buildmode=pie {name} failed:\n{}",
        text(&built.stderr)
    );
    exe
}
