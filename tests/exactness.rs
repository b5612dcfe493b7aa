//! A trace replays the same whatever happens around it afterwards: the files
//! it copied change, the replaying rrgo runs in other conditions than the
//! recording one. Some programs here are C, compiled by the test with gcc,
//! where Go cannot reach the case.
mod common;

use std::path::{Path, PathBuf};

use common::*;

fn newest() -> String {
    go_versions().into_iter().next().expect("a Go version")
}

/// Compiles `src` (C) into `<scratch>/<name>`.
fn gcc(s: &Scratch, name: &str, src: &str) -> PathBuf {
    let c = s.path().join(format!("{name}.c"));
    std::fs::write(&c, src).unwrap();
    let out = s.path().join(name);
    let cc = output_within(
        std::process::Command::new("gcc")
            .arg("-O1")
            .arg("-o")
            .arg(&out)
            .arg(&c),
        DEADLINE,
    );
    assert!(cc.status.success(), "gcc: {}", text(&cc.stderr));
    out
}

/// Maps the file named by argv[1] privately and prints its first bytes.
const MAP_A_FILE: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
int main(int argc, char **argv) {
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) { perror("open"); return 1; }
    char *p = mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 1; }
    printf("mapped: %.16s\n", p);
    return 0;
}
"#;

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// The trace holds its own copies: overwriting the program and the file it
/// mapped in place after recording (as `cp` or a build does) changes nothing
/// in the replay, the copies carry no setuid bit, and replay does not modify
/// them.
#[test]
fn stored_files_are_copies_taken_when_mapped() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    let prog = gcc(&s, "mapfile", MAP_A_FILE);
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let data = s.path().join("data");
    std::fs::write(&data, "recorded content and more").unwrap();
    let (rec, trace) = s.record("t", &prog, &[data.to_str().unwrap()]);
    assert_eq!(rec.status.code(), Some(0), "{}", text(&rec.stderr));
    assert_eq!(text(&rec.stdout), "mapped: recorded content\n");

    let copies: Vec<PathBuf> = std::fs::read_dir(trace.join("files"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        copies.len() >= 2,
        "program and data file stored: {copies:?}"
    );
    for c in &copies {
        assert_eq!(mode(c), 0o600, "{}", c.display());
    }

    // In place (same inode), as `cp` over an existing file does.
    std::fs::write(&data, "CHANGED CONTENT!!!!!!!!!!!!").unwrap();
    let other = std::fs::read(example(&newest(), "hello")).unwrap();
    std::fs::write(&prog, other).unwrap();
    assert_same("files changed after recording", &rec, &s.replay(&trace));

    // Replay does not touch the trace (it used to make its copy executable).
    for c in &copies {
        assert_eq!(mode(c), 0o600, "after replay: {}", c.display());
    }
}
