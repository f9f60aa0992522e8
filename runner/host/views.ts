// Lazy views of the HTTP request and the upstream answer as APISIX described them: each
// ExtraInfo lookup (variable, body) is one round trip, asked only when a plugin reads it and
// cached for the call. Also the cheap random ids (call ids, carry keys).

import { randomFillSync } from 'node:crypto';
import type { ExtraInfoChannel } from '../protocol/handler.js';
import type { TextEntry } from '../protocol/messages.js';
import type { HttpRequestView, HttpResponseView } from './plugin.js';

export function findHeader(headers: readonly TextEntry[], lowerName: string): string | undefined {
  for (const h of headers) {
    // APISIX sends lower-case names: the exact test nearly always decides; the length test
    // spares a toLowerCase per header for names that are absent.
    if (h.name === lowerName || (h.name.length === lowerName.length && h.name.toLowerCase() === lowerName)) return h.value;
  }
  return undefined;
}

export function formatIp(bytes: Uint8Array | undefined): string | undefined {
  if (!bytes) return undefined;
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length === 16) {
    const parts: string[] = [];
    for (let i = 0; i < 16; i += 2) parts.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
    return parts.join(':');
  }
  return undefined;
}

const decoder = new TextDecoder();

/** Random bytes fetched 4 KiB at a time: one call id costs a slice to hex, not a syscall. */
const randomPool = Buffer.allocUnsafe(4096);
let randomAt = randomPool.length;

/** 16 random bytes as 32 hex digits (a W3C trace id's shape): call ids and carry keys. */
export function randomHex16(): string {
  if (randomAt + 16 > randomPool.length) {
    randomFillSync(randomPool);
    randomAt = 0;
  }
  const hex = randomPool.toString('hex', randomAt, randomAt + 16);
  randomAt += 16;
  return hex;
}

/** The request as APISIX described it, with ExtraInfo lookups cached for the call. */
export class RequestView implements HttpRequestView {
  private vars: Map<string, Promise<string | undefined>> | undefined;
  private bodyPromise: Promise<Uint8Array | undefined> | undefined;
  private ip: string | undefined | null = null;

  constructor(
    readonly method: string,
    readonly path: string,
    private readonly srcIpBytes: Uint8Array | undefined,
    readonly headers: readonly TextEntry[],
    readonly args: readonly TextEntry[],
    private readonly extra: ExtraInfoChannel,
    /** Body already known (carried from the request phase), if any. */
    knownBody?: Uint8Array | undefined,
  ) {
    if (knownBody) this.bodyPromise = Promise.resolve(knownBody);
  }

  get srcIp(): string | undefined {
    if (this.ip === null) this.ip = formatIp(this.srcIpBytes);
    return this.ip;
  }

  header(name: string): string | undefined {
    return findHeader(this.headers, name.toLowerCase());
  }

  variable(name: string): Promise<string | undefined> {
    this.vars ??= new Map();
    let p = this.vars.get(name);
    if (!p) {
      p = this.extra.ask({ type: 'var', name }).then((r) => (r.result ? decoder.decode(r.result) : undefined));
      this.vars.set(name, p);
    }
    return p;
  }

  body(): Promise<Uint8Array | undefined> {
    this.bodyPromise ??= this.extra.ask({ type: 'reqBody' }).then((r) => r.result);
    return this.bodyPromise;
  }
}

/** The upstream's answer; the body is asked at most once (a second RespBody read fails in APISIX). */
export class ResponseView implements HttpResponseView {
  private bodyPromise: Promise<Uint8Array | undefined> | undefined;

  constructor(
    readonly status: number,
    readonly headers: readonly TextEntry[],
    private readonly extra: ExtraInfoChannel,
  ) {}

  header(name: string): string | undefined {
    return findHeader(this.headers, name.toLowerCase());
  }

  get bodyFetched(): boolean {
    return this.bodyPromise !== undefined;
  }

  body(): Promise<Uint8Array | undefined> {
    this.bodyPromise ??= this.extra.ask({ type: 'respBody' }).then((r) => r.result);
    return this.bodyPromise;
  }
}

