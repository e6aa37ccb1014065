/**
 * Server secrets shared through the store, sealed under the master key as the private signing keys
 * are. The refresh-token secret derives each refresh token's successor (HMAC), so whoever holds it
 * and any old token of a family can compute the family's live token: a database dump must not give
 * it away where the master key protects the signing keys. Sealed with the secret's name as associated
 * data, so that an envelope cannot be moved to another secret's (or a key's) row.
 */
import type { KeyStore } from '../store/types.js';
import { isSealed, isSealedWith, openPrivateKey, sealPrivateKey } from './key-encryption.js';

export interface MasterKeys {
  masterKey: Buffer | null;
  previousMasterKey: Buffer | null;
}

/** Associated data of a sealed secret: "secret:" cannot begin a kid (base64url). */
const associatedData = (name: string) => `secret:${name}`;

/** Why a stored secret cannot be read with these master keys, in the words of the setting to fix. */
export class SecretUnreadable extends Error {
  override readonly name = 'SecretUnreadable';
}

/**
 * The secret `name`: made by `create` and stored (sealed, with a master key) by the first process to
 * ask, read by every later one. Stored before a master key was set, it is used as it is until `latchkey
 * keys reseal` seals it.
 */
export async function sharedSecret(
  store: KeyStore,
  name: string,
  keys: MasterKeys,
  create: () => string,
): Promise<{ text: string; sealed: boolean }> {
  const stored = await storedOrCreated(store, name, keys.masterKey, create);
  return { text: openSecret(name, stored, keys), sealed: isSealed(stored) };
}

/** What is stored under `name`, or else a new secret from `create`, sealed with `masterKey` when set. */
function storedOrCreated(
  store: KeyStore,
  name: string,
  masterKey: Buffer | null,
  create: () => string,
): Promise<string> {
  return store.ensureSecret(name, sealPrivateKey(masterKey, associatedData(name), create()));
}

function openSecret(name: string, stored: string, keys: MasterKeys): string {
  if (isSealed(stored) && keys.masterKey === null) {
    throw new SecretUnreadable(`the stored ${name} secret is encrypted, but LATCHKEY_MASTER_KEY is not set`);
  }
  try {
    return openPrivateKey(keys.masterKey, associatedData(name), stored, keys.previousMasterKey);
  } catch {
    throw new SecretUnreadable(
      keys.previousMasterKey === null
        ? `the stored ${name} secret cannot be decrypted: is LATCHKEY_MASTER_KEY the key it was stored with?`
        : `the stored ${name} secret cannot be decrypted with LATCHKEY_MASTER_KEY nor with LATCHKEY_MASTER_KEY_PREVIOUS`,
    );
  }
}

export type SecretResealing = 'resealed' | 'unchanged' | { unreadable: string };

/**
 * After the master key changed (or was set for the first time): the secret sealed with the current
 * master key, replaced only if its row still holds what was read, so that processes doing this at
 * once never overwrite each other. The secret itself, and so every refresh token, stays as it is.
 */
export async function resealSecret(
  store: KeyStore,
  name: string,
  keys: MasterKeys & { masterKey: Buffer },
  create: () => string,
): Promise<SecretResealing> {
  const stored = await storedOrCreated(store, name, keys.masterKey, create);
  if (isSealedWith(keys.masterKey, associatedData(name), stored)) return 'unchanged';
  let text: string;
  try {
    text = openSecret(name, stored, keys);
  } catch (error) {
    return { unreadable: (error as Error).message };
  }
  const sealed = sealPrivateKey(keys.masterKey, associatedData(name), text);
  if (await store.replaceSecret(name, stored, sealed)) return 'resealed';
  // Another process replaced it meanwhile: done only if it sealed it with this master key too.
  const now = await store.ensureSecret(name, sealed);
  return isSealedWith(keys.masterKey, associatedData(name), now)
    ? 'unchanged'
    : { unreadable: `another process stored the ${name} secret meanwhile, sealed otherwise: run this again` };
}
