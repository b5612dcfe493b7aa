"""The body of scripts/bench.sh (see there)."""
import argparse, os, re, resource, shutil, statistics, subprocess, sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RRGO = os.environ.get("RRGO_BIN") or os.path.join(REPO, "target", "release", "rrgo")
PROGRAMS = {
    "hello": [],
    "cpuworkers": [],
    "racecounter": [],
    "busypoll": [],
    "goroutines": [],
    "httpserver": [],
    "httpserver -load 2000": ["-load", "2000"],
    "osexec": [],
    "cgo": [],
    "sigterm-delay": ["-self-term", "300ms"],
    "lockholders": [],
    "stalls": [],
    "spinmarks 30": ["30"],
    "gzipsha": [],
    # Go 1.24's GC sweeper spins while an allocating goroutine's thread
    # waits for the CPU (`record/spin.rs`; try `--go 1.24.11 sweepspin`).
    "sweepspin": [],
    "spinmarks 30 [contents]": ["30"],
    "gzipsha [contents]": [],
    # A standard-library test binary (built by scripts/conformance.sh
    # --build-only, run in its source directory): goroutines that spin
    # while the thread they woke does the work.
    "context.test": ["-test.short", "-test.count=1"],
    "context.test [wake 50]": ["-test.short", "-test.count=1"],
    "context.test [no handoff]": ["-test.short", "-test.count=1"],
}
# Rows recorded with extra environment: [contents] = preemption points
# carrying the memory written since the previous point instead of what
# identifies them (RRGO_PREEMPT_HASHES=0, the default before session 22);
# [wake 50] = a woken thread waits for the CPU a fixed 50 ms (the default
# until session 24; now it adapts to what preemptions cost); [no handoff] =
# a futex wake or a clone never hands the CPU over (RRGO_HANDOFF=0; by
# default it does when the woken thread is owed the CPU).
ROW_ENV = {
    "spinmarks 30 [contents]": {"RRGO_PREEMPT_HASHES": "0"},
    "gzipsha [contents]": {"RRGO_PREEMPT_HASHES": "0"},
    "context.test [wake 50]": {"RRGO_WAKE_MS": "50"},
    "context.test [no handoff]": {"RRGO_HANDOFF": "0"},
}


def timed(cmd, env=None, cwd=None):
    """Runs cmd, returns (wall seconds, child CPU seconds, returncode)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, p.returncode


def timed_err(cmd, env=None, cwd=None):
    """Like timed, also returning the command's stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True, cwd=cwd)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, p.returncode, p.stderr


