'use strict';
// Process management and protocol plumbing for the DAP end-to-end tests:
//   startServer / stopServer  spawn `rrgo replay --dap 127.0.0.1:0 TRACE`, read its port
//   RrgoClient                DebugClient (@vscode/debugadapter-testsupport) that validates
//                             every message the server sends, times out every request,
//                             queues events (no lost or racing events) and fails fast when
//                             the connection drops
//   RawConnection             a plain TCP socket with DAP framing, for malformed input
//   scenario                  node:test wrapper: one server + client per test, a hard
//                             deadline, cleanup, diagnostics, and the no-violations check

const { spawn } = require('node:child_process');
const net = require('node:net');
const util = require('node:util');
const { test } = require('node:test');
const { DebugClient } = require('@vscode/debugadapter-testsupport');
const schema = require('./schema');

// All time limits scale with DAP_TIMEOUT_SCALE (e.g. 3 on a slow machine).
const SCALE = Number(process.env.DAP_TIMEOUT_SCALE || 1) || 1;
const TIMEOUTS = {
    startup: 30000 * SCALE, // until the server prints its port
    request: 30000 * SCALE, // one request until its response
    event: 45000 * SCALE, // waiting for an event (e.g. `stopped` after continue)
    test: 60000 * SCALE, // one whole scenario
    shutdown: 3000 * SCALE,
};

const LISTENING = /^rrgo: DAP server listening on 127\.0\.0\.1:(\d+)\s*$/m;
const TAIL = 6000; // characters of a stream kept for diagnostics

function tail(s, n = TAIL) {
    return s.length > n ? '…' + s.slice(s.length - n) : s;
}

// ---------------------------------------------------------------- server process ----

const liveServers = new Set();
process.on('exit', () => {
    for (const s of liveServers) {
        try {
            s.proc.kill('SIGKILL');
        } catch {
            /* already gone */
        }
    }
});

// Spawns `RRGO replay --dap 127.0.0.1:0 TRACE` and resolves to
// {port, proc, stderr(), stdout(), exited} once the server has printed
// `rrgo: DAP server listening on 127.0.0.1:PORT` on stderr. Rejects, with rrgo's stderr,
// if it exits first or does not announce a port within TIMEOUTS.startup.
function startServer({ rrgo, trace, extraArgs = [], env = {} }) {
    if (!rrgo) throw new Error('startServer: no rrgo binary (env RRGO)');
    if (!trace) throw new Error('startServer: no trace');
    const args = ['replay', '--dap', '127.0.0.1:0', ...extraArgs, trace];
    const cmdline = [rrgo, ...args].join(' ');
    const proc = spawn(rrgo, args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...env },
    });
    let stderr = '';
    let stdout = '';
    const server = {
        proc,
        port: null,
        cmdline,
        stderr: () => stderr,
        stdout: () => stdout,
        exitStatus: null,
    };
    server.exited = new Promise((resolve) => {
        const gone = (status) => {
            if (server.exitStatus !== null) return;
            server.exitStatus = status;
            liveServers.delete(server);
            resolve(status);
        };
        proc.once('exit', (code, signal) => gone(signal ? `signal ${signal}` : `status ${code}`));
        // A spawn failure (e.g. ENOENT) may never emit 'exit'.
        proc.once('error', (e) => {
            if (proc.pid === undefined) gone(`spawn error: ${e.message}`);
        });
    });
    liveServers.add(server);
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.setEncoding('utf8');

    return new Promise((resolve, reject) => {
        let done = false;
        const finish = (err) => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            if (err) {
                stopServer(server).finally(() => reject(err));
            } else {
                resolve(server);
            }
        };
        const timer = setTimeout(() => {
            finish(new Error(
                `\`${cmdline}\` did not print "rrgo: DAP server listening on 127.0.0.1:PORT" ` +
                `within ${TIMEOUTS.startup} ms; its stderr:\n${tail(stderr) || '(empty)'}`));
        }, TIMEOUTS.startup);
        proc.stderr.on('data', (d) => {
            stderr += d;
            const m = LISTENING.exec(stderr);
            if (m && server.port === null) {
                server.port = Number(m[1]);
                finish(null);
            }
        });
        proc.once('error', (e) => finish(new Error(`cannot run \`${cmdline}\`: ${e.message}`)));
        server.exited.then((status) => {
            if (status.startsWith('spawn error')) return; // reported by the 'error' handler
            // Let the stderr pipe drain before reporting.
            setImmediate(() => finish(new Error(
                `\`${cmdline}\` exited with ${status} before announcing its port; its stderr:\n` +
                `${tail(stderr) || '(empty)'}`)));
        });
    });
}

