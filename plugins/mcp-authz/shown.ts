// The arguments as a person reviewing a risky call sees them (approval page, client form):
// a copy passed through the shared redaction engine (cards, tax ids, keys, tokens, secret key
// names masked), so the review never shows more than the audit would.

import type { JsonObject, JsonValue } from '../../runner/mcp/types.js';
import { defaultRedaction, newTally, redactTree } from '../../runner/redact/index.js';

export function shownArguments(value: JsonValue): JsonValue {
  const copy = { value: structuredClone(value) } as JsonObject;
  redactTree(copy, [], defaultRedaction(), newTally());
  return copy['value'] ?? null;
}
