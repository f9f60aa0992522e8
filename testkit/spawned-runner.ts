// A minimal runner process for the spawner tests (run as `node dist/testkit/spawned-runner.js`):
// prints its environment, listens on APISIX_LISTEN_ADDRESS, answers PrepareConf with fresh
// tokens (new per process) and calls with "continue" / CONF_TOKEN_NOT_FOUND. A call carrying
// header `x-exit: <code>` is answered and then the process exits with that code.
// On SIGTERM it writes $TERM_MARKER (if set) and exits, unless $IGNORE_SIGTERM is set.

import { createServer } from 'node:net';
import { unlinkSync, writeFileSync } from 'node:fs';
import { FrameReader, encodeFrame } from '../runner/protocol/frame.js';
import { decodeHTTPReqCallReq, decodePrepareConfReq, encodeErrResp, encodeHTTPReqCallResp, encodePrepareConfResp } from '../runner/protocol/codec.js';
import { ErrCode, FrameType } from '../runner/protocol/messages.js';

const address = process.env.APISIX_LISTEN_ADDRESS ?? '';
if (!address.startsWith('unix:')) {
  console.log('APISIX_LISTEN_ADDRESS must start with unix:');
  process.exit(2);
}
const path = address.slice('unix:'.length);
console.log(`ENV ${JSON.stringify(process.env)}`);

const tokens = new Map<string, number>();
const known = new Set<number>();
let next = (process.pid % 1000) * 1000 + 1;

const server = createServer((socket) => {
  const reader = new FrameReader();
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => {
    reader.push(chunk);
    for (let f = reader.next(); f !== undefined; f = reader.next()) {
      if (f.type === FrameType.PrepareConf) {
        const req = decodePrepareConfReq(f.body);
        let t = tokens.get(req.key);
        if (t === undefined) {
          t = next++;
          tokens.set(req.key, t);
          known.add(t);
        }
        console.log(`PREPARE ${req.key} -> ${t}`);
        socket.write(encodeFrame(FrameType.PrepareConf, encodePrepareConfResp({ confToken: t })));
      } else if (f.type === FrameType.HTTPReqCall) {
        const req = decodeHTTPReqCallReq(f.body);
        if (!known.has(req.confToken)) {
          socket.write(encodeFrame(FrameType.Error, encodeErrResp({ code: ErrCode.ConfTokenNotFound })));
          continue;
        }
        socket.write(encodeFrame(FrameType.HTTPReqCall, encodeHTTPReqCallResp({ id: req.id, action: undefined })));
        const exit = req.headers.find((h) => h.name === 'x-exit')?.value;
        if (exit !== undefined) setTimeout(() => process.exit(Number(exit)), 20);
      } else {
        socket.write(encodeFrame(FrameType.Error, encodeErrResp({ code: ErrCode.BadRequest })));
      }
    }
  });
});

try {
  unlinkSync(path);
} catch {
  // no stale socket
}
server.listen(path);

process.on('SIGTERM', () => {
  if (process.env.TERM_MARKER !== undefined) writeFileSync(process.env.TERM_MARKER, 'SIGTERM');
  if (process.env.IGNORE_SIGTERM !== undefined) return;
  server.close();
  process.exit(0);
});
