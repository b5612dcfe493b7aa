'use strict';
// Self-checks of the test harness (lib/), independent of rrgo: the schema compiles and
// tells good messages from bad ones, and the process/protocol plumbing fails fast and
// clearly, driven against lib/fake-rrgo.js.

// Short limits for the failure-path checks (set before lib/dap reads them).
process.env.DAP_TIMEOUT_SCALE = '0.05';

const assert = require('node:assert/strict');
const path = require('node:path');
const { test } = require('node:test');
const schema = require('./lib/schema');
const { startServer, stopServer, isAlive, Recorder, RrgoClient, RawConnection } = require('./lib/dap');
const h = require('./lib/helpers');

const FAKE = path.join(__dirname, 'lib', 'fake-rrgo.js');

test('schema: compiles and picks the right definitions', { timeout: 30000 }, () => {
    schema.load();
    assert.equal(schema.definitionFor({ type: 'response', command: 'stackTrace', success: true }), 'StackTraceResponse');
    assert.equal(schema.definitionFor({ type: 'response', command: 'stackTrace', success: false }), 'ErrorResponse');
    assert.equal(schema.definitionFor({ type: 'response', command: 'dlvCustom', success: true }), 'Response');
    assert.equal(schema.definitionFor({ type: 'event', event: 'stopped' }), 'StoppedEvent');
    assert.equal(schema.definitionFor({ type: 'event', event: 'progressStart' }), 'ProgressStartEvent');
    assert.equal(schema.definitionFor({ type: 'event', event: 'rrgoCustom' }), 'Event');
});

test('schema: accepts known-good messages', { timeout: 30000 }, () => {
    const good = [
        { seq: 3, type: 'response', request_seq: 1, command: 'initialize', success: true,
            body: { supportsStepBack: true, exceptionBreakpointFilters: [{ filter: 'unrecovered-panic', label: 'Unrecovered Panics', default: true }] } },
        { seq: 4, type: 'event', event: 'stopped', body: { reason: 'breakpoint', threadId: 1, allThreadsStopped: true, hitBreakpointIds: [1] } },
        { seq: 5, type: 'response', request_seq: 4, command: 'threads', success: true,
            body: { threads: [{ id: 1, name: '* [Go 1] main.main (Thread 7)' }] } },
        { seq: 6, type: 'response', request_seq: 5, command: 'evaluate', success: false, message: 'no p',
            body: { error: { id: 2001, format: 'could not find symbol value for p' } } },
        { seq: 7, type: 'event', event: 'rrgoCustom', body: { anything: 1 } },
    ];
    for (const m of good) assert.equal(schema.validate(m), null, JSON.stringify(m));
});

test('schema: rejects known-bad messages', { timeout: 30000 }, () => {
    const bad = [
        // stopped without its required reason
        [{ seq: 1, type: 'event', event: 'stopped', body: { threadId: 1 } }, '/body'],
        // a thread id that is not an integer
        [{ seq: 1, type: 'response', request_seq: 1, command: 'threads', success: true, body: { threads: [{ id: 'one', name: 'x' }] } }, '/body/threads/0/id'],
        // stackTrace without stackFrames
        [{ seq: 1, type: 'response', request_seq: 1, command: 'stackTrace', success: true, body: {} }, '/body'],
        // an error response without a body
        [{ seq: 1, type: 'response', request_seq: 1, command: 'evaluate', success: false, message: 'x' }, ''],
        // an integer outside int32
        [{ seq: 1, type: 'event', event: 'stopped', body: { reason: 'step', threadId: 2 ** 40 } }, '/body/threadId'],
        // no seq
        [{ type: 'event', event: 'initialized' }, ''],
    ];
    for (const [m, where] of bad) {
        const r = schema.validate(m);
        assert.ok(r, `should be invalid: ${JSON.stringify(m)}`);
        assert.ok(r.errors.some((e) => e.instancePath === where), `${JSON.stringify(m)}: errors ${schema.formatErrors(r.errors)}`);
    }
});

test('marker: finds unique markers, rejects missing ones', () => {
    const demo = path.join(__dirname, '..', '..', 'examples', 'dapdemo', 'main.go');
    const l = h.marker(demo, 'square-body');
    assert.ok(l > 1);
    assert.notEqual(h.marker(demo, 'loop-body'), h.marker(demo, 'loop-print'));
    assert.throws(() => h.marker(demo, 'no-such-marker'), /found 0 times/);
});

