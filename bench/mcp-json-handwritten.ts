// A complete hand-written strict JSON parser, kept only as the benchmark baseline that
// runner/mcp/json.ts (JSON.parse + key scan) was chosen against. Same rules: duplicate keys,
// lone surrogates, depth, trailing garbage. Not used by the gateway.

import type { JsonObject, JsonValue } from '../runner/mcp/types.js';

class Refusal extends Error {}

export function parseHandwritten(text: string, maxDepth = 64): JsonValue {
  let i = 0;
  const n = text.length;
  const fail = (what: string): never => {
    throw new Refusal(`${what} at position ${i}`);
  };
  const ws = (): void => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else return;
    }
  };
  const string = (): string => {
    i++; // opening quote
    let start = i;
    let out = '';
    let pendingHigh = false;
    for (;;) {
      if (i >= n) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        if (pendingHigh) fail('lone surrogate');
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c < 0x20) fail('control character in string');
      if (c === 0x5c) {
        out += text.slice(start, i);
        const e = text.charCodeAt(i + 1);
        let unit = -1;
        switch (e) {
          case 0x22: out += '"'; break;
          case 0x5c: out += '\\'; break;
          case 0x2f: out += '/'; break;
          case 0x62: out += '\b'; break;
          case 0x66: out += '\f'; break;
          case 0x6e: out += '\n'; break;
          case 0x72: out += '\r'; break;
          case 0x74: out += '\t'; break;
          case 0x75: {
            const hex = text.slice(i + 2, i + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
            unit = parseInt(hex, 16);
            out += String.fromCharCode(unit);
            i += 4;
            break;
          }
          default: fail('bad escape');
        }
        if (pendingHigh && !(unit >= 0xdc00 && unit <= 0xdfff)) fail('lone surrogate');
        if (!pendingHigh && unit >= 0xdc00 && unit <= 0xdfff) fail('lone surrogate');
        pendingHigh = unit >= 0xd800 && unit <= 0xdbff;
        i += 2;
        start = i;
        continue;
      }
      if (pendingHigh) fail('lone surrogate');
      i++;
    }
  };
  const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
  const value = (depth: number): JsonValue => {
    ws();
    const c = text.charCodeAt(i);
    if (c === 0x22) return string();
    if (c === 0x7b) {
      if (depth >= maxDepth) fail('nesting too deep');
      i++;
      const object: JsonObject = {};
      ws();
      if (text.charCodeAt(i) === 0x7d) {
        i++;
        return object;
      }
      for (;;) {
        ws();
        if (text.charCodeAt(i) !== 0x22) fail('expected key');
        const key = string();
        if (Object.hasOwn(object, key)) fail(`duplicate key ${JSON.stringify(key)}`);
        ws();
        if (text.charCodeAt(i) !== 0x3a) fail('expected colon');
        i++;
        const v = value(depth + 1);
        if (key === '__proto__') Object.defineProperty(object, key, { value: v, writable: true, enumerable: true, configurable: true });
        else object[key] = v;
        ws();
        const d = text.charCodeAt(i++);
        if (d === 0x7d) return object;
        if (d !== 0x2c) fail('expected , or }');
      }
    }
    if (c === 0x5b) {
      if (depth >= maxDepth) fail('nesting too deep');
      i++;
      const array: JsonValue[] = [];
      ws();
      if (text.charCodeAt(i) === 0x5d) {
        i++;
        return array;
      }
      for (;;) {
        array.push(value(depth + 1));
        ws();
        const d = text.charCodeAt(i++);
        if (d === 0x5d) return array;
        if (d !== 0x2c) fail('expected , or ]');
      }
    }
    if (text.startsWith('true', i)) { i += 4; return true; }
    if (text.startsWith('false', i)) { i += 5; return false; }
    if (text.startsWith('null', i)) { i += 4; return null; }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m === null) return fail('unexpected character');
    i += m[0].length;
    return Number(m[0]);
  };
  const result = value(0);
  ws();
  if (i !== n) fail('trailing characters');
  return result;
}
