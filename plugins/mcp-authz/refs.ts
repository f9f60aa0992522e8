// Secret and key references in mcp-authz confs, on top of the shared runner/secrets layer:
// '$env://NAME' and '$file://path' are resolved to handles that re-read on change (a rotated
// Kubernetes secret is picked up without a restart). Secrets (HMAC keys) must be references
// unless allow_literal_secrets is on; public keys are not secret and may also be written
// literally (PEM or JWK). Errors name the conf field and the reference, never a value.

import { isSecretRef, secretFromConf, type SecretHandle } from '../../runner/secrets/index.js';

/** A conf value read per use: a secret handle, or a literal that never changes. */
export interface KeyMaterial {
  /** The current text; undefined while the reference cannot be resolved. */
  value(): string | undefined;
  /** Safe to log: the reference, or 'literal <field>'. */
  describe(): string;
  /** Why value() is undefined. */
  problem(): string | undefined;
}

/**
 * A secret (HMAC key, shared secret): a reference, or a literal only when allowed. Waits for
 * the first read so prepare can refuse a reference that does not resolve.
 */
export async function secretMaterial(text: string, field: string, allowLiteral: boolean): Promise<SecretHandle> {
  const handle = secretFromConf(text, { field, allowLiteral });
  await handle.ready();
  if (handle.value() === undefined) throw new Error(`${field}: ${handle.describe()} cannot be resolved (${handle.problem() ?? 'empty'})`);
  return handle;
}

/** A public key: a reference (re-read on change) or literal PEM/JWK text. */
export async function publicKeyMaterial(text: string, field: string): Promise<KeyMaterial> {
  if (!isSecretRef(text)) {
    return { value: () => text, describe: () => `literal ${field}`, problem: () => undefined };
  }
  // Public keys are not secrets, but a reference to one goes through the same watched layer.
  return secretMaterial(text, field, false);
}
