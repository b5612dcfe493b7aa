//! The debugvars example, whose values the govalue unit tests
//! (src/govalue/tests.rs) read from a live process: it must print the
//! values those tests expect, for every Go version and both build variants,
//! and record and replay like any program.

mod common;

use std::process::Command;

use common::*;

const SUMMARY: &[&str] = &[
    "n=7 f=3.25 ok=true s=\"hello\" len(long)=700 r='i' b='E'",
    "xs=[1 2 3] cap=5 nilxs=true capxs=[7 8] cap=4 arr=[10 20 30]",
    "m keys=[a b c] mi=map[1:one 2:two 3:hello] len(big)=30 big[k29]=203 len(huge)=2000 nilm=true",
    "p={X:1 Y:2 Label:end In:{A:5 B:deep}} pp={X:10 Y:20 Label:ptr In:{A:3 B:in}} np=<nil>",
    "ei=42 es=hello! ep=*main.point err=boom cerr=code 7: bad nilerr=<nil> ae=code 7: bad",
    "ch len=2 cap=3 fn(3)=6 counter=42 greeting=\"hi\"",
    "w2.F=T-inside-W2 w2.wrap1.F=T-inside-W1 vp.F=via pointer tw=one,two",
    "c=(3.25+7i) c64=(3.25+7i) ifs={1 2 end {5 deep}} bs=bytes! up=true nilup=<nil>",
    "t0=2024-01-02 15:04:05 +0000 UTC tz=2024-01-02 15:04:05 +0100 X tzero=true add(1)=76 hits=1 describe()=code 7: bad",
    "maxItems=64 level=2 ratio=0.5 banner=debugvars",
    "result 10",
];

#[test]
fn debugvars_prints_the_values_the_value_tests_expect() {
    for version in go_versions() {
        for variant in ["debugvars", "debugvars.debug"] {
            let out = output_within(&mut Command::new(example(&version, variant)), DEADLINE);
            assert!(out.status.success(), "go{version} {variant}: {out:?}");
            assert_eq!(
                text(&out.stdout).lines().collect::<Vec<_>>(),
                SUMMARY,
                "go{version} {variant}"
            );
        }
    }
    // The marker the value tests stop at exists.
    assert!(marker_line("debugvars", "inspect") > 0);
}

#[test]
fn debugvars_replays_exactly() {
    let version = &go_versions()[0];
    let s = Scratch::new();
    let (rec, trace) = s.record("t", &example(version, "debugvars"), &[]);
    assert!(rec.status.success(), "{rec:?}");
    let rep = s.replay(&trace);
    assert_same("debugvars", &rec, &rep);
    assert_eq!(text(&rep.stdout).lines().collect::<Vec<_>>(), SUMMARY);
}

/// The generics example, whose generic functions the engine tests
/// (src/debugger/tests.rs) stop in: same output for every Go version and
/// variant, and an exact replay.
const GENERICS: &[&str] = &[
    "sum ints 6",
    "sum floats 4",
    "keys strings [a b]",
    "keys ints [7 8 9]",
    "pair {First:7 Second:seven} swapped {First:seven Second:7}",
    "pair {First:x Second:2.5} swapped {First:2.5 Second:x}",
    "stacks ints [10 20] floats [0.5]",
];

#[test]
fn generics_prints_and_replays() {
    for version in go_versions() {
        for variant in ["generics", "generics.debug"] {
            let out = output_within(&mut Command::new(example(&version, variant)), DEADLINE);
            assert!(out.status.success(), "go{version} {variant}: {out:?}");
            assert_eq!(
                text(&out.stdout).lines().collect::<Vec<_>>(),
                GENERICS,
                "go{version} {variant}"
            );
        }
    }
    for marker in [
        "sum-return",
        "keys-return",
        "swap-return",
        "push-return",
        "makepair-return",
    ] {
        assert!(marker_line("generics", marker) > 0);
    }
    let version = &go_versions()[0];
    let s = Scratch::new();
    let (rec, trace) = s.record("t", &example(version, "generics.debug"), &[]);
    assert!(rec.status.success(), "{rec:?}");
    let rep = s.replay(&trace);
    assert_same("generics", &rec, &rep);
}
