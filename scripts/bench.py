"""The body of scripts/bench.sh (see there)."""
import argparse, os, re, resource, shutil, statistics, subprocess, sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RRGO = os.path.join(REPO, "target", "release", "rrgo")
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
}


def timed(cmd, env=None):
    """Runs cmd, returns (wall seconds, child CPU seconds, returncode)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, p.returncode


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
    hdr = f"{'program':<22}{'native':>9}{'nat.cpu':>9}{'record':>9}{'rec/nat':>8}{'rec/cpu':>8}{'replay':>9}{'rep/rec':>8}{'events':>8}{'preempt':>8}{'trace':>10}{'B/event':>8}"
    print(hdr)
    for name in progs:
        exe = os.path.join(REPO, ".build", f"go{version}", name.split()[0])
        args = PROGRAMS.get(name, [])
        nat, natcpu, rec, rep, evs, pres, sizes = [], [], [], [], [], [], []
        for i in range(a.n):
            w, c, _ = timed([exe] + args)
            nat.append(w); natcpu.append(c)
            trace = os.path.join(tmp, f"{name.replace(' ', '_')}-{i}")
            w, _, _ = timed([RRGO, "record", "-q", "-o", trace, "--", exe] + args, env)
            rec.append(w)
            w, _, rc = timed([RRGO, "replay", "-a", trace], env)
            rep.append(w)
            e, p, s = info(trace)
            evs.append(e); pres.append(p); sizes.append(s)
            shutil.rmtree(trace, ignore_errors=True)
        m = statistics.median
        print(f"{name:<22}{m(nat):>8.3f}s{m(natcpu):>8.3f}s{m(rec):>8.3f}s{m(rec)/m(nat):>7.1f}x{m(rec)/max(m(natcpu),1e-3):>7.1f}x"
              f"{m(rep):>8.3f}s{m(rep)/m(rec):>7.2f}x{int(m(evs)):>8}{int(m(pres)):>8}{int(m(sizes)):>10}{m(sizes)/max(m(evs),1):>8.1f}")
    # Go-aware queries: a goroutine dump and goroutine 1's history, vs plain replay.
    print()
    print(f"{'program':<14}{'replay':>9}{'dump':>9}{'history':>9}{'hist/rep':>9}")
    for name in [p for p in progs if p in ("goroutines", "httpserver", "sigterm-delay")]:
        exe = os.path.join(REPO, ".build", f"go{version}", name)
        trace = os.path.join(tmp, f"{name}-q")
        timed([RRGO, "record", "-q", "-o", trace, "--", exe] + PROGRAMS.get(name, []), env)
        rep = statistics.median(timed([RRGO, "replay", "-a", trace], env)[0] for _ in range(a.n))
        dump = statistics.median(timed([RRGO, "replay", "--goroutines", trace], env)[0] for _ in range(a.n))
        hist = statistics.median(timed([RRGO, "replay", "--goroutine", "1", trace], env)[0] for _ in range(a.n))
        print(f"{name:<14}{rep:>8.3f}s{dump:>8.3f}s{hist:>8.3f}s{hist/rep:>8.1f}x")
    shutil.rmtree(tmp, ignore_errors=True)
    print("native/nat.cpu: the program alone; record: rrgo record; replay: rrgo replay -a;")
    print("trace: header+events+index bytes (stored executables excluded); B/event: trace bytes per event")


if __name__ == "__main__":
    main()
