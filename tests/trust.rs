//! Traces keep secrets: a trace is private to its owner whatever the umask,
//! and `ls`/`info` say whose it is and flag one others can read.

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
