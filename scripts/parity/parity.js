#!/usr/bin/env node
'use strict';
// parity.js — drive `dlv dap` (live, launch mode `exec`) and `rrgo replay --dap`
// (attach to a recording of the same binary) through the same breakpoints, collect
// what a DAP client sees at every stop, normalise what legitimately differs between a
// live run and a replay, and print every remaining difference plus a summary.
//
// Run by scripts/parity.sh, which builds Delve, rrgo and the example, and records it:
//
//   node scripts/parity/parity.js --program NAME --binary BIN --trace TRACE \
//        --dlv DLV --rrgo RRGO --source DIR [--out REPORT] [--raw DIR] [--max-stops N]
//
// Plain DAP over TCP (no dependencies). Every wait has a deadline; both servers are
// killed at the end, on error and on exit. Exits 0 once the report is written (it is a
// report, not a test); 1 if a session could not be run at all.

const net = require('node:net');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');

// ------------------------------------------------------------------ configuration ----

const SCALE = Number(process.env.PARITY_TIMEOUT_SCALE || 1) || 1;
const T = {
    startup: 30000 * SCALE, // server prints its address
    request: 30000 * SCALE, // one request until its response
    stop: 120000 * SCALE, // continue until the next stopped/terminated event
    session: 600000 * SCALE, // one whole session
};
const MAX_DEPTH = 3; // variables: top level + 2 levels of children
const MAX_CHILDREN = 100; // children compared per container
const STACK_LEVELS = 20;

