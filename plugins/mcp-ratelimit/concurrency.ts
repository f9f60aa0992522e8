// Concurrency slots are leases: a member id with an expiry. A slot is given back by release()
// when the answer went through the response phase, and in any case stops counting once its
// lease expires, so a lost response (runner restart, no post-resp, client gone) never leaks it.

import { randomBytes } from 'node:crypto';

/** Random per call; the call's slots are members `${id}#0`, `${id}#1`, ... */
export function newLeaseId(): string {
  return randomBytes(9).toString('base64url');
}

export function leaseMembers(id: string, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(`${id}#${i}`);
  return out;
}

/** Drop expired members; return how many are still held. */
export function pruneLeases(leases: Map<string, number>, now: number): number {
  for (const [member, expiresAt] of leases) if (expiresAt <= now) leases.delete(member);
  return leases.size;
}
