// SSE resumption: a request with Last-Event-ID asks the server to replay a stream's events,
// answers to earlier requests included. Those answers come back on a GET that names no
// request, on a route whose response phase (if any) reads nothing, so no plugin can filter or
// redact them. The host refuses such a request on any chain that has a plugin that may read
// answers, unless the route conf opts in with `allow_resumption` (then it passes, counted).

import { defaultRegistry } from '../observability/metrics.js';
import { resumptionRefusal } from './answers.js';
import type { CallContext, StopOutcome } from './plugin.js';

const resumptions = defaultRegistry.counter({
  name: 'mcp_runner_resumptions_total',
  help: 'Requests resuming an SSE stream (Last-Event-ID): refused, or passed unread because the route conf allows it',
  labelNames: ['outcome'],
});

/** The refusal for a resumption request, or undefined when the call is not one or may pass. */
export function resumptionCheck(ctx: CallContext, chainMayReadAnswers: boolean): StopOutcome | undefined {
  if (ctx.request.header('last-event-id') === undefined || !chainMayReadAnswers) return undefined;
  if (ctx.route.allowResumption) {
    resumptions.inc({ outcome: 'passed_unread' });
    return undefined;
  }
  resumptions.inc({ outcome: 'refused' });
  ctx.record({ plugin: 'host', action: 'deny', rule: 'resumption-unread', reason: 'stream resumption would replay answers no plugin reads' });
  return resumptionRefusal();
}
