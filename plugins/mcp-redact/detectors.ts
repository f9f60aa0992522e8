// The detectors live in the shared engine (runner/redact/); re-exported for this plugin's modules.
export { compileDetectors, DETECTOR_NAMES, TAX_ID_KINDS, luhnValid, ibanChecksumValid, cardBrand, IBAN_LENGTHS } from '../../runner/redact/index.js';
export type { DetectorName, Detectors, Hit, TaxIdKind } from '../../runner/redact/index.js';