// Breakpoints default to every `// #BP name` marker of the program's .go files.
// `breakpoints` (file + regexp of the line) replaces them; `skip` drops markers by name
// (e.g. lines reached only with flags the parity run does not pass).
// `evaluate` maps the stopped function to expressions evaluated there ('*': everywhere).
const PROGRAMS = {
    debugvars: {
        // #BP inspect is reached only with -block (which never returns): stop on a line
        // after it instead, where every local is set and `keys` is filled and sorted
        // (before the sort its order is the map's, which differs from run to run).
        breakpoints: [{ file: 'main.go', match: /^\s*fmt\.Printf\("n=%d f=%v/ }],
        evaluate: {
            'main.inspect': [
                'n', 'f', 'ok', 's', 'len(s)', 's[1]', 'long', 'len(long)', 'r', 'b',
                'xs', 'len(xs)', 'cap(xs)', 'xs[1]', 'xs[1:]', 'nilxs', 'len(nilxs)',
                'capxs', 'cap(capxs)', 'arr', 'arr[2]', 'len(arr)',
                'm', 'm["b"]', 'len(m)', 'mi', 'mi[3]', 'big', 'big["k29"]', 'len(big)',
                'huge', 'huge[1999]', 'len(huge)', 'nilm', 'len(nilm)',
                'p', 'p.X', 'p.In', 'p.In.B', '&p', 'pp', '*pp', 'pp.Label', 'pp.In.A', 'np', '*np',
                'ei', 'es', 'ep', 'ep.(*main.point)', 'ep.(*main.point).X', 'err', 'nilerr',
                'cerr', 'cerr.(*main.myErr).code', 'ch', 'len(ch)', 'cap(ch)', 'fn',
                'w2', 'w2.F', 'w2.wrap1.F', 'w2.named', 'vp', 'vp.F', 'vp.named', 'tw', 'tw.F',
                'tw.named.F', 'tw.other.F', 'keys', 'keys[0]', 'len(keys)',
                'counter', 'main.counter', 'greeting', 'main.greeting', 'never',
                'n + 1', 'n * 2', 'f * 2', 's == "hello"', 'xs[5]', 'nosuchvar',
                // Slicing.
                'xs[1:3]', 'xs[:2]', 'xs[1:2:3]', 'xs[2:9]', 's[1:3]', 's[2:]', 'long[2:5]',
                'arr[:2]', 'arr[1:]', 'keys[1:]', 'bs[1:3]',
                // Type assertions.
                'ei.(int)', 'ei.(string)', 'es.(string)', 'ifs.(main.point)', 'ifs.(main.point).Label',
                'ifs.(*main.point)', 'err.(*errors.errorString)', 'err.(*main.myErr)',
                'cerr.(*main.myErr)', 'nilerr.(*main.myErr)', 'n.(int)',
                // Conversions.
                'uint8(n)', 'int64(n)', 'float64(n)', 'int(f)', 'float32(f)', 'uint8(n + 300)',
                'int8(-n)', 'string(b)', '[]byte(s)', 'string(bs)', 'main.tier(n)', 'up',
                'nilup', 'nilup == unsafe.Pointer(nil)', 'unsafe.Pointer(pp)', '(*main.point)(up)', '(*main.point)(up).Label',
                '*(*int)(up)', 'uintptr(up) == uintptr(unsafe.Pointer(pp))', '*(*int)(uintptr(up))',
                // Constants.
                'maxItems', 'main.maxItems', 'level', 'maxItems * 2', 'math.MaxInt64', 'time.Hour',
                'ratio', 'banner',
                // time.Time.
                't0', 'tz', 'tzero',
                // Complex numbers.
                'c', 'c64', 'real(c)', 'imag(c)', 'real(c64)', 'complex(1, 2)', 'c * 2',
                'c + complex(0, 1)', 'c == complex(3.25, 7)', '-c',
                // Closures.
                'add', 'count', 'fn', 'add.base', 'count.hits',
                // The rest.
                'mi["x"]', 'm[1]', 'min(n, 3)', 'max(f, 1)', 'len(bs)', 'double', 'main.double', 'strings.Repeat', 'fn == nil', 'double(2)', 'any(n)', 'error(cerr)', 'ei.(error)',
            ],
        },
    },
    dapdemo: {
        skip: ['panic-line'], // reached only with -panic
        // Which worker sends first, and where the others and main are then, is up to the
        // scheduler: a live run and the recording differ. At these stops values and
        // thread names are not compared (names, types and structure are).
        schedulingDependent: /main\.worker\.func1$/,
        evaluate: {
            'main.square': ['n', 'r', 'n * n'],
            'main.accumulate': ['total', 'i', 's', 'total + i'],
            'main.main': ['total', 'i', 'results', 'len(results)', 'cap(results)', 'wg', 'sum',
                'p', 'p.Label', 'p.X + p.Y', 'sh', 'sh.(main.tile)', 'sh.(main.tile).side',
                'sh.(*main.tile)', 'float64(total)', 'p.Label[1:]', 'main.tile(sh.(main.tile))'],
            'main.tile.area': ['t', 't.side', 't.side * t.side'],
            'main.worker.func1': ['id', 'results', 'wg'],
            'main.worker': ['id', 'results', 'wg'],
        },
    },
};

// `initialize` arguments as VS Code sends them.
const INITIALIZE = {
    clientID: 'vscode', clientName: 'Visual Studio Code', adapterID: 'go', pathFormat: 'path',
    linesStartAt1: true, columnsStartAt1: true, supportsVariableType: true,
    supportsVariablePaging: true, supportsRunInTerminalRequest: false, locale: 'en',
    supportsProgressReporting: true, supportsInvalidatedEvent: true,
    supportsMemoryReferences: true, supportsArgsCanBeInterpretedByShell: false,
};

// ---------------------------------------------------------------------- arguments ----

function parseArgs(argv) {
    const o = { maxStops: 60 };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const v = () => {
            if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
            return argv[++i];
        };
        switch (a) {
            case '--program': o.program = v(); break;
            case '--binary': o.binary = v(); break;
            case '--trace': o.trace = v(); break;
            case '--dlv': o.dlv = v(); break;
            case '--rrgo': o.rrgo = v(); break;
            case '--source': o.source = v(); break;
            case '--out': o.out = v(); break;
            case '--raw': o.raw = v(); break;
            case '--max-stops': o.maxStops = Number(v()); break;
            default: throw new Error(`unknown argument ${a}`);
        }
    }
    for (const k of ['program', 'binary', 'trace', 'dlv', 'rrgo', 'source']) {
        if (!o[k]) throw new Error(`--${k} is required`);
    }
    // The servers run in the program's directory: make every path absolute.
    for (const k of ['binary', 'trace', 'dlv', 'rrgo', 'source', 'out', 'raw']) {
        if (o[k] && (k !== 'dlv' && k !== 'rrgo' || o[k].includes('/'))) o[k] = path.resolve(o[k]);
    }
    return o;
}

function log(...a) {
    process.stderr.write(`parity: ${a.join(' ')}\n`);
}

// --------------------------------------------------------------- server processes ----

const live = new Set();
function killAll() {
    for (const p of live) {
        try { p.kill('SIGKILL'); } catch { /* gone */ }
    }
    live.clear();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => { killAll(); process.exit(130); });
}

// Spawns a DAP server and resolves to {proc, port, output()} once `re` matches its
// stdout+stderr (group 1: the port).
function startServer(cmd, args, re, opts = {}) {
    return new Promise((resolve, reject) => {
        const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
        live.add(proc);
        let out = '';
        let done = false;
        const srv = { proc, port: null, output: () => out, exited: false };
        const finish = (err) => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            if (err) { stopServer(srv); reject(err); } else resolve(srv);
        };
        const timer = setTimeout(() => finish(new Error(
            `${cmd} did not announce its port within ${T.startup} ms:\n${out}`)), T.startup);
        const onData = (d) => {
            out += d;
            if (out.length > 200000) out = out.slice(-100000);
            const m = re.exec(out);
            if (m && srv.port === null) { srv.port = Number(m[1]); finish(null); }
        };
        proc.stdout.setEncoding('utf8');
        proc.stderr.setEncoding('utf8');
        proc.stdout.on('data', onData);
        proc.stderr.on('data', onData);
        proc.once('error', (e) => finish(new Error(`cannot run ${cmd}: ${e.message}`)));
        proc.once('exit', (code, sig) => {
            srv.exited = true;
            live.delete(proc);
            finish(new Error(`${cmd} exited (${sig || code}) before announcing its port:\n${out}`));
        });
    });
}

function stopServer(srv) {
    if (!srv || srv.exited) return Promise.resolve();
    return new Promise((resolve) => {
        const t = setTimeout(() => {
            try { srv.proc.kill('SIGKILL'); } catch { /* gone */ }
            resolve();
        }, 3000);
        srv.proc.once('exit', () => { clearTimeout(t); live.delete(srv.proc); resolve(); });
        try { srv.proc.kill('SIGTERM'); } catch { clearTimeout(t); resolve(); }
    });
}

// -------------------------------------------------------------------- DAP client ----

class Dap {
    constructor(sock, label) {
        this.sock = sock;
        this.label = label;
        this.seq = 1;
        this.pending = new Map();
        this.events = [];
        this.waiters = [];
        this.buf = Buffer.alloc(0);
        this.closed = null;
        this.output = [];
        sock.on('data', (d) => this.onData(d));
        const close = (why) => {
            if (this.closed) return;
            this.closed = why;
            for (const [, p] of this.pending) p.reject(new Error(`${label}: connection ${why}`));
            this.pending.clear();
            for (const w of this.waiters) w.reject(new Error(`${label}: connection ${why}`));
            this.waiters = [];
        };
        sock.on('close', () => close('closed'));
        sock.on('error', (e) => close(`error: ${e.message}`));
    }

