// A second "runner process" for the Redis tests: its own connection and RedisStore, makes N
// checks against one limit and prints how many were allowed as JSON.
// Usage: node redis-child.js <redis url> <key> <calls>

import { RedisStore, createRedisClient } from '../plugins/mcp-ratelimit/store-redis.js';

const [url, key, calls] = process.argv.slice(2);
if (!url || !key || !calls) throw new Error('usage: redis-child <url> <key> <calls>');
const client = createRedisClient(url);
await new Promise<void>((resolve, reject) => {
  client.once('ready', () => resolve());
  setTimeout(() => reject(new Error('redis not ready')), 3000).unref();
});
const store = new RedisStore({ client, commandTimeoutMs: 1000, ownsClient: true });
let allowed = 0;
for (let i = 0; i < Number(calls); i++) {
  const r = await store.check({ leaseId: `child${process.pid}-${i}`, rates: [{ key, intervalMs: 3_600_000, burst: 40, cost: 1 }], concurrency: [], budgets: [] });
  if (r.allowed) allowed++;
}
await store.close();
process.stdout.write(JSON.stringify({ allowed }));
