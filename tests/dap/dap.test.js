'use strict';
// End-to-end tests of `rrgo replay --dap`: each scenario starts its own server on a
// recording and drives it over TCP with @vscode/debugadapter-testsupport's DebugClient,
// the way VS Code + vscode-go do. Every message the server sends is validated against
// the DAP schema (lib/schema.js); any violation fails the scenario.
//
// Run by tests/dap.rs (`cargo test --release --test dap`), which records the programs
// and sets:
//   RRGO                 the rrgo binary
//   DAPDEMO_TRACE        examples/dapdemo (.debug build) recorded plainly
//   DAPDEMO_PANIC_TRACE  the same recorded with -panic (exit status 2)
//   RACE_TRACE           examples/racecounter recorded
//   RACE_OUTPUT          racecounter's recorded stdout
//   LOCK_TRACE           examples/lockholders recorded
//   WATCH_TRACE          examples/watched (.debug build) recorded
//   WATCH_OPT_TRACE      examples/watched (optimized) recorded
//   INLINED_TRACE        examples/inlined (optimized: scale, double, offset inlined) recorded
//   INLINED_DEBUG_TRACE  examples/inlined (.debug build: nothing inlined) recorded
//   GENERICS_TRACE       examples/generics (.debug build) recorded
//   EXAMPLES_DIR         absolute path of examples/ (DWARF names sources under it)
//   GO_VERSION           the Go version the programs were built with
// Optional: DAP_TIMEOUT_SCALE multiplies every time limit.

const assert = require('node:assert/strict');
const path = require('node:path');
const { scenario, RawConnection, isAlive, TIMEOUTS } = require('./lib/dap');
const h = require('./lib/helpers');

const NEEDED = ['RRGO', 'DAPDEMO_TRACE', 'DAPDEMO_PANIC_TRACE', 'RACE_TRACE', 'RACE_OUTPUT', 'LOCK_TRACE',
    'WATCH_TRACE', 'WATCH_OPT_TRACE', 'INLINED_TRACE', 'INLINED_DEBUG_TRACE', 'GENERICS_TRACE', 'DEBUGVARS_TRACE', 'EXAMPLES_DIR',
    'GO_VERSION'];
const missing = NEEDED.filter((k) => !process.env[k]);
if (missing.length) {
    throw new Error(`dap.test.js needs the environment variables ${missing.join(', ')}, ` +
        'which tests/dap.rs sets: run `cargo test --release --test dap`');
}
const E = process.env;
const RRGO = E.RRGO;
const V = `go${E.GO_VERSION}`;
const DEMO = path.join(E.EXAMPLES_DIR, 'dapdemo', 'main.go');
const RACE = path.join(E.EXAMPLES_DIR, 'racecounter', 'main.go');
const LOCKS = path.join(E.EXAMPLES_DIR, 'lockholders', 'main.go');
const WATCHED = path.join(E.EXAMPLES_DIR, 'watched', 'main.go');
const INLINED = path.join(E.EXAMPLES_DIR, 'inlined', 'main.go');
const GENERICS = path.join(E.EXAMPLES_DIR, 'generics', 'main.go');