// Ends the server: SIGTERM, then SIGKILL after TIMEOUTS.shutdown. Resolves once it exited.
async function stopServer(server) {
    if (!server || server.exitStatus !== null) return;
    try {
        server.proc.kill('SIGTERM');
    } catch {
        /* gone */
    }
    let timer;
    const killed = new Promise((resolve) => {
        timer = setTimeout(() => {
            try {
                server.proc.kill('SIGKILL');
            } catch {
                /* gone */
            }
            resolve();
        }, TIMEOUTS.shutdown);
    });
    await Promise.race([server.exited, killed]);
    clearTimeout(timer);
    await server.exited;
}

function isAlive(server) {
    if (server.exitStatus !== null) return false;
    try {
        process.kill(server.proc.pid, 0);
        return true;
    } catch {
        return false;
    }
}

// -------------------------------------------------------------------- messages ----

function short(msg, n = 700) {
    const s = typeof msg === 'string' ? msg : JSON.stringify(msg);
    return s.length > n ? s.slice(0, n) + '…' : s;
}

// Shared bookkeeping of one scenario: transcript and protocol violations, filled by the
// DebugClient subclass and by RawConnection alike.
class Recorder {
    constructor() {
        this.transcript = []; // {dir: '->'|'<-', msg}
        this.violations = []; // {what, msg, details}
    }

    log(dir, msg) {
        this.transcript.push({ dir, msg });
    }

    violation(what, msg, details = '') {
        this.violations.push({ what, msg, details });
    }

    // Schema and envelope checks of one message received from the server. `sent` maps
    // the seq of each request sent on that connection to its command. Options, for
    // deliberate exceptions only: ignoreError(ajvError) drops schema errors;
    // anyRequestSeq accepts a response whose request_seq names no request sent.
    check(msg, sent, { ignoreError, anyRequestSeq = false } = {}) {
        const bad = schema.validate(msg, ignoreError);
        if (bad) {
            this.violation(`does not match the schema's ${bad.definition}`, msg,
                schema.formatErrors(bad.errors));
        }
        if (msg && msg.type === 'response' && sent) {
            const cmd = sent.get(msg.request_seq);
            if (cmd === undefined) {
                if (!anyRequestSeq) {
                    this.violation(`response to request_seq ${msg.request_seq}, which was never sent`, msg);
                }
            } else if (cmd !== null && msg.command !== cmd) {
                this.violation(`response to '${cmd}' (seq ${msg.request_seq}) names command '${msg.command}'`, msg);
            }
        }
    }

    violationsText() {
        return this.violations
            .map((v, i) => `#${i + 1}: message ${v.what}:\n  ${short(v.msg, 2000)}${v.details ? '\n' + v.details : ''}`)
            .join('\n');
    }

    transcriptText(n = 40) {
        const t = this.transcript.slice(-n);
        const skipped = this.transcript.length - t.length;
        return (skipped ? `(${skipped} earlier messages)\n` : '') +
            t.map((e) => `${e.dir} ${short(e.msg)}`).join('\n');
    }
}

// ------------------------------------------------------------------ DebugClient ----

// DebugClient with: schema validation of every received message (its ProtocolClient's
// `dispatch(body)` is the hook: it receives each framed message body), request timeouts,
// an event queue (`nextEvent`) so an event that arrives before the test waits for it is
// not lost, and immediate failure of everything pending when the connection drops.
class RrgoClient extends DebugClient {
    constructor(recorder, label = 'dap') {
        super('rrgo', '', 'go');
        this.recorder = recorder;
        this.label = label;
        this.queue = []; // events received and not yet consumed by nextEvent
        this.events = []; // every event received
        this.waiters = new Set();
        this.inflight = new Map(); // seq -> {command, fail}
        this.closedReason = null;
        this.sentCommands = new Map();
        this.requestTimeout = TIMEOUTS.request;
    }

    start(port) {
        return new Promise((resolve, reject) => {
            let connected = false;
            const sock = net.createConnection({ port, host: '127.0.0.1' });
            sock.once('connect', () => {
                connected = true;
                this._socket = sock;
                this.connect(sock, sock);
                resolve();
            });
            sock.on('error', (e) => {
                if (!connected) reject(new Error(`cannot connect to the DAP server at 127.0.0.1:${port}: ${e.message}`));
                else this.connectionClosed(`socket error: ${e.message}`);
            });
            sock.on('close', () => this.connectionClosed('the server closed the connection'));
        });
    }