    static connect(port, label) {
        return new Promise((resolve, reject) => {
            const sock = net.connect({ host: '127.0.0.1', port });
            const t = setTimeout(() => { sock.destroy(); reject(new Error(`${label}: connect timeout`)); }, T.startup);
            sock.once('connect', () => { clearTimeout(t); resolve(new Dap(sock, label)); });
            sock.once('error', (e) => { clearTimeout(t); reject(e); });
        });
    }

    onData(d) {
        this.buf = Buffer.concat([this.buf, d]);
        for (;;) {
            const hdrEnd = this.buf.indexOf('\r\n\r\n');
            if (hdrEnd < 0) return;
            const m = /Content-Length:\s*(\d+)/i.exec(this.buf.slice(0, hdrEnd).toString());
            if (!m) throw new Error(`${this.label}: bad header`);
            const len = Number(m[1]);
            if (this.buf.length < hdrEnd + 4 + len) return;
            const body = this.buf.slice(hdrEnd + 4, hdrEnd + 4 + len).toString('utf8');
            this.buf = this.buf.slice(hdrEnd + 4 + len);
            this.dispatch(JSON.parse(body));
        }
    }

    dispatch(msg) {
        if (msg.type === 'response') {
            const p = this.pending.get(msg.request_seq);
            if (p) { this.pending.delete(msg.request_seq); p.resolve(msg); }
        } else if (msg.type === 'event') {
            if (msg.event === 'output') { this.output.push(msg.body && msg.body.output); return; }
            this.events.push(msg);
            this.wake();
        } else if (msg.type === 'request') {
            // Reverse requests (runInTerminal…): refuse.
            this.send({ type: 'response', request_seq: msg.seq, command: msg.command, success: false, message: 'unsupported' });
        }
    }

    wake() {
        const rest = [];
        for (const w of this.waiters) {
            const i = this.events.findIndex((e) => w.names.includes(e.event));
            if (i >= 0) { w.resolve(this.events.splice(i, 1)[0]); } else rest.push(w);
        }
        this.waiters = rest;
    }

    send(msg) {
        const s = JSON.stringify(msg);
        this.sock.write(`Content-Length: ${Buffer.byteLength(s)}\r\n\r\n${s}`);
    }

    // Resolves to the response (success or not); rejects on timeout or a closed connection.
    request(command, args, timeout = T.request) {
        if (this.closed) return Promise.reject(new Error(`${this.label}: connection ${this.closed}`));
        const seq = this.seq++;
        return new Promise((resolve, reject) => {
            const t = setTimeout(() => {
                this.pending.delete(seq);
                reject(new Error(`${this.label}: ${command} timed out after ${timeout} ms`));
            }, timeout);
            this.pending.set(seq, {
                resolve: (r) => { clearTimeout(t); resolve(r); },
                reject: (e) => { clearTimeout(t); reject(e); },
            });
            this.send({ seq, type: 'request', command, arguments: args });
        });
    }

    // Like request, but rejects when the request fails.
    async ok(command, args, timeout) {
        const r = await this.request(command, args, timeout);
        if (!r.success) throw new Error(`${this.label}: ${command} failed: ${r.message} ${JSON.stringify(r.body || {})}`);
        return r.body || {};
    }

    nextEvent(names, timeout) {
        if (typeof names === 'string') names = [names];
        const i = this.events.findIndex((e) => names.includes(e.event));
        if (i >= 0) return Promise.resolve(this.events.splice(i, 1)[0]);
        if (this.closed) return Promise.reject(new Error(`${this.label}: connection ${this.closed}`));
        return new Promise((resolve, reject) => {
            const w = {
                names,
                resolve: (e) => { clearTimeout(t); resolve(e); },
                reject: (e) => { clearTimeout(t); reject(e); },
            };
            const t = setTimeout(() => {
                this.waiters = this.waiters.filter((x) => x !== w);
                reject(new Error(`${this.label}: no ${names.join('/')} event within ${timeout} ms`));
            }, timeout);
            this.waiters.push(w);
        });
    }

    close() {
        try { this.sock.destroy(); } catch { /* gone */ }
    }
}

// --------------------------------------------------------------------- breakpoints ----

function goFiles(dir) {
    return fs.readdirSync(dir).filter((f) => f.endsWith('.go') && !f.endsWith('_test.go')).sort();
}

// [{file: absolute path, line, name}]
function breakpointsFor(program, source) {
    const cfg = PROGRAMS[program] || {};
    const out = [];
    if (cfg.breakpoints) {
        for (const b of cfg.breakpoints) {
            const file = path.join(source, b.file);
            const lines = fs.readFileSync(file, 'utf8').split('\n');
            const hits = lines.map((l, i) => (b.match.test(l) ? i + 1 : 0)).filter(Boolean);
            if (hits.length !== 1) throw new Error(`${b.match} matches ${hits.length} lines of ${file}`);
            out.push({ file, line: hits[0], name: `${b.file}:${hits[0]}` });
        }
        return out;
    }
    const skip = new Set(cfg.skip || []);
    for (const f of goFiles(source)) {
        const file = path.join(source, f);
        fs.readFileSync(file, 'utf8').split('\n').forEach((l, i) => {
            const m = /\/\/\s*#BP\s+(\S+)/.exec(l);
            if (m && !skip.has(m[1])) out.push({ file, line: i + 1, name: m[1] });
        });
    }
    return out;
}

