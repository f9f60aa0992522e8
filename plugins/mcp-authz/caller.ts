// Who is calling, as the confirmation channels bind and show it.

import type { Identity } from '../../runner/host/plugin.js';

/** The caller a confirmation (token, approval, form state) is bound to. */
export function callerKey(id: Identity): string {
  return `${id.source}:${id.tenant ?? ''}:${id.user ?? id.subject ?? id.app ?? 'anonymous'}`;
}

/** A person-readable name for pages and audit events. */
export function displayName(id: Identity): string {
  const name = id.user ?? id.subject ?? id.app ?? 'anonymous';
  return id.tenant !== undefined ? `${name} (${id.tenant})` : name;
}
