'use strict';
// Helpers for writing DAP scenarios: markers, the handshake as VS Code + vscode-go do it,
// waiting for stops, threads, stacks, scopes and variables.

const assert = require('node:assert/strict');
const fs = require('node:fs');

// The 1-based line of the `// #BP <name>` marker in `file` (exactly one must exist).
function marker(file, name) {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    const re = new RegExp(`//\\s*#BP\\s+${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\s|$)`);
    const hits = [];
    lines.forEach((l, i) => {
        if (re.test(l)) hits.push(i + 1);
    });
    if (hits.length !== 1) {
        throw new Error(`marker '#BP ${name}' found ${hits.length} times in ${file} (lines ${hits.join(', ') || 'none'})`);
    }
    return hits[0];
}

// The 1-based line of the only line of `file` matching `re` (for lines without a marker,
// e.g. a function's declaration).
function lineMatching(file, re) {
    const hits = [];
    fs.readFileSync(file, 'utf8').split('\n').forEach((l, i) => {
        if (re.test(l)) hits.push(i + 1);
    });
    if (hits.length !== 1) throw new Error(`${re} matches ${hits.length} lines of ${file}`);
    return hits[0];
}

// `initialize` arguments as VS Code sends them (src/vs/workbench/contrib/debug/browser/debugSession.ts).
const VSCODE_INITIALIZE = Object.freeze({
    clientID: 'vscode',
    clientName: 'Visual Studio Code',
    adapterID: 'go',
    pathFormat: 'path',
    linesStartAt1: true,
    columnsStartAt1: true,
    supportsVariableType: true,
    supportsVariablePaging: true,
    supportsRunInTerminalRequest: false,
    locale: 'en',
    supportsProgressReporting: true,
    supportsInvalidatedEvent: true,
    supportsMemoryReferences: true,
    supportsArgsCanBeInterpretedByShell: false,
    supportsMemoryEvent: true,
    supportsStartDebuggingRequest: false,
});

// `attach` arguments as vscode-go sends them for a remote dlv-dap attach (plus an
// unknown key, which the server must ignore).
function vscodeGoAttachArgs(port, extra = {}) {
    return {
        type: 'go',
        debugAdapter: 'dlv-dap',
        request: 'attach',
        mode: 'remote',
        name: 'Attach to rrgo',
        port,
        host: '127.0.0.1',
        substitutePath: [],
        stopOnEntry: false,
        showGlobalVariables: false,
        hideSystemGoroutines: false,
        __sessionId: 'x',
        unknownKey: 1,
        ...extra,
    };
}

// initialize → attach (waiting for `initialized`) → configure() → configurationDone, as
// VS Code does it: the attach response may come before or after `initialized`, and is
// awaited only after configurationDone. Returns the initialize response's capabilities.
async function handshake(client, port, { configure = async () => {}, attach = {} } = {}) {
    const init = await client.initializeRequest({ ...VSCODE_INITIALIZE });
    const caps = init.body || {};
    const attachP = client.attachRequest(vscodeGoAttachArgs(port, attach));
    attachP.catch(() => {}); // observed below
    const initialized = client.nextEvent('initialized');
    initialized.catch(() => {});
    // Fails at once if attach fails (then `initialized` would never come).
    await Promise.race([initialized, attachP.then(() => initialized)]);
    await configure();
    await client.configurationDoneRequest();
    await attachP;
    return caps;
}

// setBreakpoints for one source; asserts every breakpoint is verified. Returns them.
async function setBreakpoints(client, path, bps) {
    const resp = await client.setBreakpointsRequest({
        source: { path },
        breakpoints: bps,
        lines: bps.map((b) => b.line),
    });
    const got = resp.body.breakpoints;
    assert.equal(got.length, bps.length, `setBreakpoints returned ${got.length} breakpoints for ${bps.length}`);
    got.forEach((b, i) => {
        assert.equal(b.verified, true, `breakpoint at ${path}:${bps[i].line} not verified: ${JSON.stringify(b)}`);
        if (b.line !== undefined) assert.equal(b.line, bps[i].line, `breakpoint moved: ${JSON.stringify(b)}`);
    });
    return got;
}

// Waits for the next `stopped` event (failing at once on `terminated`); checks its
// reason when given (string or RegExp). Returns the event body.
async function waitStopped(client, reason, opts = {}) {
    const ev = await client.nextEvent('stopped', { failOn: ['terminated'], ...opts });
    const b = ev.body || {};
    if (reason instanceof RegExp) {
        assert.match(b.reason, reason, `stopped event: ${JSON.stringify(b)}`);
    } else if (reason !== undefined) {
        assert.equal(b.reason, reason, `stopped with an unexpected reason: ${JSON.stringify(b)}`);
    }
    return b;
}

