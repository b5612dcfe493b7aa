//! Traces keep secrets: a trace is private to its owner whatever the umask,
//! `ls`/`info` say whose it is and flag one others can read, and
//! `record --redact-env` keeps named variables' values out of every file of
//! the trace while replay stays exact for programs that do not use them.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// `rrgo ARGS` started with `umask` in effect.
fn rrgo_with_umask(s: &Scratch, umask: &str, root: &Path, args: &[&str]) -> Output {
    let mut cmd = s.cmd();
    cmd.env("RRGO_TRACE_DIR", root);
    let program = cmd.get_program().to_owned();
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(r#"umask "$1"; shift; exec "$@""#)
        .arg("sh")
        .arg(umask)
        .arg(program)
        .args(args);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    output_within(&mut sh, DEADLINE)
}

/// Every entry under `dir` (itself included), symlinks not followed.
fn walk(dir: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    let mut out = vec![(dir.to_path_buf(), std::fs::symlink_metadata(dir).unwrap())];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push((path, meta));
        }
    }
    out
}

/// Directories 0700, files 0600; the `latest-trace` symlink (no mode of its own) aside.
fn assert_private(dir: &Path, what: &str) {
    for (path, meta) in walk(dir) {
        let mode = meta.permissions().mode() & 0o7777;
        let ft = meta.file_type();
        if ft.is_symlink() {
            continue;
        }
        let want = if ft.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(
            mode,
            want,
            "{what}: {} has mode {mode:04o}, want {want:04o}",
            path.display()
        );
    }
}

