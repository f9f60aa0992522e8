// The response phase's reading of one answer beyond plain JSON walking:
//   - base64 `blob`s of text-like or JSON mime types are decoded, redacted and re-encoded;
//     a blob that cannot be read is passed or withheld as the conf says;
//   - a value cut in two between consecutive text pieces of one answer (content items, SSE
//     events, notifications) is found by scanning a bounded window across each cut.

import type { JsonObject, JsonValue } from '../../runner/mcp/types.js';
import { bump, redactString, type Redaction, type Tally } from './redactor.js';

/** How far back and ahead of a cut between two pieces a secret is looked for (characters). */
export const SPLIT_WINDOW = 1024;
/** How far the window may grow into the next piece for one long finding. */
const MAX_SPLIT_HEAD = 65536;

const TEXT_MIME = /^(?:text\/|message\/|application\/(?:json|[\w.+-]*\+json|x-ndjson|ndjson|xml|[\w.+-]*\+xml|yaml|x-yaml|toml|javascript|x-sh|sql|csv|x-www-form-urlencoded|graphql|x-httpd-php))/i;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Whether a blob of this mime type is text the detectors can read. */
export function isTextMime(mime: string | undefined): boolean {
  return mime !== undefined && TEXT_MIME.test(mime.trim());
}

/**
 * Whether `right` may continue `left` (a value cut between them): not when either side ends
 * a line at the cut, and not when `right` repeats `left` (an error message and its details,
 * a log line sent as a message and as progress).
 */
function continues(left: string, right: string): boolean {
  const last = left.charCodeAt(left.length - 1);
  const first = right.charCodeAt(0);
  if (last === 10 || last === 13 || first === 10 || first === 13) return false;
  if (left === right || right.startsWith(left.slice(0, 64))) return false;
  const tail = left.slice(-Math.min(32, left.length));
  const at = right.indexOf(tail);
  return at === -1 || at > SPLIT_WINDOW;
}

/** One text piece of the answer, in order: a string at holder[key]. */
interface Piece {
  holder: JsonObject;
  key: string;
}

/**
 * What the walk over one answer needs to know about blobs and cuts. `unreadable` is set
 * when a blob the conf requires readable could not be decoded.
 */
export class AnswerText {
  readonly pieces: Piece[] = [];
  unreadable = false;

  constructor(private readonly withholdUnreadable: boolean) {}

  /** Collect the text pieces below a result/params value (content texts, notification text). */
  collect(value: JsonValue | undefined, key: string): void {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) {
        if (typeof v === 'string' && (k === 'text' || k === 'message' || (k === 'data' && value['type'] !== 'image' && value['type'] !== 'audio'))) this.pieces.push({ holder: value, key: k });
        else if (typeof v === 'object' && v !== null) this.collect(v, k);
      }
    } else if (Array.isArray(value)) {
      for (const v of value) this.collect(v, key);
    }
  }

  /** Decode, redact and re-encode the blob at holder.blob; mark the answer unreadable if it must be withheld. */
  redactBlob(holder: JsonObject, r: Redaction, tally: Tally): void {
    const blob = holder['blob'];
    if (typeof blob !== 'string') return;
    const mime = typeof holder['mimeType'] === 'string' ? holder['mimeType'] : undefined;
    const textLike = isTextMime(mime);
    let text: string | undefined;
    if (textLike || mime === undefined) {
      try {
        text = strictUtf8.decode(Buffer.from(blob, 'base64'));
      } catch {
        text = undefined;
      }
      // Without a mime type, only what decodes to printable text is text.
      if (text !== undefined && !textLike && /[\u0000-\u0008\u000e-\u001f]/.test(text)) text = undefined;
    }
    if (text === undefined) {
      // A blob that says it is text but does not decode is withheld whatever the conf says;
      // binary blobs (images, archives) only when the conf asks for it.
      if (textLike || this.withholdUnreadable) {
        this.unreadable = true;
        bump(tally, 'unreadable_blob');
      }
      return;
    }
    const clean = redactString(text, r, tally);
    if (clean !== text) holder['blob'] = Buffer.from(clean, 'utf8').toString('base64');
  }

  /**
   * Scan across each cut between consecutive pieces (the tail of one and the head of the
   * next, SPLIT_WINDOW each): a finding that spans the cut masks its parts on both sides.
   * Runs before the pieces themselves are redacted (so their original text is joined).
   */
  redactAcrossCuts(r: Redaction, tally: Tally): void {
    for (let i = 0; i + 1 < this.pieces.length; i++) {
      const a = this.pieces[i]!;
      const b = this.pieces[i + 1]!;
      const left = a.holder[a.key] as string;
      const right = b.holder[b.key] as string;
      if (left.length === 0 || right.length === 0 || !continues(left, right)) continue;
      const tail = left.slice(-SPLIT_WINDOW);
      const cut = tail.length;
      // The head grows while a finding runs to its end (a long key block cut early), bounded.
      let size = SPLIT_WINDOW;
      let head = right.slice(0, size);
      let hits = r.detectors.scan(tail + head);
      while (size < right.length && size < MAX_SPLIT_HEAD && hits.some((h) => h.end >= cut + head.length)) {
        size *= 4;
        head = right.slice(0, size);
        hits = r.detectors.scan(tail + head);
      }
      // Findings across the cut, and findings in the head that needed the tail's context
      // (a label, a Kubernetes Secret's header): masked on their side(s) of the cut.
      let leftFrom = -1;
      const rightSpans: [number, number, string][] = [];
      for (const hit of hits) {
        // Tail-only findings are the left piece's own; a finding cut by the window's end is
        // left to the right piece's own scan.
        if (hit.end <= cut || (hit.start >= cut && hit.end >= cut + head.length && head.length < right.length)) continue;
        bump(tally, hit.detector);
        const mode = r.modeOf[hit.detector];
        if (mode === 'block') {
          tally.blocked = true;
          tally.blockedTypes.add(hit.detector);
          continue;
        }
        if (hit.start < cut && leftFrom === -1) leftFrom = left.length - cut + hit.start;
        rightSpans.push([Math.max(0, hit.start - cut), hit.end - cut, hit.detector]);
        if (mode === 'drop') {
          a.holder[a.key] = '[REDACTED]';
          b.holder[b.key] = '[REDACTED]';
          tally.changed = true;
          rightSpans.length = 0;
          leftFrom = -1;
          break;
        }
      }
      if (leftFrom !== -1) a.holder[a.key] = `${left.slice(0, leftFrom)}[REDACTED:${rightSpans[0]![2]}]`;
      if (rightSpans.length > 0) {
        let out = right;
        for (let k = rightSpans.length - 1; k >= 0; k--) {
          const [from, to, type] = rightSpans[k]!;
          out = `${out.slice(0, from)}${from === 0 && leftFrom !== -1 ? '' : `[REDACTED:${type}]`}${out.slice(to)}`;
        }
        b.holder[b.key] = out;
        tally.changed = true;
      }
    }
  }
}