const L = {};
for (const m of ['square-body', 'call-square', 'after-square', 'loop-body', 'loop-print', 'final-print', 'panic-line']) {
    L[m] = h.marker(DEMO, m);
}
const PRINT_COUNTER = h.marker(RACE, 'print-counter');
// `func square(n int) int {`: Delve's stepIn into an unoptimized function stops on its
// declaration line (the prologue) before the first statement.
const SQUARE_DECL = h.lineMatching(DEMO, /^func square\(/);

const demo = { rrgo: RRGO, trace: E.DAPDEMO_TRACE };
const END_OF_RECORDING = /end of (the )?recording/i;

// Sets one breakpoint (with optional condition/hitCondition/logMessage) on dapdemo's
// `marker` line during the handshake, and returns the verified breakpoint.
async function attachWithBreakpoint(client, port, markerName, extra = {}) {
    let bp;
    await h.handshake(client, port, {
        configure: async () => {
            [bp] = await h.setBreakpoints(client, DEMO, [{ line: L[markerName], ...extra }]);
        },
    });
    return bp;
}

// Stopped at loop-print: asserts the location and the locals i and total.
async function assertLoopPrint(client, stop, i, total, what) {
    const tid = await h.stoppedThread(client, stop);
    const frames = await h.stack(client, tid);
    h.assertFrame(frames[0], 'main.main', DEMO, L['loop-print'], frames);
    await h.assertValues(client, frames[0].id, { i: String(i), total: String(total) }, what);
    return tid;
}

// ------------------------------------------------------------------------------------

scenario(`${V} handshake: initialize and attach as VS Code + vscode-go send them`, demo, async ({ client, port }) => {
    const caps = await h.handshake(client, port);
    assert.equal(caps.supportsStepBack, true, 'supportsStepBack');
    assert.equal(caps.supportsConfigurationDoneRequest, true, 'supportsConfigurationDoneRequest');
    assert.equal(caps.supportsConditionalBreakpoints, true, 'supportsConditionalBreakpoints');
    assert.equal(caps.supportsHitConditionalBreakpoints, true, 'supportsHitConditionalBreakpoints');
    assert.equal(caps.supportsFunctionBreakpoints, true, 'supportsFunctionBreakpoints');
    assert.equal(caps.supportsLogPoints, true, 'supportsLogPoints');
    const filters = (caps.exceptionBreakpointFilters || []).map((f) => f.filter);
    assert.ok(filters.includes('unrecovered-panic'), `exceptionBreakpointFilters: ${JSON.stringify(filters)}`);
    assert.ok(filters.includes('runtime-fatal-throw'), `exceptionBreakpointFilters: ${JSON.stringify(filters)}`);
});

scenario(`${V} breakpoint, threads, stack and variables (dapdemo square-body)`, demo, async ({ client, port }) => {
    const bp = await attachWithBreakpoint(client, port, 'square-body');
    const stop = await h.waitStopped(client, 'breakpoint');
    assert.equal(stop.allThreadsStopped, true, `allThreadsStopped: ${JSON.stringify(stop)}`);
    assert.ok(Array.isArray(stop.hitBreakpointIds) && stop.hitBreakpointIds.length > 0,
        `hitBreakpointIds: ${JSON.stringify(stop)}`);
    if (bp.id !== undefined) assert.ok(stop.hitBreakpointIds.includes(bp.id), `hitBreakpointIds lacks ${bp.id}`);

    const ts = await h.threads(client);
    for (const t of ts) assert.match(t.name, /^(\* )?\[Go \d+\] /, `thread name ${JSON.stringify(t)}`);
    const selected = ts.filter((t) => t.name.startsWith('* '));
    assert.equal(selected.length, 1, `one selected thread: ${JSON.stringify(ts)}`);
    assert.match(selected[0].name, /^\* \[Go 1\] main\.square/, 'selected thread');
    const tid = await h.stoppedThread(client, stop);
    assert.equal(tid, selected[0].id, 'the stopped thread is the selected one');

    let frames = await h.stack(client, tid);
    h.assertFrame(frames[0], 'main.square', DEMO, L['square-body'], frames);
    h.assertFrame(frames[1], 'main.accumulate', DEMO, L['call-square'], frames);
    h.assertFrame(frames[2], 'main.main', DEMO, L['loop-body'], frames);

    // n is an argument: it must be in the Arguments or Locals scope.
    const scopes = await h.scopes(client, frames[0].id);
    let holder = null;
    for (const s of scopes.filter((x) => /^(Arguments|Locals)$/.test(x.name))) {
        const vars = await h.children(client, s.variablesReference);
        const n = vars.find((v) => v.name === 'n');
        if (n) {
            holder = s.name;
            assert.equal(n.value, '0', 'n on the first hit');
            break;
        }
    }
    assert.ok(holder, `n not in Arguments/Locals; scopes: ${scopes.map((s) => s.name).join(', ')}`);

    const again = await h.resume(client, 'continue', { threadId: tid }, 'breakpoint');
    const tid2 = await h.stoppedThread(client, again);
    frames = await h.stack(client, tid2);
    h.assertFrame(frames[0], 'main.square', DEMO, L['square-body'], frames);
    await h.assertValues(client, frames[0].id, { n: '1' }, 'on the second hit');
});

scenario(`${V} stepping: next, stepBack, stepIn, stepOut`, demo, async ({ client, port }) => {
    await attachWithBreakpoint(client, port, 'call-square');
    const stop = await h.waitStopped(client, 'breakpoint');
    const tid = await h.stoppedThread(client, stop);
    let frames = await h.stack(client, tid);
    h.assertFrame(frames[0], 'main.accumulate', DEMO, L['call-square'], frames);
    // No breakpoints while stepping, so every stop below is a step's own.
    await client.setBreakpointsRequest({ source: { path: DEMO }, breakpoints: [], lines: [] });

    await h.resume(client, 'next', { threadId: tid }, 'step');
    frames = await h.stack(client, tid);
    h.assertFrame(frames[0], 'main.accumulate', DEMO, L['after-square'], frames);

    await h.resume(client, 'stepBack', { threadId: tid }, 'step');
    frames = await h.stack(client, tid);
    h.assertFrame(frames[0], 'main.accumulate', DEMO, L['call-square'], frames);

    await h.resume(client, 'stepIn', { threadId: tid }, 'step');
    frames = await h.stack(client, tid);
    h.assertFrame(frames[0], 'main.square', DEMO, [SQUARE_DECL, L['square-body']], frames);
    h.assertFrame(frames[1], 'main.accumulate', DEMO, L['call-square'], frames);

    await h.resume(client, 'stepOut', { threadId: tid }, 'step');
    frames = await h.stack(client, tid);
    // Delve lands at the return address, which is still on the call's line.
    h.assertFrame(frames[0], 'main.accumulate', DEMO, [L['call-square'], L['after-square']], frames);
});

scenario(`${V} reverse: reverseContinue to earlier hits, then to the start of the recording`, demo, async ({ client, port }) => {
    await attachWithBreakpoint(client, port, 'loop-print');
    let stop = await h.waitStopped(client, 'breakpoint');
    const tid = await assertLoopPrint(client, stop, 0, 0, 'on hit 1');
    stop = await h.resume(client, 'continue', { threadId: tid }, 'breakpoint');
    await assertLoopPrint(client, stop, 1, 1, 'on hit 2');
    stop = await h.resume(client, 'continue', { threadId: tid }, 'breakpoint');
    await assertLoopPrint(client, stop, 2, 5, 'on hit 3');

    stop = await h.resume(client, 'reverseContinue', { threadId: tid }, 'breakpoint');
    await assertLoopPrint(client, stop, 1, 1, 'after reverseContinue from hit 3');
    stop = await h.resume(client, 'reverseContinue', { threadId: tid }, 'breakpoint');
    await assertLoopPrint(client, stop, 0, 0, 'after reverseContinue from hit 2');

    stop = await h.resume(client, 'reverseContinue', { threadId: tid }, 'entry');
    assert.match(stop.description || '', /start of (the )?recording/i, `stop at the start: ${JSON.stringify(stop)}`);

    // Forwards again: the same state as found going backwards.
    const tid0 = typeof stop.threadId === 'number' ? stop.threadId : tid;
    stop = await h.resume(client, 'continue', { threadId: tid0 }, 'breakpoint');
    await assertLoopPrint(client, stop, 0, 0, 'continuing from the start');
});

scenario(`${V} watch expressions (evaluate context watch) at loop-print`, demo, async ({ client, port }) => {
    await attachWithBreakpoint(client, port, 'loop-print');
    let stop = await h.waitStopped(client, 'breakpoint');
    const tid = await h.stoppedThread(client, stop);
    for (let n = 0; n < 2; n++) stop = await h.resume(client, 'continue', { threadId: tid }, 'breakpoint');
    const frames = await h.stack(client, await h.stoppedThread(client, stop));
    const frameId = frames[0].id;
    await h.assertValues(client, frameId, { i: '2' });

    const total = await client.evaluateRequest({ expression: 'total', context: 'watch', frameId });
    assert.equal(total.body.result, '5', 'total');
    const times = await client.evaluateRequest({ expression: 'i*10', context: 'watch', frameId });
    assert.equal(times.body.result, '20', 'i*10');

    // p is declared after the loop: not in scope here.
    const p = await client.request('evaluate', { expression: 'p', context: 'watch', frameId });
    assert.equal(p.success, false, `evaluate p (out of scope) should fail: ${JSON.stringify(p)}`);

    // The session keeps working.
    const ts = await h.threads(client);
    assert.ok(ts.length > 0, 'threads after a failed evaluate');
    const again = await client.evaluateRequest({ expression: 'total', context: 'watch', frameId });
    assert.equal(again.body.result, '5', 'total after a failed evaluate');
});

scenario(`${V} conditional breakpoint (i == 3)`, demo, async ({ client, port }) => {
    await attachWithBreakpoint(client, port, 'loop-print', { condition: 'i == 3' });
    const stop = await h.waitStopped(client, 'breakpoint');
    await assertLoopPrint(client, stop, 3, 14, 'on the first stop');
});

scenario(`${V} hit-count breakpoint (hitCondition 2)`, demo, async ({ client, port }) => {
    await attachWithBreakpoint(client, port, 'loop-print', { hitCondition: '2' });
    const stop = await h.waitStopped(client, 'breakpoint');
    await assertLoopPrint(client, stop, 1, 1, 'on the first stop (2nd hit)');
});

// A hit count is defined by position: the hits (whose condition held) from the start
// of the recording up to and including the moment, however the replay got there. So a
// hit condition picks the same hits forwards, backwards and after going back.
scenario(`${V} hit counts by position: "== 3" and "% 2" stop at the same hits both ways`, demo, async ({ client, port }) => {
    await attachWithBreakpoint(client, port, 'loop-print', { hitCondition: '== 3' });
    let stop = await h.waitStopped(client, 'breakpoint');
    const tid = await assertLoopPrint(client, stop, 2, 5, 'forwards: the 3rd hit');
    stop = await h.resume(client, 'continue', { threadId: tid }, 'pause');
    assert.match(stop.description || '', END_OF_RECORDING, `after the 3rd hit: ${JSON.stringify(stop)}`);
    stop = await h.resume(client, 'reverseContinue', { threadId: tid }, 'breakpoint');
    await assertLoopPrint(client, stop, 2, 5, 'reverseContinue from the end: the 3rd hit');
    stop = await h.resume(client, 'reverseContinue', { threadId: tid }, 'entry');
    const tid0 = typeof stop.threadId === 'number' ? stop.threadId : tid;
    stop = await h.resume(client, 'continue', { threadId: tid0 }, 'breakpoint');
    await assertLoopPrint(client, stop, 2, 5, 'forwards again from the start: the 3rd hit');

    // Every 2nd hit: i = 1 and 3, forwards then backwards.
    await h.setBreakpoints(client, DEMO, [{ line: L['loop-print'], hitCondition: '% 2' }]);
    stop = await h.resume(client, 'continue', { threadId: tid }, 'breakpoint');
    await assertLoopPrint(client, stop, 3, 14, '% 2 forwards from the 3rd hit: the 4th');
    // A step back (the count is then unknown) and forwards again: the 4th hit again.
    await h.resume(client, 'stepBack', { threadId: tid }, 'step');
    stop = await h.resume(client, 'continue', { threadId: tid }, 'breakpoint');
    await assertLoopPrint(client, stop, 3, 14, '% 2 after a step back: the 4th hit again');
    stop = await h.resume(client, 'continue', { threadId: tid }, 'pause');
    assert.match(stop.description || '', END_OF_RECORDING, `after the 4th hit: ${JSON.stringify(stop)}`);
    stop = await h.resume(client, 'reverseContinue', { threadId: tid }, 'breakpoint');
    await assertLoopPrint(client, stop, 3, 14, '% 2 backwards from the end: the 4th hit');
    stop = await h.resume(client, 'reverseContinue', { threadId: tid }, 'breakpoint');
    await assertLoopPrint(client, stop, 1, 1, '% 2 backwards: the 2nd hit');
    stop = await h.resume(client, 'reverseContinue', { threadId: tid }, 'entry');
    const tid1 = typeof stop.threadId === 'number' ? stop.threadId : tid;
    stop = await h.resume(client, 'continue', { threadId: tid1 }, 'breakpoint');
    await assertLoopPrint(client, stop, 1, 1, '% 2 forwards from the start: the 2nd hit');
});

scenario(`${V} log point (logMessage "i is {i}") logs without stopping`, demo, async ({ client, port }) => {
    await attachWithBreakpoint(client, port, 'loop-print', { logMessage: 'i is {i}' });
    // The only stop is the one at the end of the recording.
    const stop = await h.waitStopped(client);
    assert.match(stop.description || '', END_OF_RECORDING, `the first stop should be the end of the recording: ${JSON.stringify(stop)}`);
    const out = client.events.filter((e) => e.event === 'output').map((e) => e.body.output).join('');
    let at = 0;
    for (let i = 0; i < 5; i++) {
        const k = out.indexOf(`i is ${i}`, at);
        assert.ok(k >= 0, `no log point output "i is ${i}" (in order) in the output events:\n${out}`);
        at = k + 1;
    }
});

scenario(`${V} end of recording is a stop (not terminated), then reverse to final-print`, demo, async ({ client, port }) => {
    await h.handshake(client, port);
    const end = await h.waitStopped(client);
    assert.match(end.description || '', END_OF_RECORDING, `stop at the end: ${JSON.stringify(end)}`);
    assert.equal(client.events.filter((e) => e.event === 'terminated').length, 0, 'no terminated event');

    let tid = end.threadId;
    if (typeof tid !== 'number') {
        const ts = await h.threads(client);
        tid = (ts.find((t) => t.name.startsWith('* ')) || ts[0] || { id: 1 }).id;
    }
    await h.setBreakpoints(client, DEMO, [{ line: L['final-print'] }]);
    const stop = await h.resume(client, 'reverseContinue', { threadId: tid }, 'breakpoint');
    const frames = await h.stack(client, await h.stoppedThread(client, stop));
    h.assertFrame(frames[0], 'main.main', DEMO, L['final-print'], frames);
    const f = frames[0].id;
    await h.assertValues(client, f, { sum: '60', 'p.X': '30', 'p.Y': '60' });
    const p = await h.findVariable(client, f, 'p');
    assert.ok(p.variablesReference > 0, `p is a struct with children: ${JSON.stringify(p)}`);
    assert.match(await h.value(client, f, 'p.Label'), /^"?end"?$/, 'p.Label');
});

scenario(`${V} unrecovered panic stops with exception info (dapdemo -panic)`,
    { rrgo: RRGO, trace: E.DAPDEMO_PANIC_TRACE }, async ({ client, port }) => {
        await h.handshake(client, port, {
            configure: () => client.setExceptionBreakpointsRequest({ filters: ['unrecovered-panic'] }),
        });
        const stop = await h.waitStopped(client, 'exception');
        assert.match(stop.description || '', /\bpanic\b/i, `stop description: ${JSON.stringify(stop)}`);
        const tid = await h.stoppedThread(client, stop);
        const info = await client.exceptionInfoRequest({ threadId: tid });
        assert.equal(info.body.exceptionId, 'panic', `exceptionInfo: ${JSON.stringify(info.body)}`);
        assert.match(info.body.description || '', /index out of range/, `exceptionInfo: ${JSON.stringify(info.body)}`);
        const frames = await h.stack(client, tid, 50);
        assert.ok(frames.some((f) => f.name === 'main.main' && f.line === L['panic-line'] &&
            f.source && f.source.path === DEMO),
        `no main.main frame at ${DEMO}:${L['panic-line']}:\n${h.describeFrames(frames)}`);
    });

// The history questions in the debug console: `dlv history`, `dlv blocked-by`,
// `dlv signals` answer from the goroutine index, built by its own replay pass.
scenario(`${V} debug console: dlv history, blocked-by and signals from the goroutine index`,
    { rrgo: RRGO, trace: E.RACE_TRACE, timeout: 3 * TIMEOUTS.test }, async ({ client, port }) => {
        await h.handshake(client, port, {
            configure: () => h.setBreakpoints(client, RACE, [{ line: PRINT_COUNTER }]),
        });
        await h.waitStopped(client, 'breakpoint');
        const repl = async (expression) => {
            const r = await client.evaluateRequest({ expression, context: 'repl' });
            return r.body.result;
        };
        const help = await repl('dlv help');
        for (const c of ['history', 'signals', 'blocked-by']) {
            assert.ok(help.includes(`dlv ${c}`), `dlv help lists ${c}:\n${help}`);
        }
        // main waits in wg.Wait until the last increment's Done wakes it.
        const history = await repl('dlv history 1');
        assert.match(history, /waiting: sync\.WaitGroup\.Wait in main\.main/, history);
        const blocked = await repl('dlv blocked-by 1');
        assert.match(blocked, /sync\.WaitGroup\.Wait at .*racecounter\/main\.go:\d+; woken by goroutine \d+ in main\.increment(\.deferwrap\d+)? at /, blocked);
        const signals = await repl('dlv signals');
        assert.match(signals, /no signals other than|SIGURG/, signals);
        // A wrong argument gets the command's help, and the session goes on.
        const bad = await client.request('evaluate', { expression: 'dlv history x', context: 'repl' });
        assert.equal(bad.success, false, JSON.stringify(bad));
        assert.ok((await h.threads(client)).length > 0, 'threads after the console commands');
    });

// An interface's type names its dynamic type, as Delve's DAP server does.
scenario(`${V} an interface variable's type names its dynamic type`, { ...demo }, async ({ client, port }) => {
    await h.handshake(client, port, {
        configure: () => h.setBreakpoints(client, DEMO, [{ line: h.marker(DEMO, 'iface-call') }]),
    });
    const stop = await h.waitStopped(client, 'breakpoint');
    const [top] = await h.stack(client, await h.stoppedThread(client, stop), 1);
    const sh = await h.findVariable(client, top.id, 'sh');
    assert.equal(sh.type, 'main.shape(main.tile)', JSON.stringify(sh));
    assert.equal(sh.value, 'main.shape(main.tile) {side: 1.5}', JSON.stringify(sh));
    const ev = await client.evaluateRequest({ expression: 'sh', frameId: top.id, context: 'watch' });
    assert.equal(ev.body.type, 'main.shape(main.tile)', JSON.stringify(ev.body));
    // Type assertions, conversions and slicing, as in Delve's watch panel.
    const watch = (expression) => client.request('evaluate', { expression, frameId: top.id, context: 'watch' });
    for (const [expression, result, type] of [
        ['sh.(main.tile).side', '1.5', 'float64'],
        ['float64(total) / 4', '7.5', 'float64'],
        ['p.Label[1:]', '"nd"', 'string'],
        ['uint8(p.Y + 200)', '4 = 0x4', 'uint8'],
    ]) {
        const r = await watch(expression);
        assert.equal(r.success, true, `${expression}: ${JSON.stringify(r)}`);
        assert.equal(r.body.result, result, expression);
        assert.equal(r.body.type, type, expression);
    }
    const wrong = await watch('sh.(*main.tile)');
    assert.equal(wrong.success, false);
    assert.match(wrong.body.error.format, /interface conversion: main\.shape is main\.tile, not \*main\.tile/);
});

// Promoted fields follow Go's rule: the shallowest depth wins (w2.F is wrap2's own
// embedded named's, not wrap1's; Delve once showed wrap1's), an ambiguous selector
// is refused; the program printed the same values.
scenario(`${V} promoted fields: the shallowest embedding wins, an ambiguous one is refused`,
    { rrgo: RRGO, trace: E.DEBUGVARS_TRACE }, async ({ client, port }) => {
        const VARS = path.join(E.EXAMPLES_DIR, 'debugvars', 'main.go');
        await h.handshake(client, port, {
            configure: () => h.setBreakpoints(client, VARS, [{ line: h.marker(VARS, 'promoted') }]),
        });
        const stop = await h.waitStopped(client, 'breakpoint');
        const [top] = await h.stack(client, await h.stoppedThread(client, stop), 1);
        const watch = (expression) => client.request('evaluate', { expression, frameId: top.id, context: 'watch' });
        for (const [expression, result] of [
            ['w2.F', '"T-inside-W2"'],
            ['w2.wrap1.F', '"T-inside-W1"'],
            ['w2.named.F', '"T-inside-W2"'],
            ['vp.F', '"via pointer"'],
        ]) {
            const r = await watch(expression);
            assert.equal(r.success, true, `${expression}: ${JSON.stringify(r)}`);
            assert.equal(r.body.result, result, expression);
        }
        const ambiguous = await watch('tw.F');
        assert.equal(ambiguous.success, false, JSON.stringify(ambiguous));
        assert.match(ambiguous.body.error.format, /ambiguous/);
    });

// Generic functions: arguments and locals have the instantiation's types (from the
// function's dictionary), children expand, expressions index and select.
scenario(`${V} generic functions show their instantiated types and values`,
    { rrgo: RRGO, trace: E.GENERICS_TRACE }, async ({ client, port }) => {
        await h.handshake(client, port, {
            configure: () => h.setBreakpoints(client, GENERICS, [
                { line: h.marker(GENERICS, 'sum-return') },
                { line: h.marker(GENERICS, 'makepair-return') },
            ]),
        });
        let tid;
        const frameAt = async (fn, marker, stop) => {
            tid = await h.stoppedThread(client, stop);
            const [top] = await h.stack(client, tid, 1);
            h.assertFrame(top, fn, GENERICS, h.marker(GENERICS, marker), [top]);
            return top.id;
        };
        const evaluate = async (frameId, expression) =>
            (await client.evaluateRequest({ expression, frameId, context: 'watch' })).body;

        let frame = await frameAt('main.Sum[go.shape.int]', 'sum-return', await h.waitStopped(client, 'breakpoint'));
        const xs = await h.findVariable(client, frame, 'xs');
        assert.equal(xs.type, '[]int', JSON.stringify(xs));
        assert.equal(xs.value, '[]int len: 3, cap: 3, [1,2,3]', JSON.stringify(xs));
        assert.equal(xs.indexedVariables, 3, JSON.stringify(xs));
        const elems = await h.children(client, xs.variablesReference);
        assert.deepEqual(elems.map((v) => [v.name, v.value, v.type]), [['[0]', '1', 'int'], ['[1]', '2', 'int'], ['[2]', '3', 'int']]);
        await h.assertValues(client, frame, { total: '6' });
        assert.equal((await evaluate(frame, 'len(xs)')).result, '3');
        assert.equal((await evaluate(frame, 'xs[1]')).result, '2');

        frame = await frameAt('main.Sum[go.shape.float64]', 'sum-return', await h.resume(client, 'continue', { threadId: tid }, 'breakpoint'));
        assert.equal((await h.findVariable(client, frame, 'xs')).type, '[]float64');
        assert.equal((await evaluate(frame, 'xs[1]')).result, '2.5');

        frame = await frameAt('main.MakePair[go.shape.int,go.shape.string]', 'makepair-return', await h.resume(client, 'continue', { threadId: tid }, 'breakpoint'));
        const p = await h.findVariable(client, frame, 'p');
        assert.equal(p.type, 'main.Pair[int,string]', JSON.stringify(p));
        assert.equal(p.value, 'main.Pair[int,string] {First: 7, Second: "seven"}', JSON.stringify(p));
        const fields = await h.children(client, p.variablesReference);
        assert.deepEqual(fields.map((v) => [v.name, v.value, v.type]), [['First', '7', 'int'], ['Second', '"seven"', 'string']]);
        const first = await evaluate(frame, 'p.First');
        assert.deepEqual([first.result, first.type], ['7', 'int']);
    });

// A breakpoint on a line without a statement (a comment before a function)
// is refused with Delve's message, not moved into the next function.
scenario(`${V} breakpoint on a line without code is refused, not moved`,
    { ...demo }, async ({ client, port }) => {
        const comment = h.lineMatching(DEMO, /^\/\/ shape's method is called/);
        let got;
        await h.handshake(client, port, {
            configure: async () => {
                const resp = await client.setBreakpointsRequest({
                    source: { path: DEMO },
                    breakpoints: [{ line: comment }, { line: L['square-body'] }],
                });
                got = resp.body.breakpoints;
            },
        });
        assert.equal(got[0].verified, false, JSON.stringify(got[0]));
        assert.match(got[0].message, new RegExp(`could not find statement at main\\.go:${comment}, please use a line with a statement`));
        assert.equal(got[1].verified, true, JSON.stringify(got[1]));
        assert.equal(got[1].line, L['square-body'], JSON.stringify(got[1]));
        const stop = await h.waitStopped(client, 'breakpoint');
        const tid = await h.stoppedThread(client, stop);
        const [top] = await h.stack(client, tid, 1);
        assert.equal(top.line, L['square-body'], JSON.stringify(top));
    });

// The threads view names who holds the lock a goroutine waits for, from the
// goroutine index the server builds in the background once the recording is open.
scenario(`${V} threads view: a goroutine waiting for a mutex names its holder`,
    { rrgo: RRGO, trace: E.LOCK_TRACE, timeout: 3 * TIMEOUTS.test }, async ({ client, port }) => {
        await h.handshake(client, port, {
            configure: () => h.setBreakpoints(client, LOCKS, [{ line: h.marker(LOCKS, 'refresh-sleep') }]),
        });
        await h.waitStopped(client, 'breakpoint');
        const until = Date.now() + 2 * TIMEOUTS.test;
        let names = [];
        while (!names.some((n) => n.includes('held by'))) {
            assert.ok(Date.now() < until, `no lock holder in the threads view:\n${names.join('\n')}`);
            await new Promise((r) => setTimeout(r, 200));
            names = (await h.threads(client)).map((t) => t.name);
        }
        const waiter = names.find((n) => /\[Go 1\]/.test(n));
        const m = / — waiting for 0x[0-9a-f]+, held by \[Go (\d+)\] main\.\(\*cache\)\.refresh at main\.go:(\d+)$/.exec(waiter);
        assert.ok(m, `goroutine 1 does not name the holder: ${waiter}`);
        assert.equal(Number(m[2]), h.marker(LOCKS, 'refresh-lock'), waiter);
        assert.ok(names.some((n) => n.includes(`[Go ${m[1]}] main.(*cache).refresh`)), names.join('\n'));
    });

// Watchpoints on a package variable written by two goroutines: from the end,
// reverseContinue lands just before the last write (withdraw 5: 140 → 135) on the
// withdrawer's line, then before the one before (deposit 50: 90 → 140); continue goes
// forward over that write again. Values are read from the replayed process.
for (const [build, trace] of [['-N -l', 'WATCH_TRACE'], ['optimized', 'WATCH_OPT_TRACE']]) {
    scenario(`${V} watchpoint (${build}): reverseContinue finds the last writer of balance, continue the next`,
        { rrgo: RRGO, trace: E[trace], timeout: 2 * TIMEOUTS.test }, async ({ client, port }) => {
            const caps = await h.handshake(client, port, {
                configure: () => h.setBreakpoints(client, WATCHED, [{ line: h.marker(WATCHED, 'print-balance') }]),
            });
            assert.equal(caps.supportsDataBreakpoints, true);
            let stop = await h.waitStopped(client, 'breakpoint');
            let frames = await h.stack(client, await h.stoppedThread(client, stop));
            const info = await client.send('dataBreakpointInfo', { name: 'balance', frameId: frames[0].id });
            assert.ok(info.body.dataId, `balance cannot be watched: ${JSON.stringify(info.body)}`);
            assert.ok(info.body.accessTypes.includes('write'), JSON.stringify(info.body));
            const set = await client.send('setDataBreakpoints', { breakpoints: [{ dataId: info.body.dataId, accessType: 'write' }] });
            assert.equal(set.body.breakpoints.length, 1);
            assert.equal(set.body.breakpoints[0].verified, true, JSON.stringify(set.body));
            const id = set.body.breakpoints[0].id;
            const balanceAt = async (frameId) =>
                (await client.evaluateRequest({ expression: 'balance', context: 'watch', frameId })).body.result;

            const expectations = [
                ['reverseContinue', 'withdraw', 'main.withdraw', '140', /140 → 135/],
                ['reverseContinue', 'deposit', 'main.deposit', '90', /90 → 140/],
                ['continue', 'deposit', 'main.deposit', '140', /90 → 140/],
            ];
            for (const [command, markerName, fn, want, text] of expectations) {
                stop = await h.resume(client, command, { threadId: 1 }, 'data breakpoint');
                assert.deepEqual(stop.hitBreakpointIds, [id], JSON.stringify(stop));
                assert.match(stop.text || '', text, JSON.stringify(stop));
                frames = await h.stack(client, await h.stoppedThread(client, stop));
                if (command === 'continue') {
                    // Forwards, the stop is just after the write: still in deposit.
                    assert.equal(frames[0].name, fn, h.describeFrames(frames));
                } else {
                    h.assertFrame(frames[0], fn, WATCHED, h.marker(WATCHED, markerName), frames);
                }
                assert.equal(await balanceAt(frames[0].id), want, `balance after ${command} to ${markerName}`);
                // The writer is the goroutine the stop names, not main.
                assert.ok(!frames.some((f) => f.name === 'main.main'), h.describeFrames(frames));
            }
        });
}

// A watched stack variable stops at each change, and its watchpoint ends
// when its function returns (as Delve's does), without stopping again.
scenario(`${V} watchpoint on a stack variable stops at each change and ends with its frame`,
    { rrgo: RRGO, trace: E.WATCH_TRACE, timeout: 2 * TIMEOUTS.test }, async ({ client, port }) => {
        await h.handshake(client, port, {
            configure: () => h.setBreakpoints(client, WATCHED, [{ line: h.marker(WATCHED, 'scratch-add') }]),
        });
        let stop = await h.waitStopped(client, 'breakpoint');
        let frames = await h.stack(client, await h.stoppedThread(client, stop));
        const locals = await h.scopes(client, frames[0].id);
        const scope = locals.find((s) => s.name === 'Locals');
        const info = await client.send('dataBreakpointInfo', { name: 'total', variablesReference: scope.variablesReference });
        assert.ok(info.body.dataId, JSON.stringify(info.body));
        await client.send('setBreakpoints', { source: { path: WATCHED }, breakpoints: [] });
        const set = await client.send('setDataBreakpoints', { breakpoints: [{ dataId: info.body.dataId }] });
        assert.equal(set.body.breakpoints[0].verified, true, JSON.stringify(set.body));
        const seen = [];
        for (const want of ['1', '5', '14']) {
            stop = await h.resume(client, 'continue', { threadId: 1 }, 'data breakpoint');
            frames = await h.stack(client, await h.stoppedThread(client, stop));
            assert.equal(frames[0].name, 'main.scratch', h.describeFrames(frames));
            const v = (await client.evaluateRequest({ expression: 'total', context: 'watch', frameId: frames[0].id })).body.result;
            seen.push(v);
            assert.equal(v, want, `total: ${seen.join(', ')}`);
        }
        stop = await h.resume(client, 'continue', { threadId: 1 }, 'data breakpoint');
        assert.equal(stop.description, 'watchpoint out of scope', JSON.stringify(stop));
        stop = await h.resume(client, 'continue', { threadId: 1 }, 'pause');
        assert.equal(stop.description, 'end of recording', JSON.stringify(stop));
    });

// A watched stack variable follows its goroutine's stack when the runtime
// copies it to grow it: main.grow writes level (1, 401, 1203) before and after
// a call that grows the stack ~25-fold. Forwards from before the move to the
// writes after it, and backwards from after it to the write before the move.
scenario(`${V} watchpoint on a stack variable follows its stack when it grows`,
    { rrgo: RRGO, trace: E.WATCH_TRACE, timeout: 2 * TIMEOUTS.test }, async ({ client, port }) => {
        await h.handshake(client, port, {
            configure: () => h.setBreakpoints(client, WATCHED, [{ line: h.marker(WATCHED, 'grow-call') }]),
        });
        let stop = await h.waitStopped(client, 'breakpoint');
        const watchLevel = async (frameId) => {
            const scopes = await h.scopes(client, frameId);
            const locals = scopes.find((s) => s.name === 'Locals');
            const info = await client.send('dataBreakpointInfo', { name: 'level', variablesReference: locals.variablesReference });
            assert.ok(info.body.dataId, JSON.stringify(info.body));
            const set = await client.send('setDataBreakpoints', { breakpoints: [{ dataId: info.body.dataId }] });
            assert.equal(set.body.breakpoints[0].verified, true, JSON.stringify(set.body));
            assert.equal(set.body.breakpoints[0].message, undefined, JSON.stringify(set.body));
        };
        const levelAt = async (frameId) =>
            (await client.evaluateRequest({ expression: 'level', context: 'watch', frameId })).body.result;
        let frames = await h.stack(client, await h.stoppedThread(client, stop));
        await watchLevel(frames[0].id);
        await h.setBreakpoints(client, WATCHED, []);
        const seen = [];
        for (const want of ['401', '1203']) {
            stop = await h.resume(client, 'continue', { threadId: 1 }, 'data breakpoint');
            frames = await h.stack(client, await h.stoppedThread(client, stop));
            assert.equal(frames[0].name, 'main.grow', h.describeFrames(frames));
            const v = await levelAt(frames[0].id);
            seen.push(v);
            assert.equal(v, want, `level: ${seen.join(', ')} (${stop.text})`);
        }
        stop = await h.resume(client, 'continue', { threadId: 1 }, 'data breakpoint');
        assert.equal(stop.description, 'watchpoint out of scope', JSON.stringify(stop));

        // Backwards: watched after the move, the last writes before are found
        // on both sides of it, each with the value before the write.
        await h.setBreakpoints(client, WATCHED, [{ line: h.marker(WATCHED, 'grow-after') }]);
        stop = await h.resume(client, 'reverseContinue', { threadId: 1 }, 'breakpoint');
        frames = await h.stack(client, await h.stoppedThread(client, stop));
        h.assertFrame(frames[0], 'main.grow', WATCHED, h.marker(WATCHED, 'grow-after'), frames);
        assert.equal(await levelAt(frames[0].id), '401');
        await watchLevel(frames[0].id);
        await h.setBreakpoints(client, WATCHED, []);
        for (const [want, text] of [['1', /1 → 401/], [null, /→ 1 /]]) {
            stop = await h.resume(client, 'reverseContinue', { threadId: 1 }, 'data breakpoint');
            assert.match(stop.text || '', text, JSON.stringify(stop));
            frames = await h.stack(client, await h.stoppedThread(client, stop));
            assert.equal(frames[0].name, 'main.grow', h.describeFrames(frames));
            if (want !== null) {
                assert.equal(await levelAt(frames[0].id), want, stop.text);
            }
        }
    });

// Every stop names a thread that exists at that moment and whose stack can be
// read: at the end of the recording (the goroutine of the last event may be dead),
// at the start (no goroutine yet: the dummy thread), after a stepBack at the start,
// and at breakpoints hit by goroutines that later exit.
scenario(`${V} stopped thread ids are valid at every stop`,
    { rrgo: RRGO, trace: E.RACE_TRACE, timeout: 2 * TIMEOUTS.test }, async ({ client, port }) => {
        const check = async (stop, what) => {
            const ts = await h.threads(client);
            assert.ok(ts.some((t) => t.id === stop.threadId),
                `${what}: stopped thread ${stop.threadId} is not among ${JSON.stringify(ts)}`);
            const r = await client.stackTraceRequest({ threadId: stop.threadId, startFrame: 0, levels: 5 });
            const dummy = ts.length === 1 && ts[0].name === 'Dummy';
            if (!dummy) {
                assert.ok(r.body.stackFrames.length > 0, `${what}: empty stack for ${stop.threadId}`);
            }
        };
        await h.handshake(client, port);
        let stop = await h.waitStopped(client, 'pause');
        await check(stop, 'end of recording');
        stop = await h.resume(client, 'reverseContinue', { threadId: stop.threadId }, 'entry');
        await check(stop, 'start of recording');
        stop = await h.resume(client, 'stepBack', { threadId: stop.threadId }, /entry|step/);
        await check(stop, 'stepBack at the start');
        await h.setBreakpoints(client, RACE, [{ line: h.marker(RACE, 'race-write') }]);
        stop = await h.resume(client, 'continue', { threadId: stop.threadId }, 'breakpoint');
        await check(stop, 'breakpoint in a worker');
        stop = await h.resume(client, 'next', { threadId: stop.threadId }, /step|breakpoint/);
        await check(stop, 'next in a worker');
        await h.setBreakpoints(client, RACE, []);
        stop = await h.resume(client, 'continue', { threadId: stop.threadId }, 'pause');
        await check(stop, 'end of recording again');
    });

scenario(`${V} racecounter: counter at print-counter equals the recorded output`,
    { rrgo: RRGO, trace: E.RACE_TRACE, timeout: 2 * TIMEOUTS.test }, async ({ client, port }) => {
        const m = /^counter = (\d+)$/m.exec(E.RACE_OUTPUT);
        assert.ok(m, `no "counter = N" line in the recorded output:\n${E.RACE_OUTPUT}`);
        await h.handshake(client, port, {
            configure: () => h.setBreakpoints(client, RACE, [{ line: PRINT_COUNTER }]),
        });
        const stop = await h.waitStopped(client, 'breakpoint');
        const frames = await h.stack(client, await h.stoppedThread(client, stop));
        h.assertFrame(frames[0], 'main.main', RACE, PRINT_COUNTER, frames);
        const r = await client.evaluateRequest({ expression: 'counter', context: 'watch', frameId: frames[0].id });
        assert.equal(r.body.result, m[1], 'counter as replayed vs as recorded');
    });

scenario(`${V} robustness: malformed input gets error responses, the server survives`,
    { ...demo, raw: true }, async (ctx) => {
        const raw = new RawConnection(ctx.recorder);
        ctx.raw = raw;
        await raw.connect(ctx.port);

        const bad = '{"seq": 1, "type": "request", "command": "initialize", "arguments": {';
        raw.sendRaw(`Content-Length: ${Buffer.byteLength(bad)}\r\n\r\n${bad}`, 'invalid JSON');
        const err = await raw.next((m) => m.type === 'response', {
            what: 'an error response to a body that is not JSON',
            // The server cannot know the seq of an unparsable request.
            check: { anyRequestSeq: true, ignoreError: (e) => e.instancePath === '/request_seq' },
        });
        assert.equal(err.success, false, `response to invalid JSON: ${JSON.stringify(err)}`);

        raw.send({ seq: 2, type: 'request', command: 'initialize', arguments: { ...h.VSCODE_INITIALIZE } });
        const init = await raw.next((m) => m.type === 'response' && m.request_seq === 2, { what: 'the initialize response' });
        assert.equal(init.success, true, `initialize after invalid JSON: ${JSON.stringify(init)}`);
        assert.equal(init.command, 'initialize');

        raw.send({ seq: 3, type: 'request', command: 'noSuchCommand', arguments: {} });
        const unk = await raw.next((m) => m.type === 'response' && m.request_seq === 3, { what: 'the response to an unknown command' });
        assert.equal(unk.success, false, `unknown command: ${JSON.stringify(unk)}`);

        raw.flush();
        assert.ok(isAlive(ctx.server), `the server exited (${ctx.server.exitStatus})`);
    });

// ---------------------------------------------- disassembly, memory, instruction breakpoints

// The disassembly view: VS Code asks for instructions around the frame's
// instructionPointerReference, some before it (decoded from the function's entry).
scenario(`${V} disassemble around the pc: Go symbols, lines, filler outside the code`, demo, async ({ client, port }) => {
    const caps = await h.handshake(client, port, {
        configure: () => h.setBreakpoints(client, DEMO, [{ line: L['call-square'] }]),
    });
    assert.equal(caps.supportsDisassembleRequest, true, 'supportsDisassembleRequest');
    const stop = await h.waitStopped(client, 'breakpoint');
    const [top] = await h.stack(client, await h.stoppedThread(client, stop), 1);
    const pc = top.instructionPointerReference;
    assert.match(pc || '', /^0x[0-9a-f]+$/, `instructionPointerReference: ${JSON.stringify(top)}`);

    const r = await client.disassembleRequest({ memoryReference: pc, instructionOffset: -5, instructionCount: 20, resolveSymbols: true });
    const ins = r.body.instructions;
    const listing = ins.map((i) => `${i.address} ${i.instructionBytes} ${i.instruction} ${i.line || ''}`).join('\n');
    assert.equal(ins.length, 20, listing);
    assert.equal(ins[5].address, pc, `the pc is the 6th of 20 from instructionOffset -5:\n${listing}`);
    // The breakpoint's int3 there is the debugger's, not the program's.
    assert.ok(ins[5].instruction !== 'int3' && !ins[5].instructionBytes.startsWith('cc'), listing);
    for (let k = 1; k < ins.length; k++) {
        assert.ok(BigInt(ins[k].address) > BigInt(ins[k - 1].address), `addresses increase:\n${listing}`);
    }
    assert.ok(ins.every((i) => i.presentationHint !== 'invalid' && /^[0-9a-f]+$/.test(i.instructionBytes)), listing);
    assert.ok(ins.some((i) => i.instruction === 'call main.square'), `a call names main.square:\n${listing}`);
    assert.equal(ins[0].location && ins[0].location.path, DEMO, `the first instruction has its source:\n${listing}`);
    assert.ok(ins.some((i) => i.line === L['call-square']), `the call-square line is there:\n${listing}`);

    // Far back: the function's first instruction carries its symbol.
    const wide = (await client.disassembleRequest({ memoryReference: pc, instructionOffset: -300, instructionCount: 301 })).body.instructions;
    assert.equal(wide.length, 301);
    assert.equal(wide[300].address, pc, 'the last of the wide window is the pc');
    const entry = wide.findIndex((i) => i.symbol === 'main.accumulate');
    assert.ok(entry >= 0, `no instruction with symbol main.accumulate:\n${wide.map((i) => `${i.address} ${i.symbol || ''} ${i.instruction}`).join('\n')}`);
    assert.ok(wide.some((i) => i.symbol === 'main.square'), 'main.square, just before main.accumulate, has its symbol too');

    // No code at all: exactly the instructions asked for, marked invalid.
    const none = (await client.disassembleRequest({ memoryReference: '0x10', instructionOffset: -2, instructionCount: 4 })).body.instructions;
    assert.equal(none.length, 4, JSON.stringify(none));
    assert.ok(none.every((i) => i.presentationHint === 'invalid' && i.instruction === '??'), JSON.stringify(none));
});

// The memory view: a variable's memoryReference, then its bytes; unmapped memory is
// reported as unreadableBytes, and nothing can be written.
scenario(`${V} readMemory: a variable's bytes, unreadable bytes, writeMemory refused`, demo, async ({ client, port }) => {
    const caps = await h.handshake(client, port, {
        configure: () => h.setBreakpoints(client, DEMO, [{ line: L['call-square'], condition: 'i == 3' }]),
    });
    assert.equal(caps.supportsReadMemoryRequest, true, 'supportsReadMemoryRequest');
    const stop = await h.waitStopped(client, 'breakpoint');
    const [top] = await h.stack(client, await h.stoppedThread(client, stop), 1);
    const total = await h.findVariable(client, top.id, 'total');
    assert.equal(total.value, '5', JSON.stringify(total));
    assert.match(total.memoryReference || '', /^0x[0-9a-f]+$/, `total has a memoryReference: ${JSON.stringify(total)}`);
    const ev = await client.evaluateRequest({ expression: 'total', context: 'watch', frameId: top.id });
    const m = await client.send('readMemory', { memoryReference: total.memoryReference, count: 8 });
    assert.equal(BigInt(m.body.address), BigInt(total.memoryReference), JSON.stringify(m.body));
    const bytes = Buffer.from(m.body.data, 'base64');
    assert.equal(bytes.length, 8, JSON.stringify(m.body));
    assert.equal(bytes.readBigInt64LE(0), BigInt(ev.body.result), `total's 8 bytes: ${bytes.toString('hex')}`);

    // The main thread's stack ends at the top of user space (0x7ffffffff000: replay runs
    // without address randomization); nothing can be mapped above it, so a read across
    // it stops there. (The end of Go's heap arena served before, until Go 1.26 moved the
    // heap to a random base: another mapping could follow it.)
    const userEnd = 0x7ffffffff000n;
    const across = await client.send('readMemory', { memoryReference: `0x${(userEnd - 16n).toString(16)}`, count: 32 });
    assert.equal(Buffer.from(across.body.data || '', 'base64').length, 16, JSON.stringify(across.body));
    assert.equal(across.body.unreadableBytes, 16, JSON.stringify(across.body));
    // Below the executable's first page (0x400000): skip the unreadable bytes, then read on.
    const below = await client.send('readMemory', { memoryReference: '0x400000', offset: -16, count: 20 });
    assert.equal(Buffer.from(below.body.data || '', 'base64').length, 0, JSON.stringify(below.body));
    assert.equal(below.body.unreadableBytes, 16, JSON.stringify(below.body));
    const elf = await client.send('readMemory', { memoryReference: '0x400000', count: 4 });
    assert.equal(Buffer.from(elf.body.data, 'base64').toString('latin1'), '\x7fELF', JSON.stringify(elf.body));

    const w = await client.request('writeMemory', { memoryReference: total.memoryReference, data: 'AAAAAAAAAAA=' });
    assert.equal(w.success, false, JSON.stringify(w));
    assert.match(JSON.stringify(w.body), /cannot write memory in a replay: the recording is what happened/);
    assert.equal(await h.value(client, top.id, 'total'), '5', 'total is unchanged');
});

// An instruction breakpoint on accumulate's call of square (once per loop iteration):
// continue stops on it, reverseContinue goes back to its previous hit.
scenario(`${V} instruction breakpoint: hit on continue and on reverseContinue`, demo, async ({ client, port }) => {
    const caps = await h.handshake(client, port, {
        configure: () => h.setBreakpoints(client, DEMO, [{ line: L['call-square'], condition: 'i == 3' }]),
    });
    assert.equal(caps.supportsInstructionBreakpoints, true, 'supportsInstructionBreakpoints');
    let stop = await h.waitStopped(client, 'breakpoint');
    const tid = await h.stoppedThread(client, stop);
    const [top] = await h.stack(client, tid, 1);
    const ins = (await client.disassembleRequest({ memoryReference: top.instructionPointerReference, instructionCount: 30 })).body.instructions;
    const call = ins.find((i) => i.instruction === 'call main.square');
    assert.ok(call, ins.map((i) => `${i.address} ${i.instruction}`).join('\n'));
    await client.setBreakpointsRequest({ source: { path: DEMO }, breakpoints: [], lines: [] });

    const r = await client.send('setInstructionBreakpoints', { breakpoints: [
        { instructionReference: call.address },
        { instructionReference: call.address, offset: 1 },
    ] });
    const [bp, inside] = r.body.breakpoints;
    assert.equal(bp.verified, true, JSON.stringify(bp));
    assert.equal(bp.line, L['call-square'], JSON.stringify(bp));
    assert.equal(inside.verified, false, JSON.stringify(inside));
    assert.match(inside.message || '', /inside the instruction at/, JSON.stringify(inside));
    // Both views show the program's bytes, not the breakpoint's int3.
    const [shown] = (await client.disassembleRequest({ memoryReference: call.address, instructionCount: 1 })).body.instructions;
    assert.equal(shown.instruction, 'call main.square', JSON.stringify(shown));
    const byte = await client.send('readMemory', { memoryReference: call.address, count: 1 });
    assert.equal(Buffer.from(byte.body.data, 'base64').toString('hex'), 'e8', JSON.stringify(byte.body));

    const at = async (i, what) => {
        const [f] = await h.stack(client, tid, 1);
        assert.equal(f.instructionPointerReference, call.address, `${what}: ${JSON.stringify(f)}`);
        h.assertFrame(f, 'main.accumulate', DEMO, L['call-square']);
        await h.assertValues(client, f.id, { i: String(i) }, what);
    };
    stop = await h.resume(client, 'continue', { threadId: tid }, 'instruction breakpoint');
    assert.ok((stop.hitBreakpointIds || []).includes(bp.id), JSON.stringify(stop));
    await at(3, 'the call of this iteration');
    stop = await h.resume(client, 'continue', { threadId: tid }, 'instruction breakpoint');
    await at(4, 'the next iteration');
    stop = await h.resume(client, 'reverseContinue', { threadId: tid }, 'instruction breakpoint');
    assert.ok((stop.hitBreakpointIds || []).includes(bp.id), JSON.stringify(stop));
    await at(3, 'after reverseContinue');
});

// ------------------------------------------------------------------------------------
// Inlined functions (examples/inlined). Optimized, main.scale exists only as four
// inlined copies (in first, second and twice in third); main.double, main.offset and
// fmt.Println are inlined into main's loop. The .debug build inlines nothing.

const IL = {};
for (const m of ['scale-body', 'call-first', 'call-second', 'call-third', 'call-third-again', 'double-body',
    'loop-head', 'loop-double', 'loop-offset', 'loop-total', 'loop-print', 'call-all', 'final-print']) {
    IL[m] = h.marker(INLINED, m);
}
// The lines of main.main a step through the loop may show, in any order the compiler chose.
const MAIN_LINES = ['loop-head', 'loop-double', 'loop-offset', 'loop-total', 'loop-print', 'call-all']
    .map((m) => IL[m]);
// Every call of scale, in the order the program makes them: (caller, call line).
const SCALE_CALLS = [['main.first', 'call-first'], ['main.second', 'call-second'],
    ['main.third', 'call-third'], ['main.third', 'call-third-again']];

for (const [build, trace] of [['optimized', 'INLINED_TRACE'], ['-N -l', 'INLINED_DEBUG_TRACE']]) {
    scenario(`${V} inlined (${build}): a breakpoint in scale stops at every one of its calls`,
        { rrgo: RRGO, trace: E[trace] }, async ({ client, port }) => {
            await h.handshake(client, port, {
                configure: () => h.setBreakpoints(client, INLINED, [{ line: IL['scale-body'] }]),
            });
            let stop = await h.waitStopped(client, 'breakpoint');
            let tid = await h.stoppedThread(client, stop);
            for (const [i, [caller, line]] of SCALE_CALLS.entries()) {
                if (i > 0) {
                    stop = await h.resume(client, 'continue', { threadId: tid }, 'breakpoint');
                    tid = await h.stoppedThread(client, stop);
                }
                const frames = await h.stack(client, tid);
                h.assertFrame(frames[0], 'main.scale', INLINED, IL['scale-body'], frames);
                h.assertFrame(frames[1], caller, INLINED, IL[line], frames);
                h.assertFrame(frames[2], 'main.main', INLINED, IL['call-all'], frames);
            }
            // Four calls, four stops: the next continue reaches the end.
            stop = await h.resume(client, 'continue', { threadId: tid });
            assert.match(stop.description || '', END_OF_RECORDING, `after the 4th call: ${JSON.stringify(stop)}`);
            // And backwards the last copy is the first found.
            stop = await h.resume(client, 'reverseContinue', { threadId: tid }, 'breakpoint');
            const frames = await h.stack(client, await h.stoppedThread(client, stop));
            h.assertFrame(frames[0], 'main.scale', INLINED, IL['scale-body'], frames);
            h.assertFrame(frames[1], 'main.third', INLINED, IL['call-third-again'], frames);
        });
}

scenario(`${V} inlined (optimized): next steps over inlined calls, stepBack too; stepIn enters one`,
    { rrgo: RRGO, trace: E.INLINED_TRACE }, async ({ client, port }) => {
        await h.handshake(client, port, {
            configure: () => h.setBreakpoints(client, INLINED, [{ line: IL['loop-double'] }]),
        });
        const stop = await h.waitStopped(client, 'breakpoint');
        const tid = await h.stoppedThread(client, stop);
        let frames = await h.stack(client, tid);
        h.assertFrame(frames[0], 'main.main', INLINED, IL['loop-double'], frames);
        await client.setBreakpointsRequest({ source: { path: INLINED }, breakpoints: [], lines: [] });

        // The loop's lines run in the compiler's order, but each next stays in
        // main.main: never in double, offset or fmt.Println (print.go), which it
        // inlined, nor on the line it started from.
        const seen = [];
        let before = IL['loop-double'];
        let steppedBack = false;
        let afterPrint;
        for (let n = 0; n < 8; n++) {
            await h.resume(client, 'next', { threadId: tid }, 'step');
            frames = await h.stack(client, tid);
            h.assertFrame(frames[0], 'main.main', INLINED, MAIN_LINES, frames);
            assert.notEqual(frames[0].line, before, `next from line ${before} stayed on it`);
            if (before === IL['loop-print'] && afterPrint === undefined) afterPrint = frames[0].line;
            before = frames[0].line;
            seen.push(before);
            if (before === IL['loop-print'] && !steppedBack) {
                // Back over the inlined offset and double: main's previous line.
                steppedBack = true;
                await h.resume(client, 'stepBack', { threadId: tid }, 'step');
                frames = await h.stack(client, tid);
                h.assertFrame(frames[0], 'main.main', INLINED, MAIN_LINES, frames);
                assert.notEqual(frames[0].line, IL['loop-print'], 'stepBack from loop-print stayed on it');
                before = frames[0].line;
                seen.push(`back to ${before}`);
            }
        }
        assert.ok(steppedBack, `next reached loop-print: lines ${seen}`);
        // Past the print the loop goes on in main, not in fmt.Println.
        assert.ok(afterPrint !== undefined, `no next from loop-print: lines ${seen}`);

        // Step in still enters an inlined function, as Delve does.
        while (frames[0].line !== IL['loop-double']) {
            await h.resume(client, 'next', { threadId: tid }, 'step');
            frames = await h.stack(client, tid);
            h.assertFrame(frames[0], 'main.main', INLINED, MAIN_LINES, frames);
        }
        await h.resume(client, 'stepIn', { threadId: tid }, 'step');
        frames = await h.stack(client, tid);
        h.assertFrame(frames[0], 'main.double', INLINED, IL['double-body'], frames);
        h.assertFrame(frames[1], 'main.main', INLINED, IL['loop-double'], frames);
        // Out of the inlined call: back in main, past it.
        await h.resume(client, 'stepOut', { threadId: tid }, 'step');
        frames = await h.stack(client, tid);
        h.assertFrame(frames[0], 'main.main', INLINED, MAIN_LINES, frames);
    });

scenario(`${V} inlined (-N -l): next goes line by line, stepIn enters double`,
    { rrgo: RRGO, trace: E.INLINED_DEBUG_TRACE }, async ({ client, port }) => {
        await h.handshake(client, port, {
            configure: () => h.setBreakpoints(client, INLINED, [{ line: IL['loop-double'] }]),
        });
        const stop = await h.waitStopped(client, 'breakpoint');
        const tid = await h.stoppedThread(client, stop);
        await client.setBreakpointsRequest({ source: { path: INLINED }, breakpoints: [], lines: [] });
        let frames;
        for (const m of ['loop-offset', 'loop-total', 'loop-print', 'loop-head', 'loop-double']) {
            await h.resume(client, 'next', { threadId: tid }, 'step');
            frames = await h.stack(client, tid);
            h.assertFrame(frames[0], 'main.main', INLINED, IL[m], frames);
        }
        await h.resume(client, 'stepBack', { threadId: tid }, 'step');
        frames = await h.stack(client, tid);
        h.assertFrame(frames[0], 'main.main', INLINED, IL['loop-head'], frames);
        await h.resume(client, 'next', { threadId: tid }, 'step');
        await h.resume(client, 'stepIn', { threadId: tid }, 'step');
        frames = await h.stack(client, tid);
        h.assertFrame(frames[0], 'main.double', INLINED, [h.lineMatching(INLINED, /^func double\(/), IL['double-body']], frames);
        h.assertFrame(frames[1], 'main.main', INLINED, IL['loop-double'], frames);
    });
