// Keeps the hand-written codec in sync with schemas/ext-plugin.fbs: the slot table the codec
// uses must equal the one derived from the schema (field order → id → slot = 4 + 2·id,
// unions taking two ids), and the enums must match.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SLOTS, UNIONS } from '../../runner/protocol/codec.js';
import { ErrCode, METHODS } from '../../runner/protocol/messages.js';

interface Schema {
  tables: Map<string, { name: string; type: string }[]>;
  unions: Map<string, string[]>;
  enums: Map<string, string[]>;
}

function parseFbs(text: string): Schema {
  const src = text.replace(/\/\/[^\n]*/g, '');
  const schema: Schema = { tables: new Map(), unions: new Map(), enums: new Map() };
  let ns = '';
  const re = /namespace\s+([\w.]+)\s*;|(table|union|enum)\s+(\w+)(?:\s*:\s*\w+)?\s*\{([^}]*)\}/g;
  for (let m = re.exec(src); m; m = re.exec(src)) {
    if (m[1]) {
      ns = m[1];
      continue;
    }
    const full = `${ns}.${m[3]}`;
    const bodyText = m[4] ?? '';
    if (m[2] === 'table') {
      const fields = bodyText
        .split(';')
        .map((s) => s.trim())
        .filter(Boolean)
        .map((f) => {
          const [name, type] = f.split(':').map((s) => s.trim());
          return { name: name!, type: type! };
        });
      schema.tables.set(full, fields);
    } else {
      const members = bodyText.split(',').map((s) => s.trim()).filter(Boolean);
      (m[2] === 'union' ? schema.unions : schema.enums).set(full, members);
    }
  }
  return schema;
}

const schema = parseFbs(readFileSync(new URL('../../../schemas/ext-plugin.fbs', import.meta.url), 'utf8'));

function resolveUnion(type: string, ns: string): string | undefined {
  for (const name of [`${ns}.${type}`, type]) if (schema.unions.has(name)) return name;
  return undefined;
}

test('the schema parses into the expected declarations', () => {
  assert.deepEqual([...schema.tables.keys()], [
    'A6.TextEntry', 'A6.DataEntry', 'A6.Err.Resp', 'A6.PrepareConf.Req', 'A6.PrepareConf.Resp',
    'A6.HTTPReqCall.Req', 'A6.HTTPReqCall.Stop', 'A6.HTTPReqCall.Rewrite', 'A6.HTTPReqCall.Resp',
    'A6.ExtraInfo.Var', 'A6.ExtraInfo.ReqBody', 'A6.ExtraInfo.RespBody', 'A6.ExtraInfo.Req', 'A6.ExtraInfo.Resp',
    'A6.HTTPRespCall.Req', 'A6.HTTPRespCall.Resp',
  ]);
});

test('codec slot table equals the slots derived from the .fbs field order', () => {
  const derived: Record<string, Record<string, number>> = {};
  for (const [table, fields] of schema.tables) {
    const ns = table.slice(0, table.lastIndexOf('.'));
    const slots: Record<string, number> = {};
    let id = 0;
    for (const f of fields) {
      if (resolveUnion(f.type, ns)) {
        slots[`${f.name}_type`] = 4 + 2 * id++;
      }
      slots[f.name] = 4 + 2 * id++;
    }
    derived[table] = slots;
  }
  assert.deepEqual(SLOTS, derived);
});

test('union member values follow declaration order (NONE = 0)', () => {
  const derived: Record<string, Record<string, number>> = {};
  for (const [name, members] of schema.unions) derived[name] = Object.fromEntries(members.map((m, i) => [m, i + 1]));
  assert.deepEqual(UNIONS, derived);
});

test('Method and Err.Code enums match the wire values used by the codec', () => {
  assert.deepEqual(schema.enums.get('A6.Method'), [...METHODS]);
  assert.deepEqual(schema.enums.get('A6.Err.Code'), ['BAD_REQUEST', 'SERVICE_UNAVAILABLE', 'CONF_TOKEN_NOT_FOUND']);
  assert.deepEqual([ErrCode.BadRequest, ErrCode.ServiceUnavailable, ErrCode.ConfTokenNotFound], [0, 1, 2]);
});
