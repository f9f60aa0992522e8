// text/event-stream parse and serialise (WHATWG HTML "server-sent events" line rules).
//
// Parsing: lines end with \r\n, \n or \r. A line starting with ':' is a comment; otherwise
// "field:value" with one optional space after the colon removed, or a bare "field" with an
// empty value. `data` lines are joined with \n; `id` (ignored when it holds NUL), `event`
// and `retry` (digits only) are kept; unknown fields are ignored. A blank line ends a block.
//
// Decisions where a browser would behave differently, because a gateway must account for
// every byte it lets through:
// - Every block becomes an SseEvent, also blocks without data lines (keep-alive comments,
//   the "priming" id-only event of newer MCP servers). Browsers dispatch nothing for them.
// - A last block that is not closed by a blank line (stream cut, or upstream did not end it)
//   is still returned, so policy sees it; it is serialised again WITHOUT the closing blank
//   line, so clients treat it exactly as they would have.
// - `json`: the data read with the strict reader (duplicate keys etc. → undefined plus
//   `jsonError`), the same reader as for requests: what the gateway inspects must be what
//   the client reads.
//
// Serialising is lossless: every parsed event remembers its exact source text, and an event
// whose fields and JSON are unchanged is written back byte for byte. Changed or new events
// are written as comments, event:, id:, retry:, data: lines (data split on \n), blank line.

import { parseStrictJsonText } from './json.js';
import type { JsonValue, SseEvent } from './types.js';

/** What an event looked like when parsed, to tell unchanged events from edited ones. */
interface EventSource {
  readonly text: string;
  readonly data: string;
  readonly id: string | undefined;
  readonly event: string | undefined;
  readonly retry: string | undefined;
  readonly comments: string | undefined;
  readonly hadData: boolean;
  readonly hadJson: boolean;
  readonly terminated: boolean;
  /** Set by a plugin that knows it edited the JSON: no need to re-read the original to tell. */
  edited?: boolean;
}

const sources = new WeakMap<SseEvent, EventSource>();

/** Nesting limit for JSON inside responses (results can be deeper than requests). */
export const MAX_RESPONSE_JSON_DEPTH = 128;

/** Parse a whole SSE body (already decoded text). */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  const length = text.length;
  let pos = 0;
  let blockStart = 0;
  // The fields of the block being read.
  let dataLines: string[] | undefined;
  let id: string | undefined;
  let eventName: string | undefined;
  let retry: string | undefined;
  let comments: string[] | undefined;
  let hasLines = false;

  const finish = (end: number, terminated: boolean): void => {
    const data = dataLines === undefined ? '' : dataLines.join('\n');
    const event: SseEvent = { data, json: undefined };
    if (id !== undefined) event.id = id;
    if (eventName !== undefined) event.event = eventName;
    if (retry !== undefined) event.retry = retry;
    if (comments !== undefined) event.comments = comments;
    if (dataLines !== undefined) readJson(event);
    sources.set(event, {
      text: text.slice(blockStart, end),
      data,
      id,
      event: eventName,
      retry,
      comments: comments?.join('\n'),
      hadData: dataLines !== undefined,
      hadJson: event.json !== undefined,
      terminated,
    });
    events.push(event);
    dataLines = undefined;
    id = eventName = retry = undefined;
    comments = undefined;
    hasLines = false;
  };

  // A leading BOM is not part of the first line (it stays in that event's source text).
  if (text.charCodeAt(0) === 0xfeff) pos = 1;

  while (pos < length) {
    let lineEnd = pos;
    while (lineEnd < length) {
      const c = text.charCodeAt(lineEnd);
      if (c === 0x0a || c === 0x0d) break;
      lineEnd += 1;
    }
    let next = lineEnd;
    if (lineEnd < length) next += text.charCodeAt(lineEnd) === 0x0d && text.charCodeAt(lineEnd + 1) === 0x0a ? 2 : 1;

    if (lineEnd === pos && lineEnd < length) {
      // Blank line: ends the block (a blank line with nothing before it is its own block,
      // so that the bytes survive a round trip).
      finish(next, true);
      blockStart = next;
      pos = next;
      continue;
    }
    hasLines = true;
    const line = text.slice(pos, lineEnd);
    if (line.charCodeAt(0) === 0x3a) {
      (comments ??= []).push(line.slice(1));
    } else {
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.charCodeAt(0) === 0x20) value = value.slice(1);
      if (field === 'data') (dataLines ??= []).push(value);
      else if (field === 'id') {
        if (!value.includes('\0')) id = value;
      } else if (field === 'event') eventName = value;
      else if (field === 'retry') {
        if (/^[0-9]+$/.test(value)) retry = value;
      }
    }
    pos = next;
  }
  if (hasLines) finish(length, false);
  else if (blockStart < length) finish(length, false);
  return events;
}

function readJson(event: SseEvent): void {
  if (event.data === '') return;
  const result = parseStrictJsonText(event.data, { maxDepth: MAX_RESPONSE_JSON_DEPTH });
  if (result.ok) event.json = result.value;
  else event.jsonError = result.message;
}

/** Serialise events; unchanged parsed events come back byte for byte. */
export function serializeSse(events: readonly SseEvent[]): string {
  return writeSse(events).text;
}

