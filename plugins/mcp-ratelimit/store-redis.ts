// Redis store for a cluster of runners: one EVALSHA per call checks and consumes every limit of
// the call atomically (all-or-nothing), with the same arithmetic as the memory store. Time comes
// from the Redis server (TIME) so every runner node uses one clock; tests may inject a clock.
// Keys carry TTLs (GCRA: until idle; leases: the lease; budgets: period end + 1 h).
// Scripts build budget keys from the period start, so this needs a single Redis (or a primary
// with replicas), not Redis Cluster.

import { Redis } from 'ioredis';
import { CONCURRENCY_RETRY_MS, type CheckBatch, type CheckResult, type LimitKind, type LimitStore } from './store.js';

const CHECK_LUA = `
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
local function civil_from_days(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return y, m
end
local function period(now, p)
  local day = math.floor(now / 86400000)
  if p == 'day' then return day * 86400000, (day + 1) * 86400000 end
  local y, m = civil_from_days(day)
  local s = days_from_civil(y, m, 1)
  if m == 12 then y = y + 1; m = 1 else m = m + 1 end
  return s * 86400000, days_from_civil(y, m, 1) * 86400000
end

local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local nr, nc, nb = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local lease = ARGV[5]
local EPS = 1e-6
local a = 6
local refused_kind, refused_index, retry = 0, 0, 0
local function refuse(kind, index, wait)
  if refused_kind == 0 then refused_kind = kind; refused_index = index end
  if wait > retry then retry = wait end
end

local rate_next, rate_rem, rate_reset = {}, {}, {}
for i = 1, nr do
  local T, B, c = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  local tat = tonumber(redis.call('GET', KEYS[i]))
  local base = now
  if tat and tat > now then base = tat end
  local cap = B * T
  local nxt = base + c * T
  if nxt - now > cap + EPS then
    refuse(1, i - 1, nxt - cap - now)
  else
    rate_next[i] = nxt
    rate_rem[i] = math.max(0, math.floor((cap - (nxt - now)) / T + EPS))
    rate_reset[i] = nxt - now
  end
end
local conc = {}
for i = 1, nc do
  local k = KEYS[nr + i]
  local max, ms, count = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  redis.call('ZREMRANGEBYSCORE', k, '-inf', string.format('%.3f', now))
  local held = redis.call('ZCARD', k)
  if held + count > max then refuse(2, i - 1, ${CONCURRENCY_RETRY_MS}) end
  conc[i] = { k, ms, count }
end
local budg = {}
for i = 1, nb do
  local quota, c, p = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), ARGV[a + 2]
  a = a + 3
  local s, e = period(now, p)
  local k = KEYS[nr + nc + i] .. ':' .. string.format('%.0f', s)
  local used = tonumber(redis.call('GET', k)) or 0
  if used + c > quota + 1e-9 then refuse(3, i - 1, e - now) end
  budg[i] = { k, c, e, quota, used }
end
if refused_kind ~= 0 then
  return { 0, refused_kind, refused_index, tostring(math.ceil(retry)) }
end

local out = { 1, nr, nb }
for i = 1, nr do
  local ttl = math.max(1, math.ceil(rate_next[i] - now))
  redis.call('SET', KEYS[i], string.format('%.3f', rate_next[i]), 'PX', ttl)
  out[#out + 1] = rate_rem[i]
  out[#out + 1] = tostring(math.ceil(rate_reset[i]))
end
for i = 1, nc do
  local k, ms, count = conc[i][1], conc[i][2], conc[i][3]
  local exp = string.format('%.3f', now + ms)
  for n = 0, count - 1 do redis.call('ZADD', k, exp, lease .. '#' .. n) end
  if redis.call('PTTL', k) < ms then redis.call('PEXPIRE', k, math.ceil(ms)) end
end
for i = 1, nb do
  local b = budg[i]
  local used = tonumber(redis.call('INCRBYFLOAT', b[1], b[2]))
  redis.call('PEXPIRE', b[1], math.ceil(b[3] - now + 3600000))
  out[#out + 1] = tostring(math.max(0, b[4] - used))
end
return out
`;

const RELEASE_LUA = `
for i = 1, #KEYS do
  local count = tonumber(ARGV[i + 1])
  for n = 0, count - 1 do redis.call('ZREM', KEYS[i], ARGV[1] .. '#' .. n) end
end
return 1
`;

interface ScriptedRedis {
  mcpRatelimitCheck(numKeys: number, ...args: string[]): Promise<unknown>;
  mcpRatelimitRelease(numKeys: number, ...args: string[]): Promise<unknown>;
}

/** Adds our scripts to a client once (ioredis sends EVALSHA, and EVAL on NOSCRIPT). */
function scripted(client: Redis): ScriptedRedis {
  const c = client as Redis & Partial<ScriptedRedis>;
  if (!c.mcpRatelimitCheck) {
    client.defineCommand('mcpRatelimitCheck', { lua: CHECK_LUA });
    client.defineCommand('mcpRatelimitRelease', { lua: RELEASE_LUA });
  }
  return c as Redis & ScriptedRedis;
}

