#!/usr/bin/env node
'use strict';
// A stand-in for `rrgo replay --dap 127.0.0.1:0 TRACE`, used only by harness.test.js to
// check the harness itself (process handling, validation, timeouts) without rrgo.
// TRACE selects the behaviour:
//   good   a tiny well-behaved server
//   bad    like good, but some messages violate the DAP schema
//   hang   never answers configurationDone
//   close  closes the connection on configurationDone
//   exit   prints an error and exits 2 (like an rrgo without a DAP server)
//   silent never announces a port
const net = require('node:net');

const [, , cmd, flag, addr, trace] = process.argv;
if (cmd !== 'replay' || flag !== '--dap' || addr !== '127.0.0.1:0') {
    process.stderr.write(`fake-rrgo: unexpected arguments ${process.argv.slice(2).join(' ')}\n`);
    process.exit(2);
}
if (trace === 'exit') {
    process.stderr.write('rrgo: error: replay --dap is not implemented yet\n');
    process.exit(2);
}
if (trace === 'silent') {
    setInterval(() => {}, 1000);
    return;
}

let seq = 1;
function write(sock, msg) {
    const json = JSON.stringify({ seq: seq++, ...msg });
    sock.write(`Content-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`);
}
function respond(sock, req, body, extra = {}) {
    write(sock, { type: 'response', request_seq: req.seq, command: req.command, success: true, ...(body ? { body } : {}), ...extra });
}
function fail(sock, reqSeq, command, message) {
    write(sock, { type: 'response', request_seq: reqSeq, command, success: false, message, body: { error: { id: 1, format: message } } });
}
function event(sock, name, body) {
    write(sock, { type: 'event', event: name, ...(body ? { body } : {}) });
}

function handle(sock, req) {
    const bad = trace === 'bad';
    switch (req.command) {
        case 'initialize':
            return respond(sock, req, { supportsConfigurationDoneRequest: true, supportsStepBack: true });
        case 'attach':
            event(sock, 'initialized');
            return respond(sock, req);
        case 'configurationDone':
            if (trace === 'hang') return;
            if (trace === 'close') return sock.destroy();
            respond(sock, req);
            return event(sock, 'stopped', bad ? { threadId: 1 } : { reason: 'breakpoint', threadId: 1, allThreadsStopped: true });
        case 'threads':
            return respond(sock, req, { threads: [{ id: bad ? 'one' : 1, name: '* [Go 1] main.main (Thread 1)' }] });
        case 'disconnect':
            respond(sock, req);
            return sock.end();
        default:
            return fail(sock, req.seq, req.command, `unknown command ${req.command}`);
    }
}

const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
            const h = buf.indexOf('\r\n\r\n');
            if (h < 0) return;
            const len = Number(/Content-Length: *(\d+)/i.exec(buf.toString('latin1', 0, h))[1]);
            if (buf.length < h + 4 + len) return;
            const body = buf.toString('utf8', h + 4, h + 4 + len);
            buf = buf.subarray(h + 4 + len);
            let req;
            try {
                req = JSON.parse(body);
            } catch (e) {
                fail(sock, 0, '', `invalid JSON: ${e.message}`);
                continue;
            }
            handle(sock, req);
        }
    });
    sock.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => {
    process.stderr.write('rrgo: loading trace\n');
    process.stderr.write(`rrgo: DAP server listening on 127.0.0.1:${server.address().port}\n`);
});