/**
 * The text of `events`, and whether some event differs from what was parsed (for the
 * caller that can then hand back the original bytes). Each event's change is told once.
 */
export function writeSse(events: readonly SseEvent[]): { text: string; changed: boolean } {
  let text = '';
  let changed = false;
  for (const event of events) {
    const source = sources.get(event);
    const written = writeChangedEvent(event, source);
    if (written === undefined) text += source!.text;
    else {
      text += written;
      changed = true;
    }
  }
  return { text, changed };
}

/** An event's text when it is new or edited; undefined when it is still as parsed. */
function writeChangedEvent(event: SseEvent, source: EventSource | undefined): string | undefined {
  // Edited JSON is written with the stringify that told the edit.
  let jsonText: string | undefined;
  if (source !== undefined && sameFields(event, source)) {
    if (event.json === undefined) {
      if (!source.hadJson) return undefined;
    } else {
      jsonText = textIfChanged(event.json, source);
      if (jsonText === undefined) return undefined;
    }
  } else if (event.json !== undefined) {
    jsonText = source === undefined ? JSON.stringify(event.json) : textIfChanged(event.json, source);
  }
  let out = '';
  if (event.comments !== undefined) for (const comment of event.comments) out += `:${comment}\n`;
  if (event.event !== undefined) out += `event: ${event.event}\n`;
  if (event.id !== undefined) out += `id: ${event.id}\n`;
  if (event.retry !== undefined) out += `retry: ${event.retry}\n`;
  const data = jsonText ?? plainData(event, source);
  if (data !== undefined) for (const line of data.split('\n')) out += `data: ${line}\n`;
  if (source === undefined || source.terminated) out += '\n';
  return out;
}

/** The data text of an event whose JSON was not edited, or undefined for "no data lines". */
function plainData(event: SseEvent, source: EventSource | undefined): string | undefined {
  if (source !== undefined && !source.hadData && event.data === '' && event.json === undefined) return undefined;
  return event.data;
}

/** Whether a parsed event is still as parsed (false for events made after parsing). */
export function eventUnchanged(event: SseEvent): boolean {
  const source = sources.get(event);
  return source !== undefined && isUnchanged(event, source);
}

/**
 * Remember `event` as parsed from `text` (used for the single event of a JSON body), so
 * that eventUnchanged and the serialisers can tell edits apart.
 */
export function rememberParsedEvent(event: SseEvent, text: string): void {
  sources.set(event, {
    text,
    data: event.data,
    id: event.id,
    event: event.event,
    retry: event.retry,
    comments: event.comments?.join('\n'),
    hadData: true,
    hadJson: event.json !== undefined,
    terminated: true,
  });
}

function isUnchanged(event: SseEvent, source: EventSource): boolean {
  if (!sameFields(event, source)) return false;
  if (event.json === undefined) return !source.hadJson;
  return jsonUnchanged(event.json, source.data);
}

/** The event's data and fields (not its JSON value) are as parsed. */
function sameFields(event: SseEvent, source: EventSource): boolean {
  return (
    event.data === source.data &&
    event.id === source.id &&
    event.event === source.event &&
    event.retry === source.retry &&
    event.comments?.join('\n') === source.comments
  );
}

/**
 * Whether `json` still says what `data` said. Most servers write compact JSON, so one
 * stringify and a string compare settle it; otherwise the original is normalised too.
 * (Plugins edit `json` in place, so there is no cheaper change flag to trust.)
 */
export function jsonUnchanged(json: JsonValue, originalData: string): boolean {
  return jsonTextIfChanged(json, originalData) === undefined;
}

/**
 * Tell the serialisers that this parsed event's JSON was edited (a value replaced by one it
 * cannot equal): its text is then written without re-parsing the original to compare.
 */
export function markEventEdited(event: SseEvent): void {
  const source = sources.get(event);
  if (source !== undefined) source.edited = true;
}

/** The JSON text of `json` when it no longer says what the source's data said; undefined when unchanged. */
function textIfChanged(json: JsonValue, source: EventSource): string | undefined {
  return source.edited === true ? JSON.stringify(json) : jsonTextIfChanged(json, source.data);
}

function jsonTextIfChanged(json: JsonValue, originalData: string): string | undefined {
  const fresh = JSON.stringify(json);
  if (fresh === originalData) return undefined;
  try {
    return JSON.stringify(JSON.parse(originalData)) === fresh ? undefined : fresh;
  } catch {
    return fresh;
  }
}

/**
 * For serialisers: whether a parsed event changed, and when its value did, the JSON text to
 * write (the same stringify that told the change, so it is not done twice).
 */
export function eventChange(event: SseEvent): { changed: boolean; jsonText: string | undefined } {
  const source = sources.get(event);
  const fresh = (): string | undefined => (event.json === undefined ? undefined : JSON.stringify(event.json));
  if (source === undefined) return { changed: true, jsonText: fresh() };
  if (!sameFields(event, source)) return { changed: true, jsonText: fresh() };
  if (event.json === undefined) return { changed: source.hadJson, jsonText: undefined };
  const text = textIfChanged(event.json, source);
  return { changed: text !== undefined, jsonText: text };
}
