// mcp-redact: scrubs sensitive data from tools/call arguments (request phase, before the MCP
// server sees them) and from results (response phase, before the agent sees them). What was
// found is recorded for audit as types and counts only, never values.

import type { CallContext, Outcome, Plugin, PrepareEnv } from '../../runner/host/plugin.js';
import { confSchema, DEFAULT_SCOPE, type RedactConf } from './conf.js';
import { isJsonRpcResponse, jsonRpcMessagesOf } from '../../runner/mcp/response.js';
import { markEventEdited } from '../../runner/mcp/sse.js';
import { compileGlobs } from '../../runner/util/glob.js';
import { JsonRpcErrorCode, type JsonObject, type JsonRpcId, type McpMessage } from '../../runner/mcp/types.js';
import { secretFromConf } from '../../runner/secrets/index.js';
import type { DetectorName, TaxIdKind } from './detectors.js';
import { compileRedaction, newTally, redactString, redactTree, type Mode, type Redaction, type Tally } from './redactor.js';
import { PolicyRedaction } from './policy.js';
import { AnswerText } from './response.js';

export { compileDetectors, DETECTOR_NAMES, TAX_ID_KINDS, luhnValid, ibanChecksumValid, cardBrand } from './detectors.js';
export type { DetectorName, Hit, TaxIdKind } from './detectors.js';
export { compileRedaction, defaultRedaction, redactText, redactString, redactTree, newTally, DEFAULT_FIELD_KEYS } from './redactor.js';
export type { Mode, Redaction, Tally } from './redactor.js';

export const PLUGIN_NAME = 'mcp-redact';

export type { RedactConf, RedactMethod } from './conf.js';

export interface PreparedRedact {
  readonly redaction: Redaction;
  readonly arguments: boolean;
  readonly results: boolean;
  readonly methods: ReadonlySet<string>;
  readonly withholdBinaryBlobs: boolean;
  toolInScope(name: string): boolean;
  /** Detectors added per call by the policy file's data_policy entries. */
  readonly policy?: PolicyRedaction | undefined;
}

/** Request-phase facts carried to the response phase (ctx.carry, key PLUGIN_NAME). */
export interface RedactCarry {
  /** Requests whose results must be redacted: their ids, methods and tool names. */
  targets: { id: JsonRpcId; method: string; tool: string | undefined; redaction: Redaction }[];
  /** Facts unknown (no request phase, body unreadable): redact every result, fail closed. */
  all: boolean;
}

/** '*' any run, '?' one char; everything else literal. Compiled once into one anchored regex. */
export { compileGlobs };

export async function prepareRedact(conf: RedactConf, env: PrepareEnv): Promise<PreparedRedact> {
  let salt: (() => string | undefined) | undefined;
  if (conf.hash_salt !== undefined) {
    const handle = secretFromConf(conf.hash_salt, { field: 'hash_salt', allowLiteral: false });
    await handle.ready();
    if (handle.value() === undefined) throw new Error(`hash_salt: ${handle.describe()} is ${handle.problem() ?? 'empty'}`);
    salt = () => handle.value();
  }
  const redaction = compileRedaction(conf, salt);
  const policy = conf.policy_file !== undefined ? await PolicyRedaction.open(env.state.policies, conf.policy_file, conf, redaction, salt) : undefined;
  return {
    redaction,
    arguments: conf.arguments ?? DEFAULT_SCOPE.arguments,
    results: conf.results ?? DEFAULT_SCOPE.results,
    methods: new Set(conf.methods ?? DEFAULT_SCOPE.methods),
    withholdBinaryBlobs: conf.unreadable_blobs === 'withhold',
    toolInScope: compileGlobs(conf.tools ?? DEFAULT_SCOPE.tools),
    policy,
  };
}

function inScope(m: McpMessage, conf: PreparedRedact): boolean {
  if (m.type !== 'request' || m.method === undefined || !conf.methods.has(m.method)) return false;
  return m.kind !== 'tools/call' || (m.toolName !== undefined && conf.toolInScope(m.toolName));
}

/** The redaction for one request (conf scope, plus the policy file's entries); undefined = none. */
function redactionFor(m: McpMessage, conf: PreparedRedact, server: string | undefined): Redaction | undefined {
  const scoped = inScope(m, conf);
  if (conf.policy === undefined) return scoped ? conf.redaction : undefined;
  return conf.policy.redactionFor(m, server, scoped);
}

