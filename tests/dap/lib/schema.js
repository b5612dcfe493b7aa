'use strict';
// Validation of every message a DAP server sends against the protocol's JSON schema
// (schema/debugAdapterProtocol.json, draft-04, a copy of the one in
// microsoft/debug-adapter-protocol; DAP_SCHEMA overrides the path).
//
// Which definition a message is checked against:
//   response, success true   -> `<Command>Response` if the schema has it, else `Response`
//   response, success false  -> `ErrorResponse` (the specific definitions describe the
//                               success body, e.g. StackTraceResponse requires stackFrames)
//   event                    -> `<Event>Event` if the schema has it, else `Event`
//   request (reverse request) -> `<Command>Request` if the schema has it, else `Request`

const fs = require('node:fs');
const path = require('node:path');
const Ajv = require('ajv-draft-04');

const SCHEMA_PATH =
    process.env.DAP_SCHEMA || path.join(__dirname, '..', 'schema', 'debugAdapterProtocol.json');

let ajv = null;
let definitions = null;
const validators = new Map();

// Compiles the schema once per process; validators of single definitions are compiled
// on first use and cached.
function load() {
    if (ajv) return;
    const schema = JSON.parse(fs.readFileSync(SCHEMA_PATH, 'utf8'));
    ajv = new Ajv({
        // The DAP schema uses non-standard keywords (`_enum`, `enumDescriptions`, …).
        strict: false,
        allErrors: true,
        // The integer formats the schema uses (JSON numbers beyond 2^53 lose precision
        // anyway, so the 64-bit ones only check integer-ness and sign).
        formats: {
            int32: { type: 'number', validate: (x) => Number.isInteger(x) && x >= -(2 ** 31) && x < 2 ** 31 },
            uint32: { type: 'number', validate: (x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32 },
            int64: { type: 'number', validate: (x) => Number.isInteger(x) },
            uint64: { type: 'number', validate: (x) => Number.isInteger(x) && x >= 0 },
        },
    });
    ajv.addSchema(schema, 'dap');
    definitions = schema.definitions;
    // Compile the envelope definitions now, so a broken schema or validator setup fails
    // at load time rather than in the middle of a test.
    for (const d of ['ProtocolMessage', 'Request', 'Response', 'ErrorResponse', 'Event']) {
        validatorFor(d);
    }
}

function validatorFor(definition) {
    let v = validators.get(definition);
    if (!v) {
        v = ajv.getSchema(`dap#/definitions/${definition}`);
        if (!v) throw new Error(`DAP schema has no definition ${definition}`);
        validators.set(definition, v);
    }
    return v;
}

function has(definition) {
    load();
    return Object.prototype.hasOwnProperty.call(definitions, definition);
}

const cap = (s) => (s ? s[0].toUpperCase() + s.slice(1) : s);

// The schema definition a message sent by the server must satisfy.
function definitionFor(msg) {
    load();
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return 'ProtocolMessage';
    switch (msg.type) {
        case 'response': {
            if (msg.success === false) return 'ErrorResponse';
            const specific = `${cap(String(msg.command))}Response`;
            return has(specific) ? specific : 'Response';
        }
        case 'event': {
            const specific = `${cap(String(msg.event))}Event`;
            return has(specific) ? specific : 'Event';
        }
        case 'request': {
            const specific = `${cap(String(msg.command))}Request`;
            return has(specific) ? specific : 'Request';
        }
        default:
            return 'ProtocolMessage';
    }
}

// Returns null when `msg` is valid, else {definition, errors} (ajv's error objects).
// `ignore(error)` may drop individual errors (used for documented exceptions only).
function validate(msg, ignore) {
    load();
    const definition = definitionFor(msg);
    const v = validatorFor(definition);
    if (v(msg)) return null;
    let errors = v.errors || [];
    if (ignore) errors = errors.filter((e) => !ignore(e));
    if (errors.length === 0) return null;
    return { definition, errors };
}

function formatErrors(errors) {
    return errors
        .map((e) => `  ${e.instancePath || '(root)'} ${e.message}${
            e.params && Object.keys(e.params).length ? ' ' + JSON.stringify(e.params) : ''}`)
        .join('\n');
}

module.exports = { load, validate, definitionFor, formatErrors, SCHEMA_PATH };
