/**
 * Private signing keys at rest: AES-256-GCM under the master key, with the key id as associated
 * data so that a stored envelope cannot be moved to another key's row. Without a master key the key
 * is stored as it is, and the server warns at start. While the master key changes, the previous one
 * still opens what it sealed (LATCHKEY_MASTER_KEY_PREVIOUS); only the current one seals.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const ENVELOPE_PREFIX = 'lk-aes256gcm.v1.';

export function sealPrivateKey(masterKey: Buffer | null, kid: string, plaintext: string): string {
  if (masterKey === null) return plaintext;
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
  cipher.setAAD(Buffer.from(kid, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `${ENVELOPE_PREFIX}${[iv, ciphertext, cipher.getAuthTag()].map((part) => part.toString('base64url')).join('.')}`;
}

export function isSealed(stored: string): boolean {
  return stored.startsWith(ENVELOPE_PREFIX);
}

export function openPrivateKey(
  masterKey: Buffer | null,
  kid: string,
  stored: string,
  previousMasterKey: Buffer | null = null,
): string {
  if (!isSealed(stored)) return stored;
  if (masterKey === null) {
    throw new Error('signing keys in the database are encrypted, but LATCHKEY_MASTER_KEY is not set');
  }
  const [iv, ciphertext, tag] = stored
    .slice(ENVELOPE_PREFIX.length)
    .split('.')
    .map((part) => Buffer.from(part, 'base64url'));
  if (iv === undefined || ciphertext === undefined || tag === undefined) {
    throw new Error(`signing key ${kid} is stored in an unreadable form`);
  }
  for (const key of previousMasterKey === null ? [masterKey] : [masterKey, previousMasterKey]) {
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAAD(Buffer.from(kid, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
    } catch {
      // The next key, if any: GCM's tag tells a wrong key apart, so no plaintext is ever guessed at.
    }
  }
  throw new Error(
    previousMasterKey === null
      ? `signing key ${kid} cannot be decrypted: is LATCHKEY_MASTER_KEY the key it was stored with?`
      : `signing key ${kid} cannot be decrypted with LATCHKEY_MASTER_KEY nor with LATCHKEY_MASTER_KEY_PREVIOUS`,
  );
}

/** Whether `stored` is sealed, and with `masterKey`: what re-sealing after a change has left to do. */
export function isSealedWith(masterKey: Buffer, kid: string, stored: string): boolean {
  if (!isSealed(stored)) return false;
  try {
    openPrivateKey(masterKey, kid, stored);
    return true;
  } catch {
    return false;
  }
}