function argumentsOf(m: McpMessage): JsonObject | undefined {
  if (m.kind === 'tools/call') return m.arguments;
  const args = m.params['arguments'];
  return typeof args === 'object' && args !== null && !Array.isArray(args) ? args : undefined;
}

/** The carried facts, computed once per call (request phase, or late in the response phase). */
/** The request phase's facts, when it carried them (the usual case): no promise needed. */
function carriedFacts(ctx: CallContext): RedactCarry | undefined {
  return ctx.carry.get(PLUGIN_NAME) as RedactCarry | undefined;
}

async function factsOf(ctx: CallContext, conf: PreparedRedact): Promise<RedactCarry> {
  const known = carriedFacts(ctx);
  if (known) return known;
  let facts: RedactCarry;
  try {
    const parsed = await ctx.mcp();
    facts = { targets: [], all: false };
    if (parsed.ok) {
      for (const m of parsed.messages) {
        if (m.id === undefined) continue;
        const redaction = redactionFor(m, conf, ctx.route.server);
        if (redaction) facts.targets.push({ id: m.id, method: m.method!, tool: m.toolName, redaction });
      }
    }
  } catch (err) {
    // In the request phase the host turns this into the right client error; in the
    // response phase (no request-phase facts) we cannot tell which results matter: all do.
    if (ctx.phase === 'request') throw err;
    facts = { targets: [], all: true };
  }
  ctx.carry.set(PLUGIN_NAME, facts);
  return facts;
}

function typesOf(tally: Tally): string[] {
  return [...tally.blockedTypes].sort();
}

function recordTally(ctx: CallContext, where: 'arguments' | 'result', tally: Tally): void {
  if (Object.keys(tally.counts).length === 0) return;
  if (tally.blocked) {
    ctx.record({
      plugin: PLUGIN_NAME,
      action: 'deny',
      rule: 'redact-block',
      reason: `sensitive data in ${where}`,
      detail: { where, counts: { ...tally.counts }, blocked: typesOf(tally) },
    });
  } else {
    ctx.record({ plugin: PLUGIN_NAME, action: 'redact', detail: { where, counts: { ...tally.counts } } });
  }
}

async function onRequest(ctx: CallContext, conf: PreparedRedact): Promise<Outcome> {
  // Facts first: the response phase needs them even when arguments are not redacted.
  await factsOf(ctx, conf);
  if (!conf.arguments) return undefined;
  const parsed = await ctx.mcp();
  if (!parsed.ok) return undefined;
  const tally = newTally();
  for (const m of parsed.messages) {
    const redaction = redactionFor(m, conf, ctx.route.server);
    if (!redaction) continue;
    const args = argumentsOf(m);
    if (args) redactTree(args, ['params', 'arguments'], redaction, tally);
    // A retried multi-round-trip call: the user's answers are client input like arguments.
    const answers = m.params['inputResponses'];
    if (typeof answers === 'object' && answers !== null && !Array.isArray(answers)) redactTree(answers, ['params', 'inputResponses'], redaction, tally);
  }
  recordTally(ctx, 'arguments', tally);
  if (tally.blocked) {
    return {
      action: 'stop',
      status: 400,
      rpcError: {
        code: JsonRpcErrorCode.InvalidParams,
        message: `arguments contain sensitive data that this gateway does not forward (${typesOf(tally).join(', ')})`,
        data: { rule: 'redact-block', types: typesOf(tally) },
      },
    };
  }
  if (tally.changed) ctx.requestMutations.markBodyModified();
  return undefined;
}

function wantsResults(facts: RedactCarry): boolean {
  return facts.all || facts.targets.length > 0;
}

async function needsResultsLate(ctx: CallContext, conf: PreparedRedact): Promise<boolean> {
  return wantsResults(await factsOf(ctx, conf));
}

function needsResults(ctx: CallContext, conf: PreparedRedact): boolean | Promise<boolean> {
  if (!conf.results) return false;
  const known = carriedFacts(ctx);
  return known ? wantsResults(known) : needsResultsLate(ctx, conf);
}

/** Image and audio data are not text: scanning them costs and misfires. Nor is a requestState. */
function isMediaData(parent: JsonObject, key: string): boolean {
  // The server's opaque multi-round-trip state must come back to it byte for byte.
  if (key === 'requestState' && parent['resultType'] === 'input_required') return true;
  return key === 'data' && (parent['type'] === 'image' || parent['type'] === 'audio');
}

function withheld(ctx: CallContext, rule: string, reason: string, message: string): Outcome {
  ctx.record({ plugin: PLUGIN_NAME, action: 'deny', rule, reason });
  return { action: 'stop', status: 502, rpcError: { code: JsonRpcErrorCode.InternalError, message } };
}