// Sends an execution request (continue, next, stepIn, stepOut, stepBack,
// reverseContinue) and waits for the stop that ends it. Asserts no earlier stop was
// left unconsumed, so every stop is accounted for.
async function resume(client, command, args, reason, opts) {
    const stale = client.pending('stopped');
    assert.equal(stale.length, 0, `unexpected stopped event(s) before '${command}': ${JSON.stringify(stale)}`);
    await client.send(command, args);
    return waitStopped(client, reason, opts);
}

async function threads(client) {
    const r = await client.threadsRequest();
    assert.ok(Array.isArray(r.body.threads), 'threads response has no threads array');
    return r.body.threads;
}

// The thread a stop is about: the event's threadId, else the selected one (`* ` prefix).
async function stoppedThread(client, stop) {
    if (stop && typeof stop.threadId === 'number') return stop.threadId;
    const ts = await threads(client);
    const sel = ts.filter((t) => t.name.startsWith('* '));
    assert.equal(sel.length, 1, `expected one selected thread ('* ' prefix): ${JSON.stringify(ts)}`);
    return sel[0].id;
}

async function stack(client, threadId, levels = 20) {
    const r = await client.stackTraceRequest({ threadId, startFrame: 0, levels });
    const frames = r.body.stackFrames;
    assert.ok(Array.isArray(frames) && frames.length > 0, `empty stack for thread ${threadId}`);
    return frames;
}

async function topFrame(client, threadId) {
    return (await stack(client, threadId, 1))[0];
}

function describeFrames(frames) {
    return frames.map((f, i) => `#${i} ${f.name} ${f.source ? f.source.path : '?'}:${f.line}`).join('\n');
}

// Asserts frame `f` is in function `fn` (exact name, e.g. 'main.square') at `path`:`line`.
function assertFrame(f, fn, path, line, frames) {
    const where = frames ? `\nstack:\n${describeFrames(frames)}` : `\nframe: ${JSON.stringify(f)}`;
    assert.equal(f.name, fn, `frame function${where}`);
    if (path !== undefined) assert.equal(f.source && f.source.path, path, `frame source path${where}`);
    if (line !== undefined) {
        if (Array.isArray(line)) assert.ok(line.includes(f.line), `frame line ${f.line} not in ${line}${where}`);
        else assert.equal(f.line, line, `frame line${where}`);
    }
}

async function scopes(client, frameId) {
    const r = await client.scopesRequest({ frameId });
    return r.body.scopes;
}

async function children(client, variablesReference) {
    const r = await client.variablesRequest({ variablesReference });
    return r.body.variables;
}

// The variables of the scope named `name` (string or RegExp) of a frame.
async function scopeVariables(client, frameId, name) {
    const ss = await scopes(client, frameId);
    const s = ss.find((x) => (name instanceof RegExp ? name.test(x.name) : x.name === name));
    assert.ok(s, `no scope ${name} in frame ${frameId}; scopes: ${ss.map((x) => x.name).join(', ')}`);
    return children(client, s.variablesReference);
}

// Finds a variable by path ('p', 'p.X' or ['p', 'X']) in a frame: the first component
// in the frame's non-expensive scopes (Arguments, Locals, … in the server's order), the
// others by expanding children. Returns the DAP Variable.
async function findVariable(client, frameId, path) {
    const parts = Array.isArray(path) ? path : path.split('.');
    const ss = (await scopes(client, frameId)).filter((s) => !s.expensive);
    let found = null;
    const seen = [];
    for (const s of ss) {
        const vars = await children(client, s.variablesReference);
        seen.push(`${s.name}: ${vars.map((v) => v.name).join(', ')}`);
        found = vars.find((v) => v.name === parts[0]);
        if (found) break;
    }
    assert.ok(found, `no variable '${parts[0]}' in frame ${frameId}; scopes seen:\n  ${seen.join('\n  ')}`);
    for (const p of parts.slice(1)) {
        assert.ok(found.variablesReference > 0, `variable ${JSON.stringify(found)} has no children (looking for ${p})`);
        const kids = await children(client, found.variablesReference);
        const next = kids.find((v) => v.name === p);
        assert.ok(next, `no child '${p}' of '${found.name}'; children: ${kids.map((v) => v.name).join(', ')}`);
        found = next;
    }
    return found;
}

async function value(client, frameId, path) {
    return (await findVariable(client, frameId, path)).value;
}

// Asserts locals by name (values as the server prints them, e.g. '5', '"end"').
async function assertValues(client, frameId, expected, context = '') {
    for (const [name, want] of Object.entries(expected)) {
        const got = await value(client, frameId, name);
        assert.equal(got, want, `${name}${context ? ' ' + context : ''}`);
    }
}

module.exports = {
    marker,
    lineMatching,
    VSCODE_INITIALIZE,
    vscodeGoAttachArgs,
    handshake,
    setBreakpoints,
    waitStopped,
    resume,
    threads,
    stoppedThread,
    stack,
    topFrame,
    assertFrame,
    describeFrames,
    scopes,
    children,
    scopeVariables,
    findVariable,
    value,
    assertValues,
};