    connectionClosed(reason) {
        if (this.closedReason) return;
        this.closedReason = reason;
        for (const [, r] of this.inflight) r.fail(new Error(`${reason} while waiting for the response to '${r.command}'`));
        this.inflight.clear();
        for (const w of this.waiters) w.check();
    }

    // Every request goes through here (the DebugClient's xxxRequest methods call send).
    // Resolves with the response when success is true; rejects with an Error carrying
    // `.response` when it is false.
    send(command, args) {
        return this.request(command, args).then((resp) => {
            if (resp.success) return resp;
            const e = new Error(`'${command}' failed: ${resp.message || '(no message)'}` +
                (resp.body && resp.body.error ? ` — ${JSON.stringify(resp.body.error)}` : ''));
            e.response = resp;
            throw e;
        });
    }

    // Sends a request and resolves with its response whatever its success.
    request(command, args, timeout = this.requestTimeout) {
        return new Promise((resolve, reject) => {
            if (this.closedReason) {
                reject(new Error(`cannot send '${command}': ${this.closedReason}`));
                return;
            }
            const seq = this.sequence;
            const timer = setTimeout(() => {
                this.inflight.delete(seq);
                this.pendingRequests.delete(seq);
                reject(new Error(`no response to '${command}' within ${timeout} ms`));
            }, timeout);
            this.inflight.set(seq, {
                command,
                fail: (e) => {
                    clearTimeout(timer);
                    this.pendingRequests.delete(seq);
                    reject(e);
                },
            });
            this.sentCommands.set(seq, command);
            this.recorder.log('->', { seq, type: 'request', command, arguments: args });
            this.doSend(command, args, (resp) => {
                clearTimeout(timer);
                this.inflight.delete(seq);
                resolve(resp);
            });
        });
    }

    dispatch(body) {
        let msg;
        try {
            msg = JSON.parse(body);
        } catch (e) {
            this.recorder.log('<-', body);
            this.recorder.violation('is not JSON', body, `  ${e.message}`);
            return;
        }
        this.recorder.log('<-', msg);
        this.recorder.check(msg, this.sentCommands);
        if (msg === null || typeof msg !== 'object') return;
        if (msg.type === 'event') {
            this.events.push(msg);
            this.queue.push(msg);
            for (const w of this.waiters) w.check();
            this.emit(msg.event, msg);
        } else if (msg.type === 'response') {
            const clb = this.pendingRequests.get(msg.request_seq);
            if (clb) {
                this.pendingRequests.delete(msg.request_seq);
                clb(msg);
            }
        } else if (msg.type === 'request') {
            // A reverse request: the client advertised none (no supportsRunInTerminalRequest,
            // no supportsStartDebuggingRequest), so refuse it.
            this.recorder.violation('is a reverse request the client did not advertise support for', msg);
            const resp = { seq: 0, type: 'response', request_seq: msg.seq, success: false, command: msg.command, message: 'not supported by the test client' };
            const json = JSON.stringify(resp);
            this.outputStream.write(`Content-Length: ${Buffer.byteLength(json, 'utf8')}\r\n\r\n${json}`, 'utf8');
        }
    }

    // The first not yet consumed event of `type` (waiting for it if needed); consumes it.
    // Fails at once if an event of a type in `failOn` arrives first, or the connection drops.
    nextEvent(type, { timeout = TIMEOUTS.event, failOn = [], match = () => true } = {}) {
        return new Promise((resolve, reject) => {
            let timer;
            const waiter = {
                type,
                check: () => {
                    const i = this.queue.findIndex((e) => e.event === type && match(e));
                    if (i >= 0) {
                        const [e] = this.queue.splice(i, 1);
                        return done(null, e);
                    }
                    const bad = this.queue.find((e) => failOn.includes(e.event));
                    if (bad) return done(new Error(`a '${bad.event}' event arrived while waiting for '${type}': ${short(bad)}`));
                    if (this.closedReason) return done(new Error(`${this.closedReason} while waiting for a '${type}' event`));
                },
            };
            const done = (err, e) => {
                clearTimeout(timer);
                this.waiters.delete(waiter);
                if (err) reject(err);
                else resolve(e);
            };
            timer = setTimeout(() => {
                const seen = this.events.slice(-10).map((e) => e.event).join(', ') || 'none';
                done(new Error(`no '${type}' event within ${timeout} ms (last events received: ${seen})`));
            }, timeout);
            this.waiters.add(waiter);
            waiter.check();
        });
    }