function expressionsFor(program, fn) {
    const ev = (PROGRAMS[program] || {}).evaluate || {};
    return [...(ev[fn] || []), ...(ev['*'] || [])];
}

// ------------------------------------------------------------------------ sessions ----

async function fetchVars(c, ref, depth) {
    const body = await c.ok('variables', { variablesReference: ref });
    const vars = (body.variables || []).slice(0, MAX_CHILDREN);
    const out = [];
    for (const v of vars) {
        const n = {
            name: v.name,
            value: v.value,
            type: v.type,
            evaluateName: v.evaluateName,
            indexedVariables: v.indexedVariables,
            namedVariables: v.namedVariables,
            hasChildren: v.variablesReference > 0,
        };
        if (v.variablesReference > 0 && depth < MAX_DEPTH) {
            try {
                n.children = await fetchVars(c, v.variablesReference, depth + 1);
            } catch (e) {
                n.childrenError = e.message;
            }
        }
        out.push(n);
    }
    if ((body.variables || []).length > MAX_CHILDREN) out.truncated = body.variables.length;
    return out;
}

async function collectStop(c, program, ev) {
    const stop = { reason: ev.reason, description: ev.description };
    const threads = (await c.ok('threads', {})).threads || [];
    stop.threads = threads.map((t) => t.name);
    const tid = ev.threadId;
    stop.threadName = (threads.find((t) => t.id === tid) || {}).name;
    const st = await c.ok('stackTrace', { threadId: tid, startFrame: 0, levels: STACK_LEVELS });
    const frames = st.stackFrames || [];
    stop.stack = frames.map((f) => ({
        name: f.name,
        line: f.line,
        source: f.source && f.source.path,
        presentationHint: f.presentationHint,
    }));
    stop.totalFrames = st.totalFrames;
    if (!frames.length) return stop;
    const frameId = frames[0].id;
    stop.where = `${path.basename((frames[0].source && frames[0].source.path) || '?')}:${frames[0].line} ${frames[0].name}`;
    const scopes = (await c.ok('scopes', { frameId })).scopes || [];
    stop.scopes = [];
    for (const s of scopes) {
        const sc = { name: s.name, expensive: s.expensive, presentationHint: s.presentationHint };
        if (s.variablesReference > 0) {
            try {
                sc.variables = await fetchVars(c, s.variablesReference, 1);
            } catch (e) {
                sc.error = e.message;
            }
        }
        stop.scopes.push(sc);
    }
    stop.evaluate = [];
    for (const expr of expressionsFor(program, frames[0].name)) {
        const r = await c.request('evaluate', { expression: expr, frameId, context: 'watch' });
        if (r.success) {
            const b = r.body || {};
            stop.evaluate.push({
                expression: expr,
                result: b.result,
                type: b.type,
                indexedVariables: b.indexedVariables,
                namedVariables: b.namedVariables,
                hasChildren: b.variablesReference > 0,
            });
        } else {
            const err = (r.body && r.body.error && r.body.error.format) || r.message;
            stop.evaluate.push({ expression: expr, error: err });
        }
    }
    return stop;
}

// kind: 'delve' | 'rrgo'. Returns {stops, end, breakpoints, output}.
async function runSession(kind, o, bps) {
    let srv;
    let c;
    const result = { kind, stops: [], end: null, breakpoints: [] };
    try {
        if (kind === 'delve') {
            srv = await startServer(o.dlv, ['dap', '--listen=127.0.0.1:0', '--check-go-version=false'],
                /DAP server listening at: 127\.0\.0\.1:(\d+)/, { cwd: o.source });
        } else {
            srv = await startServer(o.rrgo, ['replay', '--dap', '127.0.0.1:0', o.trace],
                /rrgo: DAP server listening on 127\.0\.0\.1:(\d+)/, { cwd: o.source });
        }
        c = await Dap.connect(srv.port, kind);
        await c.ok('initialize', INITIALIZE);
        const common = { stopOnEntry: false, showGlobalVariables: true, hideSystemGoroutines: false };
        const startP = kind === 'delve'
            ? c.request('launch', { request: 'launch', mode: 'exec', program: o.binary, cwd: o.source, args: [], ...common }, T.stop)
            : c.request('attach', { request: 'attach', mode: 'remote', ...common }, T.stop);
        startP.catch(() => {});
        const first = await Promise.race([
            c.nextEvent('initialized', T.stop),
            startP.then((r) => {
                if (!r.success) throw new Error(`${kind}: ${r.command} failed: ${r.message} ${JSON.stringify(r.body || {})}`);
                return c.nextEvent('initialized', T.stop);
            }),
        ]);
        void first;
        const byFile = new Map();
        for (const b of bps) {
            if (!byFile.has(b.file)) byFile.set(b.file, []);
            byFile.get(b.file).push(b);
        }
        for (const [file, list] of byFile) {
            const r = await c.ok('setBreakpoints', {
                source: { path: file }, breakpoints: list.map((b) => ({ line: b.line })), lines: list.map((b) => b.line),
            });
            (r.breakpoints || []).forEach((b, i) => result.breakpoints.push({
                name: list[i].name, line: list[i].line, verified: b.verified, gotLine: b.line, message: b.message,
            }));
        }
        await c.ok('configurationDone', {});
        const sr = await startP;
        if (!sr.success) throw new Error(`${kind}: ${sr.command} failed: ${sr.message}`);
        for (let n = 0; ; n++) {
            const ev = await c.nextEvent(['stopped', 'terminated', 'exited'], T.stop);
            if (ev.event !== 'stopped') { result.end = ev.event; break; }
            const b = ev.body || {};
            if (b.reason !== 'breakpoint') { result.end = `stopped: ${b.reason}${b.description ? ` (${b.description})` : ''}`; break; }
            if (n >= o.maxStops) { result.end = `--max-stops ${o.maxStops} reached`; break; }
            if ((n + 1) % 10 === 0) log(`${kind}: ${n + 1} stops`);
            result.stops.push(await collectStop(c, o.program, b));
            await c.ok('continue', { threadId: b.threadId });
        }
        await c.request('disconnect', { terminateDebuggee: true }, 10000).catch(() => {});
    } catch (e) {
        result.error = e.message;
        log(`${kind}: ERROR ${e.message}`);
        if (srv) log(`${kind}: server output (tail):\n${srv.output().slice(-3000)}`);
    } finally {
        if (c) { result.output = c.output.join(''); c.close(); }
        await stopServer(srv);
    }
    return result;
}

