// The redaction engine shared by the plugins: detectors, span resolver, modes, JSON walking.
// mcp-redact applies it to arguments and results; any plugin that echoes a request value into
// an answer, a log line or an audit event passes it through redactEcho()/redactText() first.

export { DETECTOR_NAMES, TAX_ID_KINDS } from './pattern.js';
export type { DetectorName, Hit, TaxIdKind } from './pattern.js';
export { luhnValid, ibanChecksumValid, cardBrand, IBAN_LENGTHS } from './checks.js';
export { compileDetectors, resolveSpans } from './detectors.js';
export type { Detectors } from './detectors.js';
export { isSecretKeyName, normaliseKeyName } from './keyed.js';
export {
  compileRedaction, defaultRedaction, redactText, redactEcho, redactString, newTally, bump, normaliseKey, DEFAULT_FIELD_KEYS, FIELD_RULE, MODES, MAX_ECHO,
} from './engine.js';
export type { Mode, Redaction, RedactionConf, Tally } from './engine.js';
export { redactTree, parsePath, rootLive, MAX_DEPTH } from './tree.js';
