// subscriptions/listen (2026-07-28) opens a notification stream; its filter may name resources
// whose `notifications/resources/updated` the client wants. Subscribing tells the actor when a
// resource changes, so each named URI needs the same permission as reading it. Deny wins: one
// URI the actor may not read refuses the whole subscription (the client can ask again without
// it); a URI that would need the user's confirmation is refused too, a stream cannot carry one.

import type { JsonValue, McpMessage } from '../../runner/mcp/types.js';
import { decideUse, type Decision, type Subject } from './decide.js';
import type { CompiledPolicy } from '../../runner/policy/index.js';

function deny(reason: string, target: string, rule = 'invalid-params'): Decision {
  return { effect: 'deny', rule, reason, kind: 'resource', target };
}

/** The decision for the resources a listen request subscribes to; undefined when it names none. */
export function decideSubscriptions(policy: CompiledPolicy, s: Subject, msg: McpMessage): Decision | undefined {
  const filter: JsonValue | undefined = msg.params['notifications'];
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) return undefined; // the server refuses a missing filter
  const uris = filter['resourceSubscriptions'];
  if (uris === undefined) return undefined;
  if (!Array.isArray(uris)) return deny('notifications.resourceSubscriptions must be an array of URIs', '');
  let last: Decision | undefined;
  for (const uri of uris) {
    if (typeof uri !== 'string') return deny('notifications.resourceSubscriptions must hold URI strings', '');
    const d = decideUse(policy, s, 'resource', uri, undefined);
    if (d.effect === 'deny') return { ...d, reason: `subscription to ${d.reason}` };
    if (d.effect === 'confirm') return deny(`resource '${uri}' needs user confirmation, which a subscription cannot carry`, uri, d.rule);
    last = d;
  }
  return last;
}