#[test]
fn trace_files_are_private_whatever_the_umask() {
    let s = Scratch::new();
    let hello = example(&go_versions()[0], "hello");
    let hello = hello.to_str().unwrap();
    for umask in ["000", "022", "0277"] {
        // A root that does not exist yet: rrgo creates it.
        let root = s.path().join(format!("root-{umask}"));
        let out = rrgo_with_umask(&s, umask, &root, &["record", hello]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let trace = root.join("hello-0");
        // Caches written later into the trace (the goroutine index).
        let out = rrgo_with_umask(&s, umask, &root, &["replay", "--signals"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(trace.join("goindex").is_file(), "no goindex cache written");
        assert!(trace.join("files").is_dir() && trace.join("manifest").is_file());
        assert_private(&root, &format!("umask {umask}"));

        // -o DIR, in a directory of the user's (left as it is).
        let parent = s.path().join(format!("out-{umask}"));
        let dir = parent.join("trace");
        let out = rrgo_with_umask(
            &s,
            umask,
            &root,
            &["record", "-o", dir.to_str().unwrap(), hello],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_private(&dir, &format!("-o under umask {umask}"));
    }
}

fn id(flag: &str) -> String {
    let out = Command::new("id").arg(flag).output().unwrap();
    text(&out.stdout).trim().to_string()
}

#[test]
fn ls_and_info_name_the_owner_and_flag_open_traces() {
    let s = Scratch::new();
    let hello = example(&go_versions()[0], "hello");
    let out = output_within(s.cmd().arg("record").arg(&hello), DEADLINE);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let owner = format!("{} (uid {})", id("-un"), id("-u"));

    let ls = s.run(&["ls"]);
    let line = text(&ls.stdout);
    assert!(
        line.contains(&format!("hello-0  <- latest-trace  owner {owner}")),
        "{line}"
    );
    assert!(!line.contains("OPEN"), "{line}");
    let info = text(&s.run(&["info"]).stdout);
    assert!(
        info.contains(&format!("owner:        {owner}, private (mode 0700)")),
        "{info}"
    );

    // A trace an older rrgo made (0755) is flagged, on stdout and stderr.
    let trace = s.path().join("hello-0");
    std::fs::set_permissions(&trace, std::fs::Permissions::from_mode(0o755)).unwrap();
    let ls = s.run(&["ls"]);
    assert!(
        text(&ls.stdout).contains(&format!("owner {owner}  OPEN TO OTHER USERS (mode 0755)")),
        "{}",
        text(&ls.stdout)
    );
    assert!(
        text(&ls.stderr).contains("is open to other users (mode 0755)"),
        "{}",
        text(&ls.stderr)
    );
    let info = s.run(&["info"]);
    assert!(
        text(&info.stdout).contains(&format!("owner:        {owner}, OPEN TO OTHER USERS")),
        "{}",
        text(&info.stdout)
    );
    assert!(text(&info.stderr).contains("chmod -R go="));
}

/// The bytes of every file of a trace, the events file's chunks decompressed.
fn trace_contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    use trace_format::chunk::{decompress_payload, ChunkHeader, CHUNK_HEADER_LEN};
    let mut out = Vec::new();
    for (path, meta) in walk(dir) {
        if !meta.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        if path.file_name().is_some_and(|n| n == "events") {
            let mut at = trace_format::chunk::EVENTS_PREAMBLE_LEN as usize;
            let mut n = 0;
            while at + CHUNK_HEADER_LEN <= bytes.len() {
                let h = ChunkHeader::decode(bytes[at..at + CHUNK_HEADER_LEN].try_into().unwrap())
                    .unwrap();
                let payload = &bytes[at + CHUNK_HEADER_LEN..at + h.disk_len() as usize];
                let plain = decompress_payload(&h, payload, &path, at as u64).unwrap();
                out.push((format!("events chunk {n}"), plain));
                at += h.disk_len() as usize;
                n += 1;
            }
            assert!(n > 0, "no chunks in {}", path.display());
        }
        out.push((path.display().to_string(), bytes));
    }
    out
}

/// Where in the trace `needle` is.
fn found_in(dir: &Path, needle: &[u8]) -> Vec<String> {
    trace_contents(dir)
        .into_iter()
        .filter(|(_, b)| b.windows(needle.len()).any(|w| w == needle))
        .map(|(name, _)| name)
        .collect()
}

/// A value nobody could find by chance: random, of a token's length.
fn token() -> String {
    let mut b = [0u8; 40];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .unwrap();
    b.iter()
        .map(|x| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[*x as usize % 36]))
        .collect()
}

fn placeholder(value: &str) -> String {
    let mut p = format!(
        "<redacted:{:016x}>",
        xxhash_rust::xxh3::xxh3_64(value.as_bytes())
    );
    while p.len() < value.len() {
        p.push('*');
    }
    p
}

fn record_with_env(
    s: &Scratch,
    trace: &str,
    env: &[(&str, &str)],
    redact: &[&str],
    prog: &Path,
    args: &[&str],
) -> (Output, PathBuf) {
    let dir = s.path().join(trace);
    let mut cmd = s.cmd();
    // Preemption points with the written memory's contents (`Pages`), the
    // form that could carry a copied secret.
    cmd.envs(env.iter().copied())
        .env("RRGO_PREEMPT_HASHES", "0")
        .arg("record")
        .arg("-o")
        .arg(&dir);
    for r in redact {
        cmd.arg("--redact-env").arg(r);
    }
    cmd.arg("--").arg(prog).args(args);
    (output_within(&mut cmd, DEADLINE), dir)
}

fn event_count(s: &Scratch, trace: &Path, kind: &str) -> u64 {
    let info = text(&s.run(&["info", trace.to_str().unwrap()]).stdout);
    info.lines()
        .filter(|l| l.starts_with("  "))
        .find_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [k, n] if k == kind => n.parse().ok(),
            _ => None,
        })
        .unwrap_or(0)
}

