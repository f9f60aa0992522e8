// The shared policy module: plugins import what they ask of a policy from here.
//   document.ts     the document shape, route and actor entry lists
//   validate.ts     YAML + JSON Schema validation with field paths
//   compile.ts      the compiled indexes authorization decides on
//   route-rules.ts  route rules as other plugins read them (limits, redaction)
//   source.ts       one watched, hot-reloaded file
//   service.ts      the per-runner registry of sources (RunnerState.policies)

export * from './document.js';
export * from './validate.js';
export * from './compile.js';
export * from './route-rules.js';
export * from './source.js';
export * from './service.js';