// ------------------------------------------------------------------ normalisation ----

// What differs between a live process and a replay (or between two runs) and is not a
// difference of the debugger: addresses, thread ids, goroutine ids other than 1.
function norm(s) {
    if (typeof s !== 'string') return s;
    return normMap(s)
        .replace(/0x[0-9a-fA-F]{5,}/g, '0xADDR')
        .replace(/\(Thread \d+\)/g, '(Thread N)')
        .replace(/\bThread \d+\b/g, 'Thread N')
        .replace(/\[Go (\d+)\]/g, (m, g) => (g === '1' ? m : '[Go N]'))
        .replace(/\bgoroutine (\d+)\b/g, (m, g) => (g === '1' ? m : 'goroutine N'));
}

// A map's value lists its entries in the map's iteration order, which depends on the
// run's hash seed: entries sorted; a value cut short ("...") keeps only its type.
function normMap(s) {
    const m = /^(map\[\S*) \[(.*)$/s.exec(s);
    if (!m) return s;
    if (!m[2].endsWith(']')) return `${m[1]} [(entries cut short)]`;
    const entries = m[2].slice(0, -1).split(', ').filter((e) => e !== '' && e !== ' ').sort();
    return `${m[1]} [${entries.join(', ')}]`;
}

// Map entries beyond the first N are loaded in iteration order, so two runs show
// different subsets of a big map: compare only the entries both show.
function isPartialMap(v) {
    if (!v || typeClass(v.type) !== 'map' || !v.children) return false;
    const len = v.children.find((c) => c.name === 'len()');
    const entries = v.children.filter((c) => c.name !== 'len()').length;
    if (len) return Number(len.value) > entries;
    return entries >= 64 && !/\]$/.test(v.value || ''); // no len() child: a long, cut-short value
}

const VAR_FIELDS = ['value', 'type', 'evaluateName', 'indexedVariables', 'namedVariables', 'hasChildren'];
const EVAL_FIELDS = ['result', 'type', 'indexedVariables', 'namedVariables', 'hasChildren', 'error'];

// A coarse class of a Go type, for the difference categories.
function typeClass(t) {
    if (t === undefined || t === null || t === '') return 'no type';
    if (/^(error|any)(\(|$)/.test(t) || /^interface ?\{/.test(t)) return 'interface';
    if (t.startsWith('*')) return 'pointer';
    if (t.startsWith('map[')) return 'map';
    if (t.startsWith('[]')) return 'slice';
    if (/^\[\d+\]/.test(t)) return 'array';
    if (t.startsWith('chan ') || t.startsWith('<-chan') || t.startsWith('chan<-')) return 'chan';
    if (t.startsWith('func')) return 'func';
    if (t === 'string') return 'string';
    if (/^(u?int\d*|uintptr|float\d+|complex\d+|bool|byte|rune)$/.test(t)) return 'basic';
    if (/^(sync|runtime|context)\./.test(t)) return 'runtime/sync struct';
    return 'named/struct';
}

// The category of a difference in one field of a variable or evaluate result.
function fieldCategory(prefix, f, dv, rv) {
    const a = dv[f];
    const b = rv[f];
    const cls = typeClass(dv.type);
    if (f === 'type' && typeof a === 'string' && typeof b === 'string') {
        if (a.startsWith(`${b}(`)) return `${prefix}interface type lacks its dynamic type (delve I(T), rrgo I)`;
        if (a === `*${b}`) return `${prefix}pointer shown as its target (delve *T, rrgo T)`;
    }
    if ((f === 'value' || f === 'result') && typeof a === 'string' && typeof b === 'string' &&
        a.startsWith('*') && dv.type === `*${rv.type}`) {
        return `${prefix}pointer shown as its target (delve *T, rrgo T)`;
    }
    if ((f === 'value' || f === 'result') && typeof a === 'string' && typeof b === 'string' &&
        /: [A-Za-z_|]+ \(\d+\)/.test(a) && a.replace(/: [A-Za-z_|]+ \((\d+)\)/g, ': $1') === b) {
        return `${prefix}named constants shown as plain numbers (delve Kind_: Int (2), rrgo 2)`;
    }
    if (f === 'type' && /^(byte|rune)$/.test(a) && /^(uint8|int32)$/.test(b)) return `${prefix}byte/rune shown as uint8/int32`;
    if (f === 'namedVariables' && a === undefined && b !== undefined) return `${prefix}namedVariables set by rrgo, not by Delve: ${cls}`;
    if (f === 'namedVariables' && cls === 'map' && a === 1 && b === undefined) return `${prefix}map namedVariables (its len() child) missing in rrgo`;
    if ((f === 'indexedVariables' || f === 'hasChildren') && dv.type === `*${rv.type}`) return `${prefix}pointer shown as its target (delve *T, rrgo T)`;
    return `${prefix}${f} differs: ${cls}`;
}

function missingCategory(dv) {
    if (/^~r\d+$/.test(dv.name)) return 'return value (~rN) not shown by rrgo';
    if (/^~p\d+$/.test(dv.name)) return 'unnamed parameter (~pN) not shown by rrgo';
    if (dv.name === 'len()') return "map's len() child not shown by rrgo";
    if (dv.name === '' && dv.evaluateName && dv.evaluateName.startsWith('(*')) return 'pointer child (*p) missing: rrgo shows the target inline';
    return `variable missing in rrgo: ${typeClass(dv.type)}`;
}

function show(v) {
    return v === undefined ? '(none)' : JSON.stringify(v);
}

// Children keyed by name (maps: order-independent), duplicates numbered.
function keyed(list) {
    const m = new Map();
    for (const v of list || []) {
        let k = v.name;
        for (let i = 2; m.has(k); i++) k = `${v.name}#${i}`;
        m.set(k, v);
    }
    return m;
}

// Delve shows one `Locals` scope with the arguments first; rrgo `Arguments` and
// `Locals`. Variables are compared in one namespace per scope class.
function scopeClass(name) {
    if (/^(Arguments|Locals)$/.test(name)) return 'Locals';
    if (/^Globals/.test(name)) return 'Globals';
    return name;
}

class Diff {
    constructor() {
        this.lines = [];
        this.categories = new Map();
        this.vars = { total: 0, same: 0, extra: 0 };
        this.evals = { total: 0, same: 0 };
        this.frames = { total: 0, same: 0 };
        this.threads = { total: 0, same: 0 };
        this.stops = { delve: 0, rrgo: 0, paired: 0 };
        this.unstable = false;
        this.unstableStops = [];
    }

    add(where, text, category) {
        this.lines.push(`${where}: ${text}`);
        this.categories.set(category, (this.categories.get(category) || 0) + 1);
    }
}

function compareVars(d, where, dl, rl, partial = false, top = false, derefDiff = false) {
    const dm = keyed(dl);
    const rm = keyed(rl);
    if (partial) {
        const shown = (m) => [...m.keys()].filter((k) => k !== 'len()').length;
        const common = [...dm.keys()].filter((k) => k !== 'len()' && rm.has(k)).length;
        if (shown(dm) !== shown(rm)) {
            d.add(where, `map entries shown: delve ${shown(dm)} vs rrgo ${shown(rm)} (${common} in both; compared, not counted)`, 'map: number of entries shown differs');
        }
    }
    for (const [k, dv] of dm) {
        const p = `${where}/${k}`;
        const rv = rm.get(k);
        if (partial && !rv && k !== 'len()') continue;
        // Entries of a map shown in part are compared but not counted: which ones both
        // show changes from run to run, and the totals should not.
        const counted = !(partial && k !== 'len()');
        if (counted) d.vars.total++;
        if (!rv) {
            d.add(p, `only in delve: ${show(norm(dv.value))} (${dv.type})`,
                derefDiff ? 'pointer shown as its target (delve *T, rrgo T)' : missingCategory(dv));
            countMissing(d, dv.children);
            continue;
        }
        let same = true;
        for (const f of VAR_FIELDS) {
            const a = d.unstable && f === 'value' ? undefined : norm(dv[f]);
            const b = d.unstable && f === 'value' ? undefined : norm(rv[f]);
            if (a !== b) {
                same = false;
                d.add(p, `${f}: delve ${show(a)} vs rrgo ${show(b)}`, fieldCategory('', f, dv, rv));
            }
        }
        if (same && counted) d.vars.same++;
        if (dv.children || rv.children) {
            compareVars(d, p, dv.children || [], rv.children || [], isPartialMap(dv) || isPartialMap(rv), false,
                dv.type === `*${rv.type}`);
        }
    }
    for (const [k, rv] of rm) {
        if (dm.has(k) || partial) continue;
        d.vars.extra++;
        d.add(`${where}/${k}`, `only in rrgo: ${show(norm(rv.value))} (${rv.type})`,
            derefDiff ? 'pointer shown as its target (delve *T, rrgo T)'
                : top && /Locals$/.test(where) ? 'local shown by rrgo, not by Delve (not yet declared at the stop line)'
                : d.unstable ? 'scheduling-dependent child (not counted)' : `variable only in rrgo: ${typeClass(rv.type)}`);
    }
}

function countMissing(d, children) {
    for (const c of children || []) {
        d.vars.total++;
        countMissing(d, c.children);
    }
}

// A runtime goroutine (finalizers, GC workers…) is parked or running depending on the
// run's timing: such a thread name differing is not the debugger's doing.
function threadCategory(t, what, unstable) {
    if (unstable) return 'thread: goroutines alive differ at a scheduling-dependent stop';
    if (/\] runtime\.\w+/.test(t) && !/^\*/.test(t)) return 'thread: runtime goroutine in another state (timing of the run)';
    return `thread ${what}`;
}

function compareStop(d, i, ds, rs, unstableRe) {
    const w = `[stop ${i + 1} ${ds.where || '?'}]`;
    d.unstable = !!(unstableRe && unstableRe.test(ds.stack[0] ? ds.stack[0].name : ''));
    if (d.unstable) d.unstableStops.push(i + 1);
    // At a scheduling-dependent stop only the goroutine ids (1 or not) are compared.
    const tn = (t) => (d.unstable ? norm(t).replace(/^(\*? ?\[Go (1|N)\]).*$/, '$1 …') : norm(t));
    if (ds.where !== rs.where) d.add(w, `stopped at: delve ${show(ds.where)} vs rrgo ${show(rs.where)}`, 'stop location differs');
    // threads: multisets of normalised names
    const dt = ds.threads.map(tn).sort();
    const rt = rs.threads.map(tn).sort();
    const rCount = new Map();
    for (const t of rt) rCount.set(t, (rCount.get(t) || 0) + 1);
    for (const t of dt) {
        d.threads.total++;
        if (rCount.get(t) > 0) { d.threads.same++; rCount.set(t, rCount.get(t) - 1); } else {
            d.add(`${w} threads`, `only in delve: ${show(t)}`, threadCategory(t, 'missing/renamed in rrgo', d.unstable));
        }
    }
    for (const [t, n] of rCount) for (let k = 0; k < n; k++) d.add(`${w} threads`, `only in rrgo: ${show(t)}`, threadCategory(t, 'only in rrgo', d.unstable));
    if (tn(ds.threadName) !== tn(rs.threadName)) {
        d.add(`${w} stopped thread`, `delve ${show(tn(ds.threadName))} vs rrgo ${show(tn(rs.threadName))}`, 'stopped thread name differs');
    }
    // stack
    const n = Math.max(ds.stack.length, rs.stack.length);
    for (let k = 0; k < n; k++) {
        const a = ds.stack[k];
        const b = rs.stack[k];
        if (a) d.frames.total++;
        const fa = a && `${a.name} ${path.basename(a.source || '?')}:${a.line}${a.presentationHint ? ` (${a.presentationHint})` : ''}`;
        const fb = b && `${b.name} ${path.basename(b.source || '?')}:${b.line}${b.presentationHint ? ` (${b.presentationHint})` : ''}`;
        if (fa === fb && a.source === b.source) { d.frames.same++; continue; }
        const cat = !a ? 'stack frame only in rrgo' : !b ? 'stack frame missing in rrgo'
            : a.name !== b.name ? 'stack frame name differs' : a.line !== b.line ? 'stack frame line differs'
                : a.source !== b.source ? 'stack frame source differs' : 'stack frame hint differs';
        d.add(`${w} stack[${k}]`, `delve ${show(fa)} vs rrgo ${show(fb)}`, cat);
    }
    // scopes
    const sn = (s) => (s.scopes || []).map((x) => x.name).join(', ');
    if (sn(ds) !== sn(rs)) d.add(`${w} scopes`, `delve [${sn(ds)}] vs rrgo [${sn(rs)}]`, 'scope names differ');
    const byClass = (s) => {
        const m = new Map();
        for (const sc of s.scopes || []) {
            const k = scopeClass(sc.name);
            if (!m.has(k)) m.set(k, []);
            m.get(k).push(...(sc.variables || []));
            if (sc.error) m.get(k).error = sc.error;
        }
        return m;
    };
    const dsc = byClass(ds);
    const rsc = byClass(rs);
    for (const [k, vars] of dsc) compareVars(d, `${w} ${k}`, vars, rsc.get(k) || [], false, true);
    for (const [k, vars] of rsc) if (!dsc.has(k)) compareVars(d, `${w} ${k}`, [], vars, false, true);
    // evaluate
    const re = new Map((rs.evaluate || []).map((e) => [e.expression, e]));
    for (const a of ds.evaluate || []) {
        d.evals.total++;
        const b = re.get(a.expression) || {};
        const p = `${w} evaluate ${show(a.expression)}`;
        if (a.error !== undefined && b.error !== undefined) {
            // Both refuse: count as the same; the wording is informational.
            d.evals.same++;
            if (a.error !== b.error) d.add(p, `error text: delve ${show(a.error)} vs rrgo ${show(b.error)} (counted as same)`, 'evaluate: both fail, different message');
            continue;
        }
        if (a.error !== undefined) {
            d.add(p, `delve fails ${show(a.error)} vs rrgo ${show(norm(b.result))} (${b.type})`,
                /could not find symbol/.test(a.error) ? 'evaluate: rrgo finds a local Delve does not (not yet declared)' : 'evaluate: rrgo answers where delve fails');
            continue;
        }
        if (b.error !== undefined) {
            d.add(p, `delve ${show(norm(a.result))} (${a.type}) vs rrgo fails ${show(b.error)}`,
                /type assertion/.test(b.error) ? 'evaluate: type assertions unsupported in rrgo'
                    : /unexpected character ':'/.test(b.error) && /\[[^\]]*:[^\]]*\]/.test(a.expression) ? 'evaluate: slice expressions x[a:b] unsupported in rrgo'
                    : /ambiguous selector/.test(b.error) ? 'evaluate: rrgo refuses an ambiguous selector Delve resolves'
                        : `evaluate fails in rrgo: ${typeClass(a.type)}`);
            continue;
        }
        let same = true;
        for (const f of EVAL_FIELDS) {
            const x = d.unstable && f === 'result' ? undefined : norm(a[f]);
            const y = d.unstable && f === 'result' ? undefined : norm(b[f]);
            if (x !== y) {
                same = false;
                d.add(p, `${f}: delve ${show(x)} vs rrgo ${show(y)}`, fieldCategory('evaluate: ', f, a, b));
            }
        }
        if (same) d.evals.same++;
    }
}

