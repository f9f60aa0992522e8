// Secret and key references in confs: '$env://NAME' reads an environment variable,
// '$file://path' reads a file (at prepare time, never per call); anything else is the
// literal value. Errors name the reference, never the secret.

import { readFile } from 'node:fs/promises';

export async function resolveRef(value: string, field: string): Promise<string> {
  if (value.startsWith('$env://')) {
    const name = value.slice('$env://'.length);
    const v = process.env[name];
    if (v === undefined || v === '') throw new Error(`${field}: environment variable ${name} is not set`);
    return v;
  }
  if (value.startsWith('$file://')) {
    const path = value.slice('$file://'.length);
    try {
      const text = await readFile(path, 'utf8');
      if (text.trim() === '') throw new Error('file is empty');
      return text;
    } catch (err) {
      throw new Error(`${field}: cannot read ${path}: ${(err as Error).message}`);
    }
  }
  return value;
}

export function isRef(value: string): boolean {
  return value.startsWith('$env://') || value.startsWith('$file://');
}