const UNREADABLE = 'upstream answer withheld: the gateway could not inspect it for sensitive data';

function unreadable(ctx: CallContext): Outcome {
  return withheld(ctx, 'redact-unreadable', 'result body could not be inspected', UNREADABLE);
}

async function onResponse(ctx: CallContext, conf: PreparedRedact): Promise<Outcome> {
  if (!conf.results) return undefined;
  const facts = carriedFacts(ctx) ?? (await factsOf(ctx, conf));
  if (!wantsResults(facts)) return undefined;
  const body = await ctx.mcpResponse();
  if (body === undefined) {
    // Empty answers (202 for notifications, 204, an empty error) carry nothing; any other
    // body we cannot parse (an HTML error page as much as a broken result, or a 202 that
    // carries bytes after all) could.
    const bytes = await ctx.response?.body();
    if (!bytes || bytes.length === 0) return undefined;
    return unreadable(ctx);
  }
  if (body.format === 'json' && body.events[0]?.json === undefined) return unreadable(ctx);

  // An SSE event we cannot read (duplicate keys, bad UTF-8, not JSON) could carry anything:
  // withhold the answer rather than pass it on unscanned.
  if (body.format === 'sse' && body.events.some((e) => e.json === undefined && e.data.trim() !== '')) return unreadable(ctx);

  const wanted = new Map(facts.targets.map((t) => [t.id, t.redaction]));
  // Answers to unknown requests, and messages in the stream that are not answers, get the
  // widest redaction any of the call's requests needs.
  const widest = conf.policy !== undefined && (facts.all || facts.targets.some((t) => t.redaction !== conf.redaction)) ? conf.policy.widest() : conf.redaction;
  const tally = newTally();
  const text = new AnswerText(conf.withholdBinaryBlobs);
  const parts: { holder: JsonObject; key: string; redaction: Redaction }[] = [];
  for (const { message } of jsonRpcMessagesOf(body)) {
    if (!isJsonRpcResponse(message)) {
      // Server-to-client requests and notifications in the same stream (logging, progress,
      // sampling prompts) can quote tool data too.
      const params = message['params'];
      if (typeof params === 'object' && params !== null && !Array.isArray(params)) {
        text.collect(params, 'params');
        parts.push({ holder: message, key: 'params', redaction: widest });
      }
      continue;
    }
    const redaction = facts.all ? widest : wanted.get(message['id'] as JsonRpcId);
    if (redaction === undefined) continue;
    for (const key of ['result', 'error'] as const) {
      if (!Object.hasOwn(message, key)) continue;
      text.collect(message[key], key);
      parts.push({ holder: message, key, redaction });
    }
  }
  // A secret cut between two pieces (content items, SSE events) first, on the original text.
  text.redactAcrossCuts(widest, tally);
  const skip = (parent: JsonObject, key: string): boolean => {
    if (key === 'blob') {
      text.redactBlob(parent, widest, tally);
      return true;
    }
    return isMediaData(parent, key);
  };
  for (const { holder, key, redaction } of parts) {
    const part = holder[key];
    if (typeof part === 'object' && part !== null) redactTree(part, [key], redaction, tally, skip);
    else if (typeof part === 'string') holder[key] = redactString(part, redaction, tally);
  }
  recordTally(ctx, 'result', tally);
  if (text.unreadable) return withheld(ctx, 'redact-unreadable-blob', 'a blob in the result could not be decoded', 'upstream answer withheld: it holds a blob the gateway could not decode to inspect');
  if (tally.blocked) {
    return {
      action: 'stop',
      status: 502,
      rpcError: {
        code: JsonRpcErrorCode.InternalError,
        message: `result withheld: it contains sensitive data (${typesOf(tally).join(', ')})`,
        data: { rule: 'redact-block', types: typesOf(tally) },
      },
    };
  }
  if (tally.changed) {
    // A single-event answer that was masked cannot equal its original: spare the serialiser
    // re-reading the original to tell.
    if (body.events.length === 1) markEventEdited(body.events[0]!);
    ctx.responseMutations.markBodyModified();
  }
  return undefined;
}

export const plugin: Plugin<RedactConf, PreparedRedact> = {
  name: PLUGIN_NAME,
  confSchema,
  prepare: prepareRedact,
  onRequest,
  onResponse,
  needsResponseBody: needsResults,
  needsResponsePhase: needsResults,
};