def info(trace):
    out = subprocess.run([RRGO, "info", trace], capture_output=True, text=True).stdout
    events = int(re.search(r"^events:\s+(\d+)", out, re.M).group(1))
    pre = int(re.search(r"^preemptions:\s+(\d+)", out, re.M).group(1))
    size = sum(os.path.getsize(os.path.join(trace, f)) for f in ("header", "events", "index") if os.path.exists(os.path.join(trace, f)))
    return events, pre, size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=3)
    ap.add_argument("--go", default=open(os.path.join(REPO, "scripts/go-versions")).read().split()[0] if False else None)
    ap.add_argument("programs", nargs="*")
    a = ap.parse_args()
    version = a.go or [l.split("#")[0].strip() for l in open(os.path.join(REPO, "scripts/go-versions")) if l.split("#")[0].strip()][0]
    progs = a.programs or list(PROGRAMS)
    if not os.path.exists(RRGO):
        sys.exit("bench: build rrgo first (scripts/setup.sh)")
    tmp = tempfile.mkdtemp(prefix="rrgo-bench-")
    env = dict(os.environ, RRGO_TRACE_DIR=tmp)
    print(f"rrgo bench: go{version}, median of {a.n} runs, {os.cpu_count()} CPUs")
    hdr = (f"{'program':<22}{'native':>9}{'nat.cpu':>9}{'record':>9}{'rec/nat':>8}{'rec/cpu':>8}{'replay':>9}{'rep/rec':>8}"
           f"{'events':>8}{'preempt':>8}{'jumped':>7}{'trace':>10}{'B/event':>8}{'MB/cpu.s':>9}")
    print(hdr)
    # ("reverse" names the reverse-execution table below, not a program.)
    for name in [p for p in progs if p != "reverse"]:
        exe = os.path.join(REPO, ".build", f"go{version}", name.split()[0])
        cwd = None
        if name.split()[0].endswith(".test"):
            pkg = name.split()[0][: -len(".test")]
            exe = os.path.join(REPO, ".build", "conformance", f"go{version}", pkg.replace("/", "_") + ".test")
            cwd = os.path.join(REPO, ".tools", f"go{version}", "go", "src", pkg)
            if not os.path.exists(exe):
                subprocess.run([os.path.join(REPO, "scripts", "conformance.sh"), "--build-only", "--go", version, "--only", pkg],
                               stdout=subprocess.DEVNULL, check=True)
        args = PROGRAMS.get(name, [])
        nat, natcpu, rec, rep, evs, pres, sizes, jumps = [], [], [], [], [], [], [], []
        for i in range(a.n):
            w, c, _ = timed([exe] + args, cwd=cwd)
            nat.append(w); natcpu.append(c)
            trace = os.path.join(tmp, re.sub(r"[^\w.-]", "_", name) + f"-{i}")
            w, _, _ = timed([RRGO, "record", "-q", "-o", trace, "--", exe] + args, dict(env, **ROW_ENV.get(name, {})), cwd)
            rec.append(w)
            w, _, rc, err = timed_err([RRGO, "replay", "-a", trace], dict(env, RRGO_LOG="rrgo::commands=info"), cwd)
            rep.append(w)
            j = re.search(r"jumped\S*?=\S*?(\d+)", err)
            jumps.append(int(j.group(1)) if j else 0)
            e, p, s = info(trace)
            evs.append(e); pres.append(p); sizes.append(s)
            shutil.rmtree(trace, ignore_errors=True)
        m = statistics.median
        print(f"{name:<22}{m(nat):>8.3f}s{m(natcpu):>8.3f}s{m(rec):>8.3f}s{m(rec)/m(nat):>7.1f}x{m(rec)/max(m(natcpu),1e-3):>7.1f}x"
              f"{m(rep):>8.3f}s{m(rep)/m(rec):>7.2f}x{int(m(evs)):>8}{int(m(pres)):>8}{int(m(jumps)):>7}{int(m(sizes)):>10}{m(sizes)/max(m(evs),1):>8.1f}"
              f"{m(sizes)/1e6/max(m(natcpu),1e-3):>9.3f}")
    # Go-aware queries: a goroutine dump, and goroutine 1's history: first
    # (building the goroutine index) and again (from the cached index).
    print()
    print(f"{'program':<22}{'replay':>9}{'dump':>9}{'index':>9}{'idx/rep':>9}{'idx.t':>9}{'t/rep':>7}{'cached':>9}")
    for name in [p for p in progs if p in ("goroutines", "httpserver", "httpserver -load 2000", "sigterm-delay", "lockholders", "stalls")]:
        exe = os.path.join(REPO, ".build", f"go{version}", name.split()[0])
        trace = os.path.join(tmp, f"{name.replace(' ', '_')}-q")
        timed([RRGO, "record", "-q", "-o", trace, "--", exe] + PROGRAMS.get(name, []), env)
        rep = statistics.median(timed([RRGO, "replay", "-a", trace], env)[0] for _ in range(a.n))
        dump = statistics.median(timed([RRGO, "replay", "--goroutines", trace], env)[0] for _ in range(a.n))
        # index: the first query of a trace (no cache of any kind); idx.t:
        # with the executable's DWARF tables cached by an earlier query
        # (dwarf-tables); cached: from the cached index.
        def history(keep):
            for f in ("goindex", "dwarf-tables"):
                if f not in keep and os.path.exists(os.path.join(trace, f)):
                    os.remove(os.path.join(trace, f))
            return timed([RRGO, "replay", "--goroutine", "1", trace], env)[0]
        index = statistics.median(history(()) for _ in range(a.n))
        tables = statistics.median(history(("dwarf-tables",)) for _ in range(a.n))
        hist = statistics.median(history(("goindex", "dwarf-tables")) for _ in range(a.n))
        print(f"{name:<22}{rep:>8.3f}s{dump:>8.3f}s{index:>8.3f}s{index/rep:>8.1f}x{tables:>8.3f}s{tables/rep:>6.1f}x{hist:>8.3f}s")
    # Reverse execution through the DAP server on a long recording.
    if not a.programs or "reverse" in a.programs:
        print()
        reverse_bench(version, tmp, env, a.n)
    shutil.rmtree(tmp, ignore_errors=True)
    print("native/nat.cpu: the program alone; record: rrgo record; replay: rrgo replay -a;")
    print("trace: header+events+index bytes (stored executables excluded); B/event: trace bytes per event;")
    print("MB/cpu.s: trace MB per second of the program's native CPU time; jumped: preempted slices replay")
    print("reached by a jump (not re-executed); dump: rrgo replay --goroutines; index: the first")
    print("--goroutine 1 of a trace (builds the goroutine index); idx.t: the same with the executable's")
    print("DWARF tables cached by an earlier query; cached: from the cached index")