test('startServer: an rrgo that exits reports its stderr at once', { timeout: 30000 }, async () => {
    const t0 = Date.now();
    await assert.rejects(startServer({ rrgo: FAKE, trace: 'exit' }),
        /exited with status 2 before announcing its port; its stderr:\nrrgo: error: replay --dap is not implemented yet/);
    assert.ok(Date.now() - t0 < 5000, 'fails fast');
});

test('startServer: a server that never announces a port is killed after the startup limit', { timeout: 30000 }, async () => {
    await assert.rejects(startServer({ rrgo: FAKE, trace: 'silent' }), /did not print "rrgo: DAP server listening/);
});

test('startServer: a missing binary is reported', { timeout: 30000 }, async () => {
    await assert.rejects(startServer({ rrgo: '/nonexistent/rrgo', trace: 'good' }), /cannot run|exited/);
});

async function withFake(trace, fn) {
    const server = await startServer({ rrgo: FAKE, trace });
    const rec = new Recorder();
    const client = new RrgoClient(rec);
    try {
        await client.start(server.port);
        await fn(client, rec, server);
    } finally {
        client.stopAdapter();
        await stopServer(server);
        assert.equal(isAlive(server), false, 'server stopped');
    }
}

test('client: a well-behaved server gives no violations', { timeout: 30000 }, async () => {
    await withFake('good', async (client, rec, server) => {
        const caps = await h.handshake(client, server.port);
        assert.equal(caps.supportsStepBack, true);
        const stop = await h.waitStopped(client, 'breakpoint');
        assert.equal(stop.threadId, 1);
        const ts = await h.threads(client);
        assert.equal(ts[0].id, 1);
        const r = await client.request('noSuch', {});
        assert.equal(r.success, false);
        await assert.rejects(client.send('noSuch', {}), (e) => e.response && e.response.success === false);
        assert.deepEqual(rec.violations, []);
    });
});

test('client: schema violations are recorded with their errors', { timeout: 30000 }, async () => {
    await withFake('bad', async (client, rec, server) => {
        await h.handshake(client, server.port);
        await client.nextEvent('stopped');
        await h.threads(client);
        const text = rec.violationsText();
        assert.equal(rec.violations.length, 2, text);
        assert.match(text, /StoppedEvent[\s\S]*must have required property 'reason'/);
        assert.match(text, /ThreadsResponse[\s\S]*\/body\/threads\/0\/id must be integer/);
    });
});

test('client: a request without response times out', { timeout: 30000 }, async () => {
    await withFake('hang', async (client) => {
        await client.initializeRequest({ ...h.VSCODE_INITIALIZE });
        await assert.rejects(client.configurationDoneRequest(), /no response to 'configurationDone' within/);
        await assert.rejects(client.nextEvent('stopped'), /no 'stopped' event within/);
    });
});

test('client: a dropped connection fails pending requests and waits at once', { timeout: 30000 }, async () => {
    await withFake('close', async (client) => {
        await client.initializeRequest({ ...h.VSCODE_INITIALIZE });
        const stopped = client.nextEvent('stopped');
        await assert.rejects(client.configurationDoneRequest(), /closed the connection while waiting for the response to 'configurationDone'/);
        await assert.rejects(stopped, /closed the connection while waiting for a 'stopped' event/);
        await assert.rejects(client.threadsRequest(), /cannot send 'threads'/);
    });
});

test('raw connection: invalid JSON and unknown commands', { timeout: 30000 }, async () => {
    const server = await startServer({ rrgo: FAKE, trace: 'good' });
    const rec = new Recorder();
    const raw = new RawConnection(rec);
    try {
        await raw.connect(server.port);
        const bad = '{"seq": 1, "type": ';
        raw.sendRaw(`Content-Length: ${Buffer.byteLength(bad)}\r\n\r\n${bad}`);
        const err = await raw.next((m) => m.type === 'response', {
            check: { anyRequestSeq: true, ignoreError: (e) => e.instancePath === '/request_seq' },
        });
        assert.equal(err.success, false);
        raw.send({ seq: 2, type: 'request', command: 'initialize', arguments: { ...h.VSCODE_INITIALIZE } });
        const init = await raw.next((m) => m.request_seq === 2);
        assert.equal(init.success, true);
        raw.flush();
        assert.deepEqual(rec.violations, []);
        assert.ok(isAlive(server));
    } finally {
        raw.close();
        await stopServer(server);
    }
});