// Pairs of indices [i, j] (null: no partner), in order.
function alignStops(a, b) {
    const n = a.length;
    const m = b.length;
    const L = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
    for (let i = n - 1; i >= 0; i--) {
        for (let j = m - 1; j >= 0; j--) {
            L[i][j] = a[i].where === b[j].where ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
        }
    }
    const out = [];
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
        if (i < n && j < m && a[i].where === b[j].where) out.push([i++, j++]);
        else if (j >= m || (i < n && L[i + 1][j] >= L[i][j + 1])) out.push([i++, null]);
        else out.push([null, j++]);
    }
    return out;
}

function pct(a, b) {
    return b ? `${((100 * a) / b).toFixed(1)}%` : 'n/a';
}

function report(o, bps, delve, rrgo) {
    const d = new Diff();
    d.stops.delve = delve.stops.length;
    d.stops.rrgo = rrgo.stops.length;
    const out = [];
    out.push(`parity report: ${o.program}`);
    out.push(`  binary ${o.binary}`);
    out.push(`  trace  ${o.trace}`);
    out.push(`  breakpoints: ${bps.map((b) => `${b.name}@${path.basename(b.file)}:${b.line}`).join(', ')}`);
    for (const [k, s] of [['delve', delve], ['rrgo', rrgo]]) {
        out.push(`  ${k}: ${s.stops.length} stops, ended by ${s.end || '?'}${s.error ? `, ERROR: ${s.error}` : ''}`);
        const unv = s.breakpoints.filter((b) => !b.verified);
        if (unv.length) out.push(`    unverified breakpoints: ${unv.map((b) => `${b.name} (${b.message})`).join('; ')}`);
    }
    // Stops are paired in order by location (a longest common subsequence), so a stop
    // one side misses (e.g. two goroutines reaching a breakpoint at once in the live
    // run) does not shift the others.
    const unstableRe = (PROGRAMS[o.program] || {}).schedulingDependent;
    for (const [i, j] of alignStops(delve.stops, rrgo.stops)) {
        if (i !== null && j !== null) {
            d.stops.paired++;
            compareStop(d, i, delve.stops[i], rrgo.stops[j], unstableRe);
            d.unstable = false;
        } else if (i !== null) {
            d.add(`[stop ${i + 1} ${delve.stops[i].where}]`, 'only delve stopped here', 'stop missing in rrgo');
            for (const sc of delve.stops[i].scopes || []) countMissing(d, sc.variables);
            d.evals.total += (delve.stops[i].evaluate || []).length;
        } else {
            const ok = unstableRe && rrgo.stops[j].stack[0] && unstableRe.test(rrgo.stops[j].stack[0].name);
            d.add(`[rrgo stop ${j + 1} ${rrgo.stops[j].where}]`, 'only rrgo stopped here',
                ok ? 'stop only in rrgo (scheduling-dependent)' : 'stop only in rrgo');
        }
    }
    if (delve.error || rrgo.error) d.add('[session]', `delve error ${show(delve.error)}, rrgo error ${show(rrgo.error)}`, 'session error');

    if (d.unstableStops.length) {
        out.push(`  scheduling-dependent stops (values and thread names not compared): ${d.unstableStops.join(', ')}`);
    }
    out.push('');
    out.push(`differences (${d.lines.length}):`);
    for (const l of d.lines) out.push(`  ${l}`);
    out.push('');
    out.push('difference categories:');
    const cats = [...d.categories.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    for (const [c, k] of cats) out.push(`  ${String(k).padStart(5)}  ${c}`);
    out.push('');
    out.push(`summary ${o.program}:`);
    out.push(`  stops:     delve ${d.stops.delve}, rrgo ${d.stops.rrgo}, compared ${d.stops.paired}`);
    out.push(`  variables: ${d.vars.same}/${d.vars.total} identical (${pct(d.vars.same, d.vars.total)}), ${d.vars.extra} only in rrgo`);
    out.push(`  evaluate:  ${d.evals.same}/${d.evals.total} identical (${pct(d.evals.same, d.evals.total)})`);
    out.push(`  frames:    ${d.frames.same}/${d.frames.total} identical (${pct(d.frames.same, d.frames.total)})`);
    out.push(`  threads:   ${d.threads.same}/${d.threads.total} identical (${pct(d.threads.same, d.threads.total)})`);
    return out.join('\n') + '\n';
}

// -------------------------------------------------------------------------- main ----

async function main() {
    const o = parseArgs(process.argv.slice(2));
    const bps = breakpointsFor(o.program, o.source);
    if (!bps.length) throw new Error(`no breakpoints for ${o.program} (no // #BP markers in ${o.source})`);
    const deadline = setTimeout(() => {
        log(`deadline of ${T.session * 2} ms passed; killing the servers`);
        killAll();
        process.exit(1);
    }, T.session * 2);
    log(`${o.program}: ${bps.length} breakpoints; running delve`);
    const delve = await runSession('delve', o, bps);
    log(`${o.program}: running rrgo`);
    const rrgo = await runSession('rrgo', o, bps);
    clearTimeout(deadline);
    if (o.raw) {
        fs.mkdirSync(o.raw, { recursive: true });
        fs.writeFileSync(path.join(o.raw, `${o.program}-delve.json`), JSON.stringify(delve, null, 1));
        fs.writeFileSync(path.join(o.raw, `${o.program}-rrgo.json`), JSON.stringify(rrgo, null, 1));
    }
    const text = report(o, bps, delve, rrgo);
    process.stdout.write(text);
    if (o.out) fs.writeFileSync(o.out, text);
    if (!delve.stops.length && !rrgo.stops.length) process.exitCode = 1;
}

main().catch((e) => {
    log(`error: ${e.stack || e.message}`);
    killAll();
    process.exit(1);
});