/** Client settings that never queue or hang: fail fast and reconnect quickly in the background. */
export function createRedisClient(url: string): Redis {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    commandTimeout: 1000,
    retryStrategy: (times: number) => Math.min(50 * times, 500),
    enableReadyCheck: true,
  });
  // Errors surface per command (on_store_error); without a listener ioredis would log each one.
  client.on('error', () => {});
  return client;
}

/** One runner's Redis connections: one per distinct URL (not per route), closed with the runner. */
export class RedisClients {
  private readonly clients = new Map<string, Redis>();

  client(url: string): Redis {
    let c = this.clients.get(url);
    if (!c) {
      c = createRedisClient(url);
      this.clients.set(url, c);
    }
    return c;
  }

  async close(): Promise<void> {
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
  }
}

/**
 * Wait (bounded) until a client can take commands. With enableOfflineQueue off, a command sent
 * while the first connection is still being made fails at once: the first calls after a
 * runner start would hit on_store_error although Redis is fine.
 */
export function whenRedisReady(client: Redis, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ok);
    };
    const onReady = (): void => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    timer.unref();
    client.on('ready', onReady);
  });
}

export class StoreTimeoutError extends Error {
  constructor(ms: number) {
    super(`redis did not answer within ${ms} ms`);
  }
}

export interface RedisStoreOptions {
  client: Redis;
  keyPrefix?: string;
  /** Per round trip; on expiry the check rejects (the plugin applies on_store_error). */
  commandTimeoutMs?: number;
  /** Milliseconds since the epoch; absent = the Redis server's clock (TIME). */
  clock?: () => number;
  /** Whether close() should quit the client (false for shared clients). */
  ownsClient?: boolean;
}

const KINDS: readonly LimitKind[] = ['rate', 'concurrency', 'budget'];

export class RedisStore implements LimitStore {
  private readonly redis: ScriptedRedis;
  private readonly prefix: string;
  private readonly timeoutMs: number;

  constructor(private readonly opts: RedisStoreOptions) {
    this.redis = scripted(opts.client);
    this.prefix = `${opts.keyPrefix ?? 'mcprl'}:`;
    this.timeoutMs = opts.commandTimeoutMs ?? 50;
  }

  async check(batch: CheckBatch): Promise<CheckResult> {
    const keys: string[] = [];
    const args: string[] = [
      this.opts.clock ? String(this.opts.clock()) : '',
      String(batch.rates.length),
      String(batch.concurrency.length),
      String(batch.budgets.length),
      batch.leaseId,
    ];
    for (const r of batch.rates) {
      keys.push(this.prefix + r.key);
      args.push(String(r.intervalMs), String(r.burst), String(r.cost));
    }
    for (const c of batch.concurrency) {
      keys.push(this.prefix + c.key);
      args.push(String(c.max), String(c.leaseMs), String(c.count));
    }
    for (const b of batch.budgets) {
      keys.push(this.prefix + b.key);
      args.push(String(b.quota), String(b.cost), b.period);
    }
    const reply = await this.withTimeout(this.redis.mcpRatelimitCheck(keys.length, ...keys, ...args));
    return parseCheckReply(reply);
  }

  async release(leaseId: string, slots: ReadonlyArray<{ key: string; count: number }>): Promise<void> {
    if (slots.length === 0) return;
    const keys = slots.map((s) => this.prefix + s.key);
    const args = [leaseId, ...slots.map((s) => String(s.count))];
    await this.withTimeout(this.redis.mcpRatelimitRelease(keys.length, ...keys, ...args));
  }

  async close(): Promise<void> {
    if (this.opts.ownsClient) await this.opts.client.quit().catch(() => this.opts.client.disconnect());
  }

  private withTimeout<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new StoreTimeoutError(this.timeoutMs)), this.timeoutMs);
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }
}

function num(v: unknown): number {
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n)) throw new Error(`unexpected redis reply value ${String(v)}`);
  return n;
}

function parseCheckReply(reply: unknown): CheckResult {
  if (!Array.isArray(reply) || reply.length < 3) throw new Error('unexpected redis reply shape');
  if (num(reply[0]) === 0) {
    const kind = KINDS[num(reply[1]) - 1];
    if (!kind) throw new Error('unexpected redis reply kind');
    return { allowed: false, kind, index: num(reply[2]), retryAfterMs: num(reply[3]) };
  }
  const nr = num(reply[1]);
  const nb = num(reply[2]);
  const rates = [];
  let i = 3;
  for (let r = 0; r < nr; r++, i += 2) rates.push({ remaining: num(reply[i]), resetMs: num(reply[i + 1]) });
  const budgets = [];
  for (let b = 0; b < nb; b++, i++) budgets.push(num(reply[i]));
  return { allowed: true, rates, budgets };
}
