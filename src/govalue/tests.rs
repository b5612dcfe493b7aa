//! Reading the values of examples/debugvars from a live process, for every
//! Go version in scripts/go-versions and both build variants (optimized,
//! and -N -l). The program blocks inside `main.inspect`; its goroutine's
//! saved registers are unwound to that frame and every variable is compared
//! with what the source sets. Optimized builds may lose variables: each one
//! must then read "(optimized away)" — never a wrong value.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::render::{go_quote, OPTIMIZED};
use super::{DebugInfo, FrameRegs, Var};
use crate::debugger::api::Shown;
use crate::gobin::GoBinary;
use crate::goruntime::GoReader;
use crate::tracee::mem::ProcMem;

fn go_versions() -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join("scripts/go-versions"))
        .expect("scripts/go-versions")
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn binary(version: &str, debug: bool) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".build")
        .join(format!("go{version}"))
        .join(if debug {
            "debugvars.debug"
        } else {
            "debugvars"
        });
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh (or scripts/build-examples.sh)",
        p.display()
    );
    p
}

/// The example process; killed (and reaped) when dropped, before the
/// turn it holds among the tests with children (`TRACING_TESTS`) ends.
struct Running(
    Child,
    #[allow(dead_code)] std::sync::MutexGuard<'static, ()>,
);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(path: &PathBuf) -> (Running, i32) {
    let turn = crate::tracee::TRACING_TESTS
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let mut child = Command::new(path)
        .arg("-block")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
    let stdout = child.stdout.take().expect("stdout");
    let running = Running(child, turn);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("no `ready` line from debugvars -block");
    let pid = line
        .trim()
        .strip_prefix("ready ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (running, pid)
}

/// The frame of main.inspect in goroutine 1, once it is parked.
fn inspect_frame(bin: &GoBinary, di: &DebugInfo, mem: &ProcMem) -> FrameRegs {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reader = GoReader::new(bin).expect("goroutine reader");
        if let Some(g) = reader
            .goroutines(mem)
            .unwrap_or_default()
            .into_iter()
            .find(|g| g.goid == 1 && g.status == "waiting")
        {
            let (pc, sp, bp) = g.saved;
            let frames = di.unwind(mem, pc, sp, bp, 64);
            if let Some(f) = frames.iter().skip(1).find(|f| {
                bin.function_at(f.pc - 1)
                    .is_some_and(|f| f.name == "main.inspect")
            }) {
                // Frames below main.inspect must be the runtime's parking path.
                let names: Vec<String> = frames
                    .iter()
                    .map(|f| {
                        bin.function_at(f.pc.saturating_sub(1))
                            .map(|f| f.name.clone())
                            .unwrap_or_default()
                    })
                    .collect();
                assert!(
                    names.contains(&"main.main".to_string()),
                    "frames: {names:?}"
                );
                assert_eq!(
                    names.last().map(String::as_str),
                    Some("runtime.goexit"),
                    "frames: {names:?}"
                );
                return f.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "goroutine 1 never parked in main.inspect"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Expected one-line renderings, by variable name.
fn expected() -> BTreeMap<&'static str, (&'static str, String)> {
    let long = format!("{}...+188 more", "ab".repeat(256));
    let ptr_point = r#"{X: 10, Y: 20, Label: "ptr", In: main.inner {A: 3, B: "in"}}"#;
    [
        ("n", "int", "7".to_string()),
        ("f", "float64", "3.25".into()),
        ("ok", "bool", "true".into()),
        ("s", "string", r#""hello""#.into()),
        ("xs", "[]int", "[]int len: 3, cap: 5, [1,2,3]".into()),
        ("pp", "*main.point", format!("*main.point {ptr_point}")),
        ("ei", "interface {}(int)", "interface {}(int) 42".into()),
        (
            "err",
            "error(*errors.errorString)",
            r#"error(*errors.errorString) *{s: "boom"}"#.into(),
        ),
        ("ch", "chan int", "chan int 2/3".into()),
        ("block", "bool", "true".into()),
        ("long", "string", go_quote(long.as_bytes())),
        ("r", "int32", "105".into()),
        ("b", "uint8", "69 = 0x45".into()),
        ("nilxs", "[]int", "[]int len: 0, cap: 0, nil".into()),
        ("capxs", "[]int", "[]int len: 2, cap: 4, [7,8]".into()),
        ("arr", "[3]int", "[3]int [10,20,30]".into()),
        ("nilm", "map[string]int", "map[string]int nil".into()),
        (
            "p",
            "main.point",
            r#"main.point {X: 1, Y: 2, Label: "end", In: main.inner {A: 5, B: "deep"}}"#.into(),
        ),
        ("np", "*main.point", "*main.point nil".into()),
        (
            "es",
            "interface {}(string)",
            r#"interface {}(string) "hello!""#.into(),
        ),
        (
            "ep",
            "interface {}(*main.point)",
            format!("interface {{}}(*main.point) *{ptr_point}"),
        ),
        ("nilerr", "error", "error nil".into()),
        (
            "cerr",
            "error(*main.myErr)",
            r#"error(*main.myErr) *{code: 7, msg: "bad"}"#.into(),
        ),
        ("fn", "func(int) int", "main.double".into()),
    ]
    .into_iter()
    .map(|(n, t, v)| (n, (t, v)))
    .collect()
}

/// Map contents as (child name, value) pairs.
fn map_children(di: &DebugInfo, mem: &ProcMem, v: &Var) -> BTreeSet<(String, String)> {
    let e = v.expand.as_ref().expect("map is expandable");
    let mut out = BTreeSet::new();
    let mut start = 0;
    loop {
        let page = di.expand(mem, e, start, 0);
        if page.is_empty() {
            break;
        }
        start += page.len() as u64;
        out.extend(page.into_iter().map(|c| (c.value.name, c.value.value)));
    }
    // The first child is Delve's `len()`: the number of entries.
    let len = out.iter().find(|(k, _)| k == "len()").cloned();
    let (_, n) = len.expect("a map lists its len() first");
    out.retain(|(k, _)| k != "len()");
    assert_eq!(n, out.len().to_string(), "len() vs the entries listed");
    out
}

fn check(version: &str, debug: bool) {
    let path = binary(version, debug);
    let what = format!(
        "go{version} {}",
        path.file_name().unwrap().to_string_lossy()
    );
    let bin = GoBinary::load(&path).unwrap();
    let di = DebugInfo::load(&path).unwrap();
    let (_proc, pid) = start(&path);
    let mem = ProcMem::open(pid).unwrap();
    let frame = inspect_frame(&bin, &di, &mem);
    let lookup = frame.pc - 1;

    let vars = di.variables(lookup, 0);
    let mut got: BTreeMap<String, Var> = BTreeMap::new();
    for v in &vars {
        got.insert(v.name.clone(), di.read_var(&mem, &frame, v));
    }
    let args: Vec<&str> = vars
        .iter()
        .filter(|v| v.is_arg)
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(
        &args[..args.len().min(2)],
        &["n", "f"][..args.len().min(2)],
        "{what}: arguments come first, in order"
    );
    assert!(
        !got.contains_key("keys"),
        "{what}: keys is declared after the pc"
    );
    // Unnamed results are shown, as Delve does, without an expression.
    if let Some(r) = got.get("~r0") {
        assert_eq!(
            r.value.evaluate_name, None,
            "{what}: ~r0 has no evaluateName"
        );
    }

    let mut correct = 0;
    for (name, (ty, want)) in expected() {
        let Some(v) = got.get(name) else {
            assert!(!debug, "{what}: no variable {name} (have {:?})", got.keys());
            continue;
        };
        // An interface's type names its dynamic type only when it has a value.
        let ty = match (v.value.value.as_str(), ty.split_once('(')) {
            (OPTIMIZED, Some((iface @ ("error" | "interface {}"), _))) => iface,
            _ => ty,
        };
        assert_eq!(v.value.type_name, ty, "{what}: type of {name}");
        if debug || v.value.value != OPTIMIZED {
            assert_eq!(v.value.value, want, "{what}: {name}");
            correct += 1;
        }
    }
    // Arguments spilled to the stack survive optimization.
    assert!(correct >= 10, "{what}: only {correct} values readable");

    // Maps: compared as sets of children (table order is random).
    let abc: BTreeSet<(String, String)> = [("\"a\"", "1"), ("\"b\"", "2"), ("\"c\"", "3")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(m) = got.get("m").filter(|m| m.value.value != OPTIMIZED) {
        assert_eq!(m.value.indexed, Some(3), "{what}: len(m)");
        assert!(
            m.value.value.starts_with("map[string]int ["),
            "{what}: m = {}",
            m.value.value
        );
        for (k, v) in &abc {
            assert!(
                m.value.value.contains(&format!("{k}: {v}, ")),
                "{what}: m = {}",
                m.value.value
            );
        }
        assert_eq!(map_children(&di, &mem, m), abc, "{what}: m");
    } else {
        assert!(!debug, "{what}: m missing");
    }
    if let Some(mi) = got.get("mi").filter(|m| m.value.value != OPTIMIZED) {
        let want: BTreeSet<(String, String)> =
            [("1", "\"one\""), ("2", "\"two\""), ("3", "\"hello\"")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(map_children(&di, &mem, mi), want, "{what}: mi");
    }
    if let Some(big) = got.get("big").filter(|m| m.value.value != OPTIMIZED) {
        let want: BTreeSet<(String, String)> = (0..30)
            .map(|i| (format!("\"k{i:02}\""), (i * 7).to_string()))
            .collect();
        assert_eq!(big.value.indexed, Some(30));
        assert_eq!(map_children(&di, &mem, big), want, "{what}: big");
    } else {
        assert!(!debug, "{what}: big missing");
    }
    if let Some(huge) = got.get("huge").filter(|m| m.value.value != OPTIMIZED) {
        assert_eq!(huge.value.indexed, Some(2000));
        assert!(
            huge.value.value.ends_with("..."),
            "{what}: long renderings are cut: {}",
            huge.value.value
        );
        let want: BTreeSet<(String, String)> = (0..2000)
            .map(|i| (i.to_string(), (i + 7).to_string()))
            .collect();
        assert_eq!(map_children(&di, &mem, huge), want, "{what}: huge");
    } else {
        assert!(!debug, "{what}: huge missing");
    }

    // Children of structs, pointers, slices, interfaces, channels.
    let names_values = |v: &Var| -> Vec<(String, String)> {
        di.expand(&mem, v.expand.as_ref().expect("expandable"), 0, 0)
            .into_iter()
            .map(|c| (c.value.name, c.value.value))
            .collect()
    };
    let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
    if let Some(pp) = got.get("pp").filter(|v| v.value.value != OPTIMIZED) {
        let kids = di.expand(&mem, pp.expand.as_ref().unwrap(), 0, 0);
        assert_eq!(kids.len(), 1);
        assert_eq!(kids[0].value.name, "");
        assert_eq!(kids[0].value.evaluate_name.as_deref(), Some("(*pp)"));
        assert_eq!(
            names_values(&kids[0]),
            vec![
                pair("X", "10"),
                pair("Y", "20"),
                pair("Label", "\"ptr\""),
                pair("In", r#"main.inner {A: 3, B: "in"}"#)
            ]
        );
    }
    if let Some(p) = got.get("p").filter(|v| v.value.value != OPTIMIZED) {
        // Delve gives structs no namedVariables count.
        assert_eq!(p.value.named, None);
        let kids = di.expand(&mem, p.expand.as_ref().unwrap(), 0, 0);
        assert_eq!(kids[3].value.evaluate_name.as_deref(), Some("p.In"));
        assert_eq!(
            names_values(&kids[3]),
            vec![pair("A", "5"), pair("B", "\"deep\"")]
        );
    }
    if let Some(xs) = got.get("xs").filter(|v| v.value.value != OPTIMIZED) {
        assert_eq!(xs.value.indexed, Some(3));
        assert_eq!(
            names_values(xs),
            vec![pair("[0]", "1"), pair("[1]", "2"), pair("[2]", "3")]
        );
        let page = di.expand(&mem, xs.expand.as_ref().unwrap(), 1, 1);
        assert_eq!(page[0].value.evaluate_name.as_deref(), Some("xs[1]"));
    }
    if let Some(err) = got.get("err").filter(|v| v.value.value != OPTIMIZED) {
        let kids = di.expand(&mem, err.expand.as_ref().unwrap(), 0, 0);
        assert_eq!(kids[0].value.name, "data");
        assert_eq!(kids[0].value.type_name, "*errors.errorString");
    }
    if let Some(ch) = got.get("ch").filter(|v| v.value.value != OPTIMIZED) {
        let kids: BTreeMap<String, String> = names_values(ch).into_iter().collect();
        assert_eq!(
            kids.get("qcount").map(String::as_str),
            Some("2 = 0x2"),
            "{what}: {kids:?}"
        );
        assert_eq!(kids.get("dataqsiz").map(String::as_str), Some("3 = 0x3"));
        // As Delve: a pointer to the buffer array.
        assert_eq!(kids.get("buf").map(String::as_str), Some("*[3]int [1,2,0]"));
    }

    // Package variables.
    let globals: BTreeMap<String, String> = di
        .globals("main")
        .iter()
        .map(|g| (g.name.clone(), di.read_var(&mem, &frame, g).value.value))
        .collect();
    assert_eq!(
        globals.get("counter").map(String::as_str),
        Some("42"),
        "{what}: {globals:?}"
    );
    assert_eq!(globals.get("greeting").map(String::as_str), Some("\"hi\""));

    // Expressions.
    for (expr, want) in [
        ("p.X", "1"),
        ("xs[1]", "2"),
        ("m[\"b\"]", "2"),
        ("len(big)", "30"),
        ("counter + 1", "43"),
        ("p.X == 1 && xs[0] > 0", "true"),
        ("pp.In.B", "\"in\""),
        ("huge[1999]", "2006"),
        ("mi[3]", "\"hello\""),
        ("s[1]", "101 = 0x65"),
        ("err.(data).s", "\"boom\""),
        ("main.greeting", "\"hi\""),
        ("len(long)", "700"),
        ("cap(ch)", "3"),
        // As the Variables view shows it (the buffer typed by the channel).
        ("ch.buf", "*[3]int [1,2,0]"),
        ("arr[2] - arr[0]", "20"),
        ("f * 2", "6.5"),
        ("-n + 1", "-6"),
        ("np == nil", "true"),
        // Go's selector rule: the shallowest promoted field, also through
        // an embedded pointer.
        ("w2.F", "\"T-inside-W2\""),
        ("w2.wrap1.F", "\"T-inside-W1\""),
        ("vp.F", "\"via pointer\""),
        (
            "*pp",
            r#"main.point {X: 10, Y: 20, Label: "ptr", In: main.inner {A: 3, B: "in"}}"#,
        ),
        // Slicing.
        ("xs[1:3]", "[]int len: 2, cap: 4, [2,3]"),
        ("xs[:2]", "[]int len: 2, cap: 5, [1,2]"),
        ("xs[1:2:3]", "[]int len: 1, cap: 2, [2]"),
        ("s[1:3]", "\"el\""),
        ("s[2:]", "\"llo\""),
        ("long[2:5]", "\"aba\""),
        ("arr[:2]", "[]int len: 2, cap: 3, [10,20]"),
        ("bs[1:3]", "[]uint8 len: 2, cap: 5, [121,116]"),
        // Type assertions.
        ("ei.(int)", "42"),
        ("es.(string)", "\"hello!\""),
        ("ifs.(main.point).Label", "\"end\""),
        ("cerr.(*main.myErr).code", "7"),
        ("err.(*errors.errorString).s", "\"boom\""),
        // To an interface: the method set is checked, the value keeps its
        // dynamic type.
        ("ae.(error)", r#"error(*main.myErr) *{code: 7, msg: "bad"}"#),
        (
            "cerr.(error)",
            r#"error(*main.myErr) *{code: 7, msg: "bad"}"#,
        ),
        ("ae.(error).(*main.myErr).code", "7"),
        ("cerr.(any).(*main.myErr).msg", "\"bad\""),
        // Conversions.
        ("uint8(n + 300)", "51 = 0x33"),
        ("int8(-n)", "-7"),
        ("float64(n) / 2", "3.5"),
        ("int(f)", "3"),
        ("string(b)", "\"E\""),
        ("[]byte(s)", "[]uint8 len: 5, cap: 5, [104,101,108,108,111]"),
        ("string(bs)", "\"bytes!\""),
        ("main.tier(n)", "7"),
        ("(*main.point)(up).Label", "\"ptr\""),
        ("*(*int)(uintptr(up))", "10"),
        ("nilup", "unsafe.Pointer(0x0)"),
        ("nilup == unsafe.Pointer(nil)", "true"),
        ("up == nil", "false"),
        // Constants (Go's DWARF has the integer ones).
        ("maxItems", "64"),
        ("main.maxItems * 2", "128"),
        ("level", "2"),
        ("math.MaxInt64", "9223372036854775807"),
        ("time.Hour", "3600000000000"),
        // time.Time, as Delve formats it.
        (
            "t0",
            "time.Time(2024-01-02T15:04:05Z){wall: 0, ext: 63839804645, loc: *time.Location nil}",
        ),
        (
            "tzero",
            "time.Time(0001-01-01T00:00:00Z){wall: 0, ext: 0, loc: *time.Location nil}",
        ),
        // Complex numbers.
        ("c", "(3.25 + 7i)"),
        ("c64", "(3.25 + 7i)"),
        ("real(c)", "3.25"),
        ("imag(c64)", "7"),
        ("c * 2", "(6.5 + 14i)"),
        ("c + complex(0, 1)", "(3.25 + 8i)"),
        ("c == complex(3.25, 7)", "true"),
        // Closures: captured variables as fields.
        ("add.base", "70"),
        ("count.hits", "1"),
        ("min(n, 3)", "3"),
        ("double", "main.double"),
        ("main.double", "main.double"),
        ("max(f, 1)", "3.25"),
        // Go's == on interfaces, structs and arrays (a condition such as
        // `err == ErrNotFound` failed at every hit).
        ("ae == cerr", "true"),
        ("err == cerr", "false"),
        ("err != nil && cerr != err", "true"),
        ("ei == 42", "true"),
        ("ei == 43", "false"),
        ("ei == \"42\"", "false"),
        ("es == \"hello!\"", "true"),
        ("ep == pp", "true"),
        ("ifs == p", "true"),
        ("p == *pp", "false"),
        ("*pp == *pp", "true"),
        ("arr == arr", "true"),
        ("tw != tw", "false"),
    ] {
        match di.evaluate(&mem, &frame, lookup, 0, expr, Shown::WATCH) {
            Ok(v) if v.value.value == want => {}
            Ok(v) if !debug && v.value.value == OPTIMIZED => {}
            Err(e) if !debug => eprintln!("{what}: {expr}: {e:#} (optimized build)"),
            Ok(v) => panic!("{what}: {expr} = {:?}, want {want:?}", v.value.value),
            Err(e) => panic!("{what}: {expr}: {e:#}"),
        }
    }
    let eval = |expr: &str| di.evaluate(&mem, &frame, lookup, 0, expr, Shown::WATCH);
    // Only nil compares with a slice, as in Go.
    let e = eval("xs == xs").unwrap_err();
    assert!(
        e.to_string().contains("can only be compared to nil"),
        "{what}: {e:#}"
    );
    if debug {
        let e = eval("tw.F").unwrap_err();
        assert!(
            e.to_string().contains("ambiguous selector tw.F")
                && e.to_string().contains("tw.named.F, tw.other.F"),
            "{what}: {e:#}"
        );
        // Delve's type for a string's bytes.
        assert_eq!(eval("s[1]").unwrap().value.type_name, "byte", "{what}");
        assert_eq!(
            eval("real(c64)").unwrap().value.type_name,
            "float32",
            "{what}"
        );
        // A function's type is its signature.
        assert_eq!(eval("double").unwrap().value.type_name, "func(int) int");
        // The program's own zone offset (Delve shows such a time in UTC).
        let tz = eval("tz").unwrap().value.value;
        assert!(
            tz.starts_with("time.Time(2024-01-02T15:04:05+01:00){wall: 0, ext: 63839801045, "),
            "{what}: {tz}"
        );
        // A closure lists what it captured; a byte slice its text first.
        let add = eval("add").unwrap();
        assert_eq!(add.value.value, "main.inspect.func1");
        let kids = di.expand(&mem, add.expand.as_ref().expect("a closure expands"), 0, 0);
        let kids: Vec<(String, String)> = kids
            .into_iter()
            .map(|k| (k.value.name, k.value.value))
            .collect();
        assert!(
            kids.contains(&("base".into(), "70".into())),
            "{what}: {kids:?}"
        );
        let count = eval("count").unwrap();
        let kids = di.expand(
            &mem,
            count.expand.as_ref().expect("a closure expands"),
            0,
            0,
        );
        assert_eq!(kids[0].value.name, "hits", "{what}");
        assert_eq!(kids[0].value.value, "1", "{what}");
        assert_eq!(kids[0].value.evaluate_name.as_deref(), Some("count.hits"));
        // A method value's receiver: shown, but no expression names it.
        let describe = eval("describe").unwrap();
        let kids = di.expand(
            &mem,
            describe.expand.as_ref().expect("a method value expands"),
            0,
            0,
        );
        assert_eq!(kids[0].value.name, ".this", "{what}");
        assert_eq!(kids[0].value.evaluate_name, None, "{what}");
        assert_eq!(eval("nil").unwrap().value.type_name, "nil");
        let bs = eval("bs").unwrap();
        assert_eq!(bs.value.named, Some(1));
        let kids = di.expand(&mem, bs.expand.as_ref().unwrap(), 0, 2);
        assert_eq!(kids[0].value.name, "string()");
        assert_eq!(kids[0].value.value, "\"bytes!\"");
        assert_eq!(kids[1].value.name, "[0]");
        let kids = di.expand(&mem, bs.expand.as_ref().unwrap(), 2, 1);
        assert_eq!(kids[0].value.name, "[1]");
    }
    // A watch shows 512 bytes of a string, the REPL 4 KiB (as Delve).
    let long = "ab".repeat(350);
    let shown = |expr: &str, s: Shown| di.evaluate(&mem, &frame, lookup, 0, expr, s);
    let watch = shown("long", Shown::WATCH);
    let repl = Shown {
        max_string: 4096,
        full: false,
    };
    if let (Ok(w), Ok(r)) = (watch, shown("long", repl)) {
        if r.value.value != OPTIMIZED {
            assert_eq!(
                w.value.value,
                go_quote(format!("{}...+188 more", &long[..512]).as_bytes())
            );
            assert_eq!(r.value.value, go_quote(long.as_bytes()), "{what}");
        }
    }
    // A copied value is whole; others are cut at 256 bytes.
    let copy = Shown {
        max_string: 4096,
        full: true,
    };
    if let (Ok(w), Ok(c)) = (shown("huge", Shown::WATCH), shown("huge", copy)) {
        if c.value.value != OPTIMIZED {
            assert_eq!(w.value.value.len(), 256 + 3, "{what}");
            assert!(
                c.value.value.ends_with(",...+1936 more]"),
                "{what}: {}",
                c.value.value
            );
            assert!(c.value.value.starts_with(&w.value.value[..256]), "{what}");
        }
    }
    // Errors say what is wrong.
    for (expr, want) in [
        (
            "mi[\"x\"]",
            "cannot use \"x\" (untyped string constant) as int value in map index",
        ),
        (
            "m[1]",
            "cannot use 1 (untyped int constant) as string value in map index",
        ),
        (
            "ei.(string)",
            "interface conversion: interface {} is int, not string",
        ),
        (
            "nilerr.(*main.myErr)",
            "interface conversion: error is nil, not *main.myErr",
        ),
        (
            "ei.(error)",
            "interface conversion: int is not error: missing method Error",
        ),
        (
            "ep.(error)",
            "interface conversion: *main.point is not error: missing method Error",
        ),
        ("n.(int)", "expression \"n\" not an interface"),
        ("xs[2:9]", "slice bounds out of range [:9] with capacity 5"),
        ("s[1:2:3]", "invalid operation: 3-index slice of string"),
        ("ratio", "could not find symbol value for ratio"),
        ("double(2)", "cannot call double"),
        ("err.Error()", "cannot call err.Error"),
        ("strings.Repeat(s, 2)", "cannot call strings.Repeat"),
        ("nosuch(1)", "could not find symbol value for nosuch"),
    ] {
        match eval(expr) {
            Err(e) => {
                let e = e.to_string();
                let lost = e.contains("optimized away") || e.contains("could not find symbol");
                assert!(e.contains(want) || (!debug && lost), "{what}: {expr}: {e}");
            }
            Ok(v) if !debug && v.value.value == OPTIMIZED => {}
            Ok(v) => panic!("{what}: {expr} = {:?}, want an error", v.value.value),
        }
    }
    let e = di
        .evaluate(&mem, &frame, lookup, 0, "nosuch", Shown::WATCH)
        .unwrap_err();
    assert_eq!(e.to_string(), "could not find symbol value for nosuch");
    let cond = di
        .evaluate(&mem, &frame, lookup, 0, "counter == 42", Shown::WATCH)
        .unwrap();
    assert_eq!(cond.as_bool(), Some(true));
    assert_eq!(
        di.evaluate(&mem, &frame, lookup, 0, "counter * 2", Shown::WATCH)
            .unwrap()
            .as_i64(),
        Some(84)
    );
}

#[test]
fn govalue_reads_debugvars_every_version_and_variant() {
    for version in go_versions() {
        for debug in [true, false] {
            check(&version, debug);
        }
    }
}

#[test]
fn govalue_quotes_like_go() {
    assert_eq!(
        go_quote(b"a\"b\\\n\x01\xff\xc3\xa9"),
        r#""a\"b\\\n\x01\xffé""#
    );
}

#[test]
fn govalue_parses_expressions() {
    for ok in [
        "a.b[1] + len(x) * -2",
        "m[\"k\"] == 'x' || !t",
        "*p.q",
        "x.(data)",
        "0x1f &^ 0b1",
        "a.(int)",
        "e.(*main.T).f",
        "x.(interface {})",
        "xs[1:3]",
        "xs[:2]",
        "xs[1:]",
        "xs[1:2:3]",
        "[]byte(s)",
        "(*main.T)(p)",
        "*(*int)(0xc000010000)",
        "map[string]int(m)",
        "func(int) string(f)",
        "unsafe.Pointer(p)",
        "complex(1, 2)",
    ] {
        assert!(super::parse::parse(ok).is_ok(), "{ok}");
    }
    for bad in [
        "", "a +", "(a", "\"abc", "1 2", "a.(type)", "xs[1::]", "xs[:2:]", "xs[]", "a.()",
    ] {
        assert!(super::parse::parse(bad).is_err(), "{bad}");
    }
    // Messages quote expressions as Go source.
    for text in [
        "xs[1:2:3]",
        "(*main.T)(p).f",
        "e.(*main.T)",
        "[]byte(s)",
        "m[\"k\"]",
    ] {
        assert_eq!(super::parse::parse(text).unwrap().to_string(), text);
    }
    assert_eq!(super::eval::package_of("main.inspect"), "main");
    // A generic function's dictionaries are named after it.
    for (f, base) in [
        ("main.Keys[go.shape.string,go.shape.int]", "main.Keys"),
        ("main.(*Stack[go.shape.int]).Push", "main.Stack.Push"),
        (
            "main.Pair[go.shape.int,go.shape.string].Swap",
            "main.Pair.Swap",
        ),
        ("main.Stack[int]", "main.Stack"),
        ("a/b.F[map[string][]int,go.shape.*uint8]", "a/b.F"),
    ] {
        assert_eq!(super::info::generic_base(f), base);
    }
    assert_eq!(
        super::eval::package_of("rrgo.dev/x/y.(*T).m"),
        "rrgo.dev/x/y"
    );
}

/// Prints every variable of main.inspect (`cargo test --release --bin rrgo
/// govalue_dump -- --ignored --nocapture`): for looking at new Go versions.
#[test]
#[ignore]
fn govalue_dump() {
    for version in go_versions() {
        for debug in [true, false] {
            let path = binary(&version, debug);
            let bin = GoBinary::load(&path).unwrap();
            let di = DebugInfo::load(&path).unwrap();
            let (_proc, pid) = start(&path);
            let mem = ProcMem::open(pid).unwrap();
            let frame = inspect_frame(&bin, &di, &mem);
            println!("== {}", path.display());
            for v in di.variables(frame.pc - 1, 0) {
                let var = di.read_var(&mem, &frame, &v);
                println!(
                    "{:>8} {:<14} {}",
                    v.name, var.value.type_name, var.value.value
                );
            }
        }
    }
}

/// Inline levels: inside a call inlined into main.inspect, depth 0 lists the
/// inlined function's variables and the last depth main.inspect's, in the
/// order of `GoBinary::source_frames`.
#[test]
fn govalue_variables_per_inline_level() {
    for version in go_versions() {
        let path = binary(&version, false);
        let bin = GoBinary::load(&path).unwrap();
        let di = DebugInfo::load(&path).unwrap();
        let (entry, size) = bin.symbol("main.inspect").unwrap();
        let pc = (entry..entry + size)
            .find(|&pc| {
                let frames = bin.source_frames(pc);
                frames.len() >= 2 && frames[0].0 == "fmt.Printf"
            })
            .unwrap_or_else(|| panic!("go{version}: no fmt.Printf inlined into main.inspect"));
        let last = bin.source_frames(pc).len() - 1;
        let names = |depth| -> Vec<String> {
            di.variables(pc, depth)
                .into_iter()
                .map(|v| v.name)
                .collect()
        };
        let inner = names(0);
        assert!(
            inner.iter().any(|n| n == "format"),
            "go{version}: {inner:?}"
        );
        assert!(!inner.iter().any(|n| n == "xs"), "go{version}: {inner:?}");
        let outer = names(last);
        assert!(outer.iter().any(|n| n == "xs"), "go{version}: {outer:?}");
        assert!(
            !outer.iter().any(|n| n == "format"),
            "go{version}: {outer:?}"
        );
        assert!(names(last + 1).is_empty());
    }
}

/// Memory full of noise (a hash of the address), with unmapped holes;
/// sparse noise is mostly zeros, so lengths and pointers look plausible.
struct Noise(u64, bool);

impl super::Memory for Noise {
    fn read(&self, addr: u64, len: usize) -> std::io::Result<Vec<u8>> {
        if len > 1 << 20 || (addr >> 12).wrapping_mul(self.0) % 7 == 0 {
            return Err(std::io::Error::other("unmapped"));
        }
        Ok((0..len as u64)
            .map(|i| {
                let mut x = addr.wrapping_add(i) ^ self.0;
                x = (x ^ (x >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
                x = (x ^ (x >> 27)).wrapping_mul(0x94d049bb133111eb);
                if !self.1 || x % 3 == 0 {
                    (x >> 56) as u8
                } else {
                    0
                }
            })
            .collect())
    }
}

/// Garbage memory and registers, in many functions: reading, expanding and
/// evaluating must give errors or odd values, never panic or hang.
#[test]
fn govalue_survives_garbage_memory() {
    let version = &go_versions()[0];
    let started = Instant::now();
    for (debug, sparse) in [(false, true), (true, true), (false, false), (true, false)] {
        let di = DebugInfo::load(&binary(version, debug)).unwrap();
        let subs: Vec<(u64, u64)> = di
            .info
            .subprograms
            .iter()
            .map(|s| (s.low, s.high))
            .collect();
        for (n, (low, high)) in subs.iter().enumerate().step_by(7) {
            let mem = Noise((n as u64).wrapping_mul(0x9e3779b97f4a7c15) | 1, sparse);
            let pc = low + (high - low) / 2;
            let regs = trace_format::Regs {
                rax: 0xc000_0000 + n as u64 * 8,
                rbx: 5,
                rcx: 0x4000_0000,
                rsp: 0x7fff_0000,
                rbp: 0x7fff_0100,
                ..Default::default()
            };
            let frame = FrameRegs {
                pc,
                sp: 0x7fff_0000,
                bp: 0x7fff_0100,
                cfa: 0x7fff_0200,
                regs: Some(regs),
                xmm: None,
            };
            let _ = di.unwind(&mem, pc, frame.sp, frame.bp, 50);
            for v in di.variables(pc, 0) {
                let var = di.read_var(&mem, &frame, &v);
                let mut todo: Vec<(super::Expand, u32)> =
                    var.expand.into_iter().map(|e| (e, 0)).collect();
                while let Some((e, depth)) = todo.pop() {
                    for c in di.expand(&mem, &e, 0, 20) {
                        if depth < 2 {
                            todo.extend(c.expand.map(|e| (e, depth + 1)));
                        }
                    }
                }
                for expr in [
                    v.name.clone(),
                    format!("len({})", v.name),
                    format!("{}[3]", v.name),
                    format!("*{}", v.name),
                    format!("{}.x == nil", v.name),
                    format!("{}[\"k\"]", v.name),
                    format!("{}[1:2]", v.name),
                    format!("{}[:]", v.name),
                    format!("{}.(int)", v.name),
                    format!("{}.(*main.point).X", v.name),
                    format!("uint8({})", v.name),
                    format!("[]byte({})", v.name),
                    format!("string({})", v.name),
                    format!("(*int)({})", v.name),
                    format!("real({}) + imag({})", v.name, v.name),
                    format!("{}.base", v.name),
                ] {
                    let _ = di.evaluate(&mem, &frame, pc, 0, &expr, Shown::WATCH);
                }
            }
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "too slow: {:?}",
        started.elapsed()
    );
}

/// time.Time renderings without a process: RFC 3339 dates across eras
/// and offsets, and the monotonic reading Delve appends.
#[test]
fn govalue_formats_times_like_delve() {
    use super::render::rfc3339;
    assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(-62_135_596_800, 0), "0001-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_704_207_845, 0), "2024-01-02T15:04:05Z");
    assert_eq!(rfc3339(1_704_207_845, 3600), "2024-01-02T16:04:05+01:00");
    assert_eq!(rfc3339(1_704_207_845, -19_800), "2024-01-02T09:34:05-05:30");
    assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(253_402_300_799, 0), "9999-12-31T23:59:59Z");

    let version = &go_versions()[0];
    let di = DebugInfo::load(&binary(version, true)).unwrap();
    let mem = Noise(1, true);
    let ctx = di.ctx(&mem);
    let ty = di
        .info
        .types
        .by_name("time.Time")
        .expect("time.Time in DWARF");
    let time = |wall: u64, ext: i64| {
        let mut b = wall.to_le_bytes().to_vec();
        b.extend_from_slice(&ext.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes()); // loc: nil, UTC
        let v = super::value::Val {
            ty,
            loc: super::value::Loc::Bytes(b.into()),
        };
        super::render::to_var(&ctx, &v, "t", "t", 0).value.value
    };
    // time.Now(): the hasMonotonic bit, 33 bits of seconds since 1885, nanoseconds.
    let since_1885 = 1_704_207_845u64 + 2_682_288_000;
    assert_eq!(
        time(1 << 63 | since_1885 << 30 | 123_456_789, 5_000_000),
        "time.Time(2024-01-02T15:04:05Z, +5000000){wall: 13933336086556953877, ext: 5000000, \
         loc: *time.Location nil}"
    );
    // Seconds since year 1 in ext.
    assert_eq!(
        time(0, 63_839_804_645),
        "time.Time(2024-01-02T15:04:05Z){wall: 0, ext: 63839804645, loc: *time.Location nil}"
    );
}