#[test]
fn redacted_values_are_in_no_file_of_the_trace_and_replay_stays_exact() {
    let s = Scratch::new();
    let v = &go_versions()[0];
    let secret = token();
    let also = format!("postgres://app:{secret}@db/prod");
    let env = [
        ("SECRET_TOKEN", secret.as_str()),
        // Short: hidden where it appears with its name.
        ("TRUST_PIN", "4711"),
        // Another variable holding the value.
        ("DATABASE_URL", also.as_str()),
    ];
    let pin = b"TRUST_PIN=4711";

    // Without the option the value is everywhere: the scan finds it.
    let hello = example(v, "hello");
    let (out, plain) = record_with_env(&s, "plain", &env, &[], &hello, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let found = found_in(&plain, secret.as_bytes());
    assert!(
        found.iter().any(|f| f.ends_with("header")) && found.iter().any(|f| f.contains("chunk")),
        "{found:?}"
    );

    // hello: only the environment; cpuworkers: preemptions, whose `Pages`
    // hold the heap the runtime copied the environment to; execthreads:
    // a second exec passing os.Environ() on; osexec: /bin/sh children.
    for (name, args, kind) in [
        ("hello", &[][..], None),
        ("cpuworkers", &[][..], Some("pages")),
        ("execthreads", &[][..], Some("exec")),
        ("osexec", &[][..], Some("exec")),
    ] {
        let prog = example(v, name);
        let (rec, dir) = record_with_env(&s, name, &env, &["SECRET_TOKEN", "TRUST_*"], &prog, args);
        assert_eq!(rec.status.code(), Some(0), "{name}: {}", text(&rec.stderr));
        assert!(
            text(&rec.stderr)
                .contains("placeholders instead of the values of SECRET_TOKEN, TRUST_PIN"),
            "{}",
            text(&rec.stderr)
        );
        if let Some(kind) = kind {
            let n = event_count(&s, &dir, kind);
            let least = if kind == "exec" { 2 } else { 1 };
            assert!(
                n >= least,
                "{name}: {n} {kind} events, the case is not exercised"
            );
        }
        for needle in [secret.as_bytes(), pin] {
            let found = found_in(&dir, needle);
            assert!(
                found.is_empty(),
                "{name}: {:?} is in {found:?}",
                String::from_utf8_lossy(needle)
            );
        }
        let info = text(&s.run(&["info", dir.to_str().unwrap()]).stdout);
        let line = info.lines().find(|l| l.starts_with("redacted env:"));
        assert!(
            line.is_some_and(|l| l.contains("SECRET_TOKEN") && l.contains("TRUST_PIN")),
            "{info}"
        );
        let replayed = s.replay(&dir);
        assert_same(name, &rec, &replayed);
    }
}

/// A tiny Go program that prints a variable, built with the pinned toolchain.
fn build_printenv(s: &Scratch) -> PathBuf {
    let dir = s.path().join("printenv-src");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("main.go"),
        "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() {\n\
         \tfmt.Printf(\"token: %s\\n\", os.Getenv(\"SECRET_TOKEN\"))\n}\n",
    )
    .unwrap();
    let out = dir.join("printenv");
    let built = output_within(
        Command::new("bash")
            .arg("-c")
            .arg(
                r#"eval "$(bash "$1/scripts/install-go.sh" --env "$2")" && cd "$3" && CGO_ENABLED=0 go build -o printenv main.go"#,
            )
            .arg("bash")
            .arg(repo())
            .arg(&go_versions()[0])
            .arg(&dir),
        DEADLINE,
    );
    assert!(built.status.success(), "{}", text(&built.stderr));
    out
}