    // DebugClient's helpers (assertStoppedLocation, configurationSequence) use this.
    waitForEvent(type, timeout) {
        return this.nextEvent(type, { timeout: timeout || TIMEOUTS.event });
    }

    // Events of `type` received and not consumed yet (not consumed by this call).
    pending(type) {
        return this.queue.filter((e) => e.event === type);
    }

    // Removes and returns the unconsumed events of `type`.
    drain(type) {
        const out = this.pending(type);
        this.queue = this.queue.filter((e) => e.event !== type);
        return out;
    }

    // What the test is waiting for (for the deadline message).
    waitingFor() {
        return [
            ...[...this.inflight.values()].map((r) => `the response to '${r.command}'`),
            ...[...this.waiters].map((w) => `a '${w.type}' event`),
        ];
    }

    stopAdapter() {
        this.connectionClosed('the client closed the connection');
        super.stopAdapter();
    }
}

// ---------------------------------------------------------------- raw connection ----

// A plain TCP connection with DAP framing, for sending malformed input.
class RawConnection {
    constructor(recorder) {
        this.recorder = recorder;
        this.buf = Buffer.alloc(0);
        this.messages = [];
        this.waiter = null;
        this.closedReason = null;
        this.sent = new Map();
        this.expectUnknownSeq = false;
    }

    connect(port) {
        return new Promise((resolve, reject) => {
            this.sock = net.createConnection({ port, host: '127.0.0.1' });
            this.sock.once('connect', resolve);
            this.sock.on('error', (e) => {
                reject(new Error(`cannot connect to 127.0.0.1:${port}: ${e.message}`));
                this.closed(`socket error: ${e.message}`);
            });
            this.sock.on('close', () => this.closed('the server closed the connection'));
            this.sock.on('data', (d) => this.onData(d));
        });
    }

    closed(reason) {
        if (!this.closedReason) this.closedReason = reason;
        if (this.waiter) this.waiter();
    }

    onData(d) {
        this.buf = Buffer.concat([this.buf, d]);
        for (;;) {
            const h = this.buf.indexOf('\r\n\r\n');
            if (h < 0) return;
            const header = this.buf.toString('latin1', 0, h);
            const m = /^Content-Length: *(\d+)\s*$/im.exec(header);
            if (!m) {
                this.recorder.violation('has a header without Content-Length', header);
                this.buf = this.buf.subarray(h + 4);
                continue;
            }
            const len = Number(m[1]);
            if (this.buf.length < h + 4 + len) return;
            const body = this.buf.toString('utf8', h + 4, h + 4 + len);
            this.buf = this.buf.subarray(h + 4 + len);
            let msg;
            try {
                msg = JSON.parse(body);
            } catch (e) {
                this.recorder.log('<-', body);
                this.recorder.violation('is not JSON', body, `  ${e.message}`);
                continue;
            }
            this.recorder.log('<-', msg);
            this.messages.push(msg);
            if (this.waiter) this.waiter();
        }
    }

    sendRaw(text, note) {
        this.recorder.log('->', note ? `${note}: ${text}` : text);
        this.sock.write(text);
    }

    // Sends a message object (framed). Requests are remembered for response checks.
    send(obj) {
        const json = JSON.stringify(obj);
        if (obj && obj.type === 'request') this.sent.set(obj.seq, obj.command);
        this.recorder.log('->', obj);
        this.sock.write(`Content-Length: ${Buffer.byteLength(json, 'utf8')}\r\n\r\n${json}`);
    }

    // The next message matching `match`; messages before it (e.g. events) are checked
    // and dropped. `check` options apply to the returned message's check only.
    next(match, { timeout = TIMEOUTS.request, what = 'a message', check = {} } = {}) {
        return new Promise((resolve, reject) => {
            let timer;
            const look = () => {
                const i = this.messages.findIndex(match);
                if (i >= 0) {
                    const [m] = this.messages.splice(i, 1);
                    this.recorder.check(m, this.sent, check);
                    // Events and others skipped over are checked normally.
                    for (const o of this.messages.splice(0, i)) this.recorder.check(o, this.sent);
                    clearTimeout(timer);
                    this.waiter = null;
                    resolve(m);
                    return true;
                }
                if (this.closedReason) {
                    clearTimeout(timer);
                    this.waiter = null;
                    reject(new Error(`${this.closedReason} while waiting for ${what}`));
                    return true;
                }
                return false;
            };
            if (look()) return;
            timer = setTimeout(() => {
                this.waiter = null;
                reject(new Error(`no ${what} within ${timeout} ms`));
            }, timeout);
            this.waiter = look;
        });
    }

