// Hand-written FlatBuffers codec for schemas/ext-plugin.fbs (docs/ext-plugin-protocol.md §5), in three parts:
// codec-layout.ts holds the field layout (vtable slots, union values), codec-encode.ts
// builds messages and the runner's outgoing frames, codec-decode.ts reads them with bounds
// checks on every offset. Callers import from here.

export { DecodeError, SLOTS, UNIONS } from './codec-layout.js';
export * from './codec-encode.js';
export * from './codec-decode.js';