#[test]
fn a_program_that_prints_a_redacted_value_replays_with_the_placeholder() {
    let s = Scratch::new();
    let prog = build_printenv(&s);
    let secret = token();
    let (rec, dir) = record_with_env(
        &s,
        "long",
        &[("SECRET_TOKEN", &secret)],
        &["SECRET_TOKEN"],
        &prog,
        &[],
    );
    assert_eq!(text(&rec.stdout), format!("token: {secret}\n"));
    assert!(found_in(&dir, secret.as_bytes()).is_empty());
    // What it sent is checked against the recording with the value replaced.
    let replayed = s.replay(&dir);
    assert_eq!(
        replayed.status.code(),
        Some(0),
        "{}",
        text(&replayed.stderr)
    );
    assert_eq!(
        text(&replayed.stdout),
        format!("token: {}\n", placeholder(&secret))
    );

    // A short value is only `*`s; printed on its own it is not found in
    // what was sent, so the replay's output differs: a divergence, which
    // names the redaction.
    let (rec, dir) = record_with_env(
        &s,
        "short",
        &[("SECRET_TOKEN", "hunter2")],
        &["SECRET_TOKEN"],
        &prog,
        &[],
    );
    assert_eq!(text(&rec.stdout), "token: hunter2\n");
    assert!(found_in(&dir, b"SECRET_TOKEN=hunter2").is_empty());
    let replayed = s.replay(&dir);
    let err = text(&replayed.stderr);
    assert_eq!(replayed.status.code(), Some(4), "{err}");
    assert!(err.contains("token: *******"), "{err}");
    assert!(
        err.contains("placeholders instead of the values of SECRET_TOKEN"),
        "{err}"
    );
}

#[test]
fn redact_env_names_are_checked() {
    let s = Scratch::new();
    let hello = example(&go_versions()[0], "hello");
    let out = s.run(&["record", "--redact-env", "A=B", hello.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // A pattern that matches nothing may be a misspelt name: said.
    let (out, _) = record_with_env(&s, "t", &[], &["NO_SUCH_VAR_*"], &hello, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--redact-env NO_SUCH_VAR_* matched no environment variable"),
        "{}",
        text(&out.stderr)
    );
}

/// Replay execs private copies of the trace's programs from a directory in
/// the temp dir: it is 0700 under any umask (it was 0777 under umask 000).
#[test]
fn the_replays_own_directory_is_private() {
    use common::dapclient::*;
    let s = Scratch::new();
    let (rec, trace) = s.record("t", &example(&go_versions()[0], "hello"), &[]);
    assert!(rec.status.success(), "{}", text(&rec.stderr));
    let tmp = s.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let server = Server::start_with_umask(
        &s,
        "127.0.0.1:0",
        &[trace.to_str().unwrap()],
        &[("TMPDIR", tmp.to_str().unwrap())],
        Some(0o000),
    );
    let mut c = server.connect();
    c.initialize();
    let r = c.request("attach", attach_args(serde_json::json!({})), LOAD);
    assert_eq!(r["success"], true, "attach: {r}");
    let dirs: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .filter(|d| d.file_name().to_string_lossy().starts_with("rrgo-replay-"))
        .collect();
    assert!(!dirs.is_empty(), "no replay directory in {}", tmp.display());
    for d in dirs {
        let mode = d.metadata().unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700, "{} has mode {mode:o}", d.path().display());
    }
}

/// A replay killed without cleaning up (SIGKILL, a killed DAP server) left
/// its private directory — copies of the trace's programs — in the temp dir
/// for good. The next replay removes those of processes that no longer
/// exist, and only those.
#[test]
fn dead_replays_directories_are_removed() {
    let s = Scratch::new();
    let (rec, trace) = s.record("t", &example(&go_versions()[0], "hello"), &[]);
    assert!(rec.status.success(), "{}", text(&rec.stderr));
    let tmp = s.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // A pid that existed and is gone now.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = tmp.join(format!("rrgo-replay-{dead}-abc-0"));
    let live = tmp.join(format!("rrgo-replay-{}-abc-0", std::process::id()));
    for d in [&stale, &live] {
        std::fs::create_dir(d).unwrap();
        std::fs::write(d.join(".file-0"), b"a copy").unwrap();
    }
    let rep = output_within(
        s.cmd()
            .env("TMPDIR", &tmp)
            .args(["replay", "-a"])
            .arg(&trace),
        DEADLINE,
    );
    assert_same("hello", &rec, &rep);
    assert!(!stale.exists(), "a dead replay's directory was left");
    assert!(live.exists(), "a live process's directory was removed");
}