class Dap:
    """A minimal DAP client (Content-Length framing) for timing requests."""

    def __init__(self, port):
        import socket
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""
        self.seq = 0

    def send(self, command, arguments=None):
        import json
        self.seq += 1
        body = json.dumps({"seq": self.seq, "type": "request", "command": command, "arguments": arguments or {}}).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self.seq

    def read(self):
        import json
        while True:
            if b"\r\n\r\n" in self.buf:
                head, rest = self.buf.split(b"\r\n\r\n", 1)
                n = int(re.search(rb"Content-Length: (\d+)", head).group(1))
                if len(rest) >= n:
                    self.buf = rest[n:]
                    return json.loads(rest[:n])
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the DAP server closed the connection")
            self.buf += chunk

    def until(self, pred):
        while True:
            m = self.read()
            if pred(m):
                return m

    def request(self, command, arguments=None):
        seq = self.send(command, arguments)
        m = self.until(lambda m: m.get("type") == "response" and m.get("request_seq") == seq)
        if not m.get("success"):
            raise RuntimeError(f"{command}: {m.get('message')}")
        return m

    def motion(self, command, arguments):
        t0 = time.perf_counter()
        self.request(command, arguments)
        m = self.until(lambda m: m.get("type") == "event" and m.get("event") == "stopped")
        return time.perf_counter() - t0, m["body"]


def reverse_bench(version, tmp, env, runs):
    """Reverse-continue latency through the DAP server: on `httpserver -load
    2000` (event-rich) and on `spinmarks 32` (-N -l; CPU-bound, few events: 2^32
    iterations per goroutine, a recording of about 9 s; issue 11 asks for
    one of 5 s or more)."""
    for label, name, args, marker in (
        ("httpserver -load 2000", "httpserver", ["-load", "2000"], "// #BP handler"),
        ("spinmarks 32 (CPU-bound)", "spinmarks", ["32"], "// #BP mark"),
    ):
        reverse_one(version, tmp, env, runs, label, name, args, marker)


def reverse_one(version, tmp, env, runs, label, name, args, marker):
    exe = os.path.join(REPO, ".build", f"go{version}", name + ".debug")
    src = os.path.join(REPO, "examples", name, "main.go")
    line = next(i + 1 for i, l in enumerate(open(src)) if marker in l)
    trace = os.path.join(tmp, "reverse-" + name)
    t0 = time.perf_counter()
    subprocess.run([RRGO, "record", "-q", "-o", trace, "--", exe] + args, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    recorded = time.perf_counter() - t0
    events, _, _ = info(trace)
    rows = []
    for _ in range(runs):
        server = subprocess.Popen([RRGO, "replay", "--dap", "127.0.0.1:0", trace], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = int(re.search(r":(\d+)$", server.stderr.readline().strip()).group(1))
        try:
            d = Dap(port)
            d.request("initialize", {"adapterID": "go", "pathFormat": "path", "linesStartAt1": True, "columnsStartAt1": True})
            d.request("attach", {"mode": "remote"})
            d.request("setBreakpoints", {"source": {"path": src}, "breakpoints": [{"line": line}]})
            t_first = time.perf_counter()
            d.request("configurationDone")
            d.until(lambda m: m.get("type") == "event" and m.get("event") == "stopped")
            first = time.perf_counter() - t_first
            d.request("setBreakpoints", {"source": {"path": src}, "breakpoints": []})
            to_end, _ = d.motion("continue", {"threadId": 1})
            d.request("setBreakpoints", {"source": {"path": src}, "breakpoints": [{"line": line}]})
            back1, _ = d.motion("reverseContinue", {"threadId": 1})
            back2, _ = d.motion("reverseContinue", {"threadId": 1})
            rows.append((first, to_end, back1, back2))
            d.request("disconnect", {})
        finally:
            server.terminate()
            server.wait()
    m = statistics.median
    print(f"reverse execution (DAP), {label}: recorded {recorded:.1f}s, {events} events")
    print(f"{'first hit':>12}{'to end':>10}{'rev-cont 1':>12}{'rev-cont 2':>12}")
    print(f"{m(r[0] for r in rows):>11.3f}s{m(r[1] for r in rows):>9.3f}s{m(r[2] for r in rows):>11.3f}s{m(r[3] for r in rows):>11.3f}s")


if __name__ == "__main__":
    main()