    // Checks the messages received but never taken with next().
    flush() {
        for (const o of this.messages.splice(0)) this.recorder.check(o, this.sent);
    }

    close() {
        if (this.sock) this.sock.destroy();
    }
}

// ---------------------------------------------------------------------- scenario ----

// One scenario = one node:test test with its own rrgo server and client.
//   scenario(name, {rrgo, trace, timeout?, raw?}, async (ctx) => {...})
// ctx: {server, client (RrgoClient, connected; absent with raw: true), recorder, port}.
// The test fails with diagnostics (the last DAP messages and rrgo's stderr) on any
// error, after a hard deadline (the server is killed, so nothing hangs), and when any
// message the server sent violated the protocol schema.
function scenario(name, opts, fn) {
    const limit = opts.timeout || TIMEOUTS.test;
    test(name, { timeout: limit + 2 * TIMEOUTS.shutdown + 5000 }, async () => {
        const recorder = new Recorder();
        const ctx = { recorder, server: null, client: null, port: null };
        let timer;
        let failure = null;
        const deadline = new Promise((_, reject) => {
            timer = setTimeout(() => {
                const waiting = ctx.client ? ctx.client.waitingFor() : [];
                reject(new Error(`scenario did not finish within ${limit} ms (DAP_TIMEOUT_SCALE scales this)` +
                    (waiting.length ? `; waiting for ${waiting.join(', ')}` : '')));
            }, limit);
        });
        const body = (async () => {
            ctx.server = await startServer({ rrgo: opts.rrgo, trace: opts.trace, extraArgs: opts.extraArgs });
            ctx.port = ctx.server.port;
            if (!opts.raw) {
                ctx.client = new RrgoClient(recorder, name);
                await ctx.client.start(ctx.port);
            }
            await fn(ctx);
        })();
        try {
            await Promise.race([body, deadline]);
        } catch (e) {
            failure = e;
        } finally {
            clearTimeout(timer);
            await closeScenario(ctx);
        }
        body.catch(() => {}); // after a deadline, the body's late rejection is expected
        const violations = recorder.violations.length
            ? `\n--- ${recorder.violations.length} protocol violation(s) in messages from the server ---\n${recorder.violationsText()}`
            : '';
        if (failure) throw report(describeFailure(failure) + diagnostics(ctx) + violations);
        if (violations) throw report(`the server sent messages that violate the DAP schema${violations}${diagnostics(ctx)}`);
    });
}

// An Error whose printed form is just `text` (node's reporter prints the stack, which
// for a rethrown error would not show text appended to its message).
function report(text) {
    const e = new Error(text);
    e.stack = `Error: ${text}`;
    return e;
}

// The failure's message, for assertions the values compared, and where in the tests it
// happened (frames outside node's internals and the test runner).
function describeFailure(f) {
    if (!(f instanceof Error)) return String(f);
    let s = f.message;
    if (f.code === 'ERR_ASSERTION' && 'expected' in f && !s.includes('+ actual - expected')) {
        s += `\n  actual:   ${util.inspect(f.actual)}\n  expected: ${util.inspect(f.expected)}`;
    }
    const frames = String(f.stack || '')
        .split('\n')
        .filter((l) => /^\s+at /.test(l) && !/node:internal|node_modules|lib\/dap\.js/.test(l))
        .slice(0, 4);
    if (frames.length) s += '\n' + frames.join('\n');
    return s;
}

async function closeScenario(ctx) {
    if (ctx.client && !ctx.client.closedReason) {
        try {
            await ctx.client.request('disconnect', {}, TIMEOUTS.shutdown);
        } catch {
            /* the server may have gone away */
        }
    }
    if (ctx.client) ctx.client.stopAdapter();
    if (ctx.raw) ctx.raw.close();
    await stopServer(ctx.server);
}

function diagnostics(ctx) {
    let s = '';
    if (ctx.recorder.transcript.length) {
        s += `\n--- last DAP messages (-> to rrgo, <- from rrgo) ---\n${ctx.recorder.transcriptText()}`;
    }
    if (ctx.server) {
        s += `\n--- ${ctx.server.cmdline} (${ctx.server.exitStatus || 'running'}) stderr ---\n${tail(ctx.server.stderr()) || '(empty)'}`;
        const out = ctx.server.stdout();
        if (out) s += `\n--- its stdout ---\n${tail(out, 2000)}`;
    }
    return s;
}

module.exports = {
    TIMEOUTS,
    startServer,
    stopServer,
    isAlive,
    Recorder,
    RrgoClient,
    RawConnection,
    scenario,
};
