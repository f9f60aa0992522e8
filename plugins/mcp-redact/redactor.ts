// The redaction engine lives in runner/redact/ (shared with the plugins that echo request
// values); re-exported for this plugin's modules.
export {
  compileRedaction, defaultRedaction, redactText, redactEcho, redactString, redactTree, newTally, bump, normaliseKey, parsePath, rootLive,
  DEFAULT_FIELD_KEYS, FIELD_RULE, MODES, MAX_DEPTH,
} from '../../runner/redact/index.js';
export type { Mode, Redaction, RedactionConf, Tally } from '../../runner/redact/index.js';
