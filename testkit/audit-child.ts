// Child process for the kill-and-restart test: emits audit events through the real plugin
// and host as fast as it can, reports each accepted event id on stdout, and on SIGTERM
// shuts the host down (as the runner does) before exiting.

import { LATER, TableChannel, realHost, reqCall, toolsCall } from './audit.js';

const path = process.argv[2] ?? '';
const prefix = process.argv[3] ?? 'run';
const h = realHost();
const chain = h.buildChain([{ name: 'mcp-audit', value: JSON.stringify({ sink: { type: 'file', path, max_buffered_events: 1_000_000 } }) }], 'route#k#ext-plugin-pre-req#1');

let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
  void h.shutdown().then(() => process.exit(0));
});

let i = 0;
async function loop(): Promise<void> {
  while (!stopping) {
    // A batch of calls per tick keeps the file sink busy (queued writes at SIGTERM time).
    for (let k = 0; k < 50 && !stopping; k++) {
      const id = `${prefix}-${i++}`;
      const body = toolsCall('crm.lookup', { payload: 'x'.repeat(200) }, id);
      await h.onRequest(chain, reqCall(body), new TableChannel({}, body), LATER());
      // onDone has run: the event is accepted by the sink.
      process.stdout.write(`${id}\n`);
    }
    await new Promise((r) => setImmediate(r));
  }
}
process.stdout.write('ready\n');
void loop();
