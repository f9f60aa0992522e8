// Per-user secret references: each caller gets their own backend secret, named by a template
// (`$file:///run/secrets/crm/{user}`, `$env://CRM_TOKEN_{user}`) or by a map from an identity
// value to a reference. Resolved after authorization, from the identity mcp-authz set.
// An identity value is used in a path only when it is a plain name: no `/`, `\`, `..`, NUL or
// leading dot (refused, never traversed). A caller without a credential is refused; the
// conf's fallback secret is used only when the conf names one.

import { readFile, stat } from 'node:fs/promises';
import type { Identity } from '../../runner/host/plugin.js';
import { parseSecretRef, type SecretHandle } from '../../runner/secrets/index.js';
import { Lru } from './lru.js';

export const IDENTITY_FIELDS = ['user', 'subject', 'app', 'agent', 'tenant'] as const;
export type IdentityField = (typeof IDENTITY_FIELDS)[number];

/** What an identity value may look like to be placed in a path or variable name. */
const SAFE_VALUE = /^[A-Za-z0-9_@+=,:.-]{1,128}$/;
const PLACEHOLDER = /\{([a-z]+)\}/g;
/** Secret files are small; a larger file is not a secret (a wrong mount). */
const MAX_FILE_BYTES = 1 << 20;
/** How long a missing file is remembered before it is looked for again. */
const MISSING_RECHECK_MS = 1000;
/** Per-user files kept in memory (least recently used dropped). */
const FILE_CACHE_SIZE = 10_000;

export interface PerUserSettings {
  /** The identity field the map is keyed by. */
  field: IdentityField;
  template: Template | undefined;
  map: ReadonlyMap<string, SecretHandle> | undefined;
  /** Used for callers without their own secret, only when the conf sets it. */
  fallback: SecretHandle | undefined;
  /** A present file is read again after this long (rotation). */
  refreshMs: number;
}

export interface Template {
  text: string;
  kind: 'env' | 'file';
  fields: readonly IdentityField[];
}

export type PerUserResult =
  | { ok: true; value: string; source: 'user' | 'fallback' }
  | { ok: false; reason: 'no-identity' | 'unsafe-identity' | 'missing'; message: string };

/** Check a template at prepare: a reference scheme, known placeholders, a valid result. */
export function compileTemplate(text: string, field: string): Template {
  const fields: IdentityField[] = [];
  for (const m of text.matchAll(PLACEHOLDER)) {
    const name = m[1] as IdentityField;
    if (!IDENTITY_FIELDS.includes(name)) throw new Error(`${field}: unknown placeholder {${m[1]}} (use ${IDENTITY_FIELDS.map((f) => `{${f}}`).join(', ')})`);
    if (!fields.includes(name)) fields.push(name);
  }
  if (fields.length === 0) throw new Error(`${field}: a per-user template needs a placeholder such as {user}`);
  let parsed;
  try {
    parsed = parseSecretRef(text.replace(PLACEHOLDER, 'x'));
  } catch (err) {
    throw new Error(`${field}: ${(err as Error).message}`);
  }
  if (parsed.kind === 'file' && text.slice(0, text.indexOf('{')).indexOf('/', '$file://'.length) === -1) {
    throw new Error(`${field}: the placeholder must come after a fixed directory (e.g. $file:///run/secrets/crm/{user})`);
  }
  return { text, kind: parsed.kind, fields };
}

interface FileEntry {
  value: string | undefined;
  checkedAt: number;
}

export class PerUserSecrets {
  private readonly files = new Lru<FileEntry>(FILE_CACHE_SIZE);
  private readonly reading = new Map<string, Promise<FileEntry>>();

  constructor(readonly settings: PerUserSettings) {}

  async resolve(identity: Identity | undefined, nowMs: number = Date.now()): Promise<PerUserResult> {
    const own = await this.own(identity, nowMs);
    if (own.ok || own.reason !== 'missing') return own;
    const fallback = this.settings.fallback?.value();
    if (fallback !== undefined) return { ok: true, value: fallback, source: 'fallback' };
    return own;
  }

  private async own(identity: Identity | undefined, nowMs: number): Promise<PerUserResult> {
    if (identity === undefined) return { ok: false, reason: 'no-identity', message: 'no caller identity to select a backend credential' };
    const s = this.settings;
    if (s.map !== undefined) {
      const key = identity[s.field];
      if (key === undefined) return { ok: false, reason: 'no-identity', message: `the caller identity has no ${s.field}` };
      const value = s.map.get(key)?.value();
      if (value !== undefined) return { ok: true, value, source: 'user' };
      if (s.template === undefined) return { ok: false, reason: 'missing', message: 'no backend credential for this caller' };
    }
    const t = s.template!;
    let ref = t.text;
    for (const f of t.fields) {
      const v = identity[f];
      if (v === undefined) return { ok: false, reason: 'no-identity', message: `the caller identity has no ${f}` };
      if (!SAFE_VALUE.test(v) || v.startsWith('.') || v.includes('..') || (t.kind === 'env' && !/^[A-Za-z0-9_]+$/.test(v))) {
        return { ok: false, reason: 'unsafe-identity', message: `the caller's ${f} cannot name a secret (only letters, digits and _@+=,:.- are used)` };
      }
      ref = ref.split(`{${f}}`).join(v);
    }
    const parsed = parseSecretRef(ref);
    const value = parsed.kind === 'env' ? nonEmpty(process.env[parsed.name]) : (await this.file(parsed.path, nowMs)).value;
    return value !== undefined ? { ok: true, value, source: 'user' } : { ok: false, reason: 'missing', message: 'no backend credential for this caller' };
  }

  /** A per-user file from memory, read again when stale; one read per path at a time. */
  private file(path: string, nowMs: number): Promise<FileEntry> | FileEntry {
    const cached = this.files.get(path);
    if (cached !== undefined && nowMs - cached.checkedAt < (cached.value === undefined ? MISSING_RECHECK_MS : this.settings.refreshMs)) return cached;
    let pending = this.reading.get(path);
    if (pending === undefined) {
      pending = readSecretFile(path).then((value) => {
        const entry = { value, checkedAt: Date.now() };
        this.files.set(path, entry);
        this.reading.delete(path);
        return entry;
      });
      this.reading.set(path, pending);
    }
    return pending;
  }
}

async function readSecretFile(path: string): Promise<string | undefined> {
  try {
    const st = await stat(path);
    if (!st.isFile() || st.size > MAX_FILE_BYTES) return undefined;
    return nonEmpty((await readFile(path, 'utf8')).replace(/[\r\n]+$/, ''));
  } catch {
    return undefined;
  }
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}
