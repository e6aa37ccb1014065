import { describe, expect, it } from 'vitest';
import { isSealed, openPrivateKey, sealPrivateKey } from '../../src/auth/key-encryption.js';
import { type SigningKeyPolicy, SigningKeys } from '../../src/auth/signing-keys.js';
import { createSigner, createVerifier } from '../../src/jwt/index.js';
import { MemoryStore } from '../../src/store/memory.js';

const DAY = 86_400_000;
const T0 = 1_800_000_000_000;

/** What `keys list` shows of key `kid`. */
const listed = (keys: SigningKeys, kid: string | undefined) => keys.list().find((key) => key.kid === kid);

const policy: SigningKeyPolicy = {
  alg: 'ES256',
  rotationMs: 30 * DAY,
  prePublishMs: 2 * DAY,
  retentionMs: 930_000,
};

describe('private key encryption at rest', () => {
  const masterKey = Buffer.alloc(32, 7);

  it('seals with AES-256-GCM bound to the kid and opens again', () => {
    const sealed = sealPrivateKey(masterKey, 'kid-1', 'secret pem');
    expect(isSealed(sealed)).toBe(true);
    expect(sealed).not.toContain('secret pem');
    expect(openPrivateKey(masterKey, 'kid-1', sealed)).toBe('secret pem');
  });

  it('refuses another kid, another master key, a changed envelope, and a missing master key', () => {
    const sealed = sealPrivateKey(masterKey, 'kid-1', 'secret pem');
    expect(() => openPrivateKey(masterKey, 'kid-2', sealed)).toThrow(
      'signing key kid-2 cannot be decrypted: is LATCHKEY_MASTER_KEY the key it was stored with?',
    );
    expect(() => openPrivateKey(Buffer.alloc(32, 8), 'kid-1', sealed)).toThrow('cannot be decrypted');
    const flipped = `${sealed.slice(0, -2)}${sealed.at(-2) === 'A' ? 'B' : 'A'}${sealed.slice(-1)}`;
    expect(() => openPrivateKey(masterKey, 'kid-1', flipped)).toThrow('cannot be decrypted');
    expect(() => openPrivateKey(null, 'kid-1', sealed)).toThrow(
      'signing keys in the database are encrypted, but LATCHKEY_MASTER_KEY is not set',
    );
  });

  it('stores the text as it is without a master key', () => {
    expect(sealPrivateKey(null, 'k', 'pem')).toBe('pem');
    expect(openPrivateKey(null, 'k', 'pem')).toBe('pem');
  });
});

describe('SigningKeys', () => {
  it('creates one active key on first start and publishes only its public half', async () => {
    const store = new MemoryStore();
    const keys = new SigningKeys(store, policy, Buffer.alloc(32, 1), () => T0);
    await keys.maintain();
    expect(keys.list()).toMatchObject([
      { state: 'active', alg: 'ES256', activatesAt: T0, retiresAt: T0 + 30 * DAY },
    ]);
    expect(keys.verificationKeys.toJWKS().keys[0]).not.toHaveProperty('d');
    const [record] = await store.listSigningKeys();
    expect(isSealed(record?.privateKey ?? '')).toBe(true);
  });

  it('pre-publishes the next key, switches to it on time, and keeps the old one until its tokens expire', async () => {
    let now = T0;
    const store = new MemoryStore();
    const keys = new SigningKeys(store, policy, null, () => now);
    await keys.maintain();
    const first = keys.signingKey.kid;
    now = T0 + 27 * DAY;
    await keys.maintain();
    expect(keys.list().map((key) => key.state)).toEqual(['active']);
    now = T0 + 28 * DAY;
    await keys.maintain();
    expect(
      keys
        .list()
        .map((key) => key.state)
        .sort(),
    ).toEqual(['active', 'next']);
    expect(keys.signingKey.kid).toBe(first);
    expect(keys.verificationKeys.size).toBe(2);
    now = T0 + 30 * DAY;
    await keys.maintain();
    expect(keys.signingKey.kid).not.toBe(first);
    expect(keys.verificationKeys.select('ES256', first)).toBeDefined();
    now = T0 + 30 * DAY + policy.retentionMs + 1;
    await keys.maintain();
    expect(keys.verificationKeys.select('ES256', first)).toBeUndefined();
    expect(await store.listSigningKeys()).toHaveLength(1);
  });

  it('rotates on demand; a second instance on the same store signs with the same key', async () => {
    const store = new MemoryStore();
    let now = T0;
    const a = new SigningKeys(store, policy, null, () => now);
    await a.maintain();
    const old = a.signingKey.kid;
    now += 1000;
    const kid = await a.rotate();
    expect(a.signingKey.kid).toBe(old);
    expect(listed(a, kid)?.state).toBe('next');
    expect(a.verificationKeys.select('ES256', kid)).toBeDefined();
    now += 10 * 60_000;
    await a.reload();
    expect(a.signingKey.kid).toBe(kid);
    now += 1;
    const immediate = await a.rotate(0);
    expect(a.signingKey.kid).toBe(immediate);
    const b = new SigningKeys(store, policy, null, () => now);
    await b.maintain();
    expect(b.signingKey.kid).toBe(immediate);
    const token = createSigner({ key: a.signingKey, expiresInSeconds: 60, now: () => T0 })({ sub: 'x' });
    expect(createVerifier({ key: b.verificationKeys, now: () => T0 })(token).payload.sub).toBe('x');
  });

  it('keeps HS256 secrets out of the JWKS', async () => {
    const keys = new SigningKeys(new MemoryStore(), { ...policy, alg: 'HS256' }, null, () => T0);
    await keys.maintain();
    expect(keys.signingKey.kind).toBe('secret');
    expect(keys.verificationKeys.toJWKS()).toEqual({ keys: [] });
  });

  it('rotates at once: the old key leaves the JWKS when its tokens have expired, not 30 days later', async () => {
    let now = T0;
    const keys = new SigningKeys(new MemoryStore(), policy, null, () => now);
    await keys.maintain();
    const old = keys.signingKey.kid;
    now = T0 + DAY;
    const kid = await keys.rotate(0);
    expect(keys.signingKey.kid).toBe(kid);
    expect(listed(keys, old)).toMatchObject({
      state: 'retired',
      retiresAt: T0 + DAY,
      expiresAt: T0 + DAY + policy.retentionMs,
    });
    now = T0 + DAY + policy.retentionMs - 1;
    await keys.maintain();
    expect(keys.verificationKeys.select('ES256', old)).toBeDefined();
    now = T0 + DAY + policy.retentionMs;
    await keys.maintain();
    expect(keys.verificationKeys.select('ES256', old)).toBeUndefined();
    expect(keys.list().map((key) => key.kid)).toEqual([kid]);
  });

  it('revokes the active key: out of the JWKS at once, and a never-published key signs', async () => {
    let now = T0;
    const store = new MemoryStore();
    const keys = new SigningKeys(store, policy, null, () => now);
    await keys.maintain();
    const old = keys.signingKey;
    const oldKid = old.kid ?? '';
    const token = createSigner({ key: old, expiresInSeconds: 600, now: () => now })({ sub: 'x' });
    const verify = createVerifier({ key: keys.verificationKeys, now: () => now, cache: { maxEntries: 10 } });
    expect(verify(token).payload.sub).toBe('x');
    now += 1000;
    const revocation = await keys.revoke(oldKid);
    expect(revocation).toEqual({ outcome: 'revoked', replacementKid: expect.any(String) });
    if (revocation.outcome !== 'revoked') return;
    expect(keys.signingKey.kid).toBe(revocation.replacementKid);
    expect(keys.verificationKeys.keys.map((key) => key.kid)).toEqual([revocation.replacementKid]);
    // The verifier's token cache went with the key set: the cached token is refused too.
    expect(() => verify(token)).toThrow(expect.objectContaining({ code: 'ERR_JWKS_NO_MATCHING_KEY' }));
    expect(keys.list().map(({ kid, state }) => [kid, state])).toEqual([
      [old.kid, 'revoked'],
      [revocation.replacementKid, 'active'],
    ]);
    // Another instance reading the store sees the same.
    const other = new SigningKeys(store, policy, null, () => now);
    await other.maintain();
    expect(other.signingKey.kid).toBe(revocation.replacementKid);
    expect(other.verificationKeys.select('ES256', old.kid)).toBeUndefined();
    expect(await keys.revoke(oldKid)).toEqual({ outcome: 'already-revoked', revokedAt: T0 + 1000 });
    expect(await keys.revoke('no-such-kid')).toEqual({ outcome: 'unknown' });
  });

  it('replaces a key scheduled to take over later: one change of signing key, not two', async () => {
    let now = T0;
    const keys = new SigningKeys(new MemoryStore(), policy, null, () => now);
    await keys.maintain();
    const first = keys.signingKey.kid;
    // The regular next key, published two days before the first retires.
    now = T0 + 28 * DAY + 1;
    await keys.maintain();
    const scheduled = keys.list().find((key) => key.state === 'next')?.kid;
    expect(scheduled).toBeDefined();
    now += 1000;
    const urgent = await keys.rotate(0);
    expect(keys.signingKey.kid).toBe(urgent);
    expect(listed(keys, scheduled)?.state).toBe('revoked');
    expect(keys.verificationKeys.keys.map((key) => key.kid).sort()).toEqual([first, urgent].sort());
    // Past the scheduled key's activation the rotated key still signs; maintenance plans its successor.
    now = T0 + 31 * DAY;
    await keys.maintain();
    expect(keys.signingKey.kid).toBe(urgent);
    // And an earlier rotate's pending key is replaced the same way by rotate --now.
    const pending = await keys.rotate();
    const now2 = await keys.rotate(0);
    expect(keys.signingKey.kid).toBe(now2);
    expect(listed(keys, pending)?.state).toBe('revoked');
    expect(keys.list().filter((key) => key.state === 'next')).toEqual([]);
  });

  it('withdraws an earlier rotate still pending when the active key signs until the new one: one change', async () => {
    let now = T0;
    const keys = new SigningKeys(new MemoryStore(), policy, null, () => now);
    await keys.maintain();
    const active = keys.signingKey.kid;
    const first = await keys.rotate();
    now += 4000;
    const second = await keys.rotate();
    expect(listed(keys, first)?.state).toBe('revoked');
    expect(
      keys
        .list()
        .filter((key) => key.state === 'next')
        .map((key) => key.kid),
    ).toEqual([second]);
    // The active key signs on until the second takes over, and nothing comes between them.
    now += 10 * 60_000 - 2000;
    await keys.reload();
    expect(keys.signingKey.kid).toBe(active);
    now += 3000;
    await keys.reload();
    expect(keys.signingKey.kid).toBe(second);
  });

  it('leaves an earlier rotate that is about to sign to take over, rather than refuse what it signs', async () => {
    let now = T0;
    const keys = new SigningKeys(new MemoryStore(), policy, null, () => now);
    await keys.maintain();
    const first = await keys.rotate();
    // Ten seconds before it activates: another instance, its clock a little ahead, may sign with it.
    now += 10 * 60_000 - 10_000;
    const second = await keys.rotate();
    expect(listed(keys, first)?.state).toBe('next');
    expect(listed(keys, second)?.state).toBe('next');
    now += 10_000;
    await keys.reload();
    expect(keys.signingKey.kid).toBe(first);
  });

  it('keeps a scheduled key due before the rotated one: something signs all along', async () => {
    let now = T0;
    const keys = new SigningKeys(new MemoryStore(), policy, null, () => now);
    await keys.maintain();
    now = T0 + 29 * DAY;
    await keys.maintain();
    const scheduled = keys.list().find((key) => key.state === 'next')?.kid;
    expect(scheduled).toBeDefined();
    // Five minutes before the first key retires, a rotation that starts in ten.
    now = T0 + 30 * DAY - 5 * 60_000;
    const rotated = await keys.rotate();
    expect(listed(keys, scheduled)?.state).toBe('next');
    now = T0 + 30 * DAY + 60_000;
    await keys.reload();
    expect(keys.hasSigningKey).toBe(true);
    expect(keys.signingKey.kid).toBe(scheduled);
    now = T0 + 30 * DAY + 6 * 60_000;
    await keys.reload();
    expect(keys.signingKey.kid).toBe(rotated);
  });

  it('revokes the next key without a replacement: the active key goes on signing past its planned switch', async () => {
    let now = T0;
    const keys = new SigningKeys(new MemoryStore(), policy, null, () => now);
    await keys.maintain();
    const active = keys.signingKey.kid;
    const next = await keys.rotate();
    expect(await keys.revoke(next)).toEqual({ outcome: 'revoked', replacementKid: null });
    expect(keys.verificationKeys.select('ES256', next)).toBeUndefined();
    now += 20 * 60_000;
    await keys.maintain();
    expect(keys.signingKey.kid).toBe(active);
  });

  it('revokes a retired key that is still published, leaving the active key alone', async () => {
    let now = T0;
    const keys = new SigningKeys(new MemoryStore(), policy, null, () => now);
    await keys.maintain();
    const old = keys.signingKey.kid ?? '';
    now += 1000;
    const current = await keys.rotate(0);
    expect(await keys.revoke(old)).toEqual({ outcome: 'revoked', replacementKid: null });
    expect(keys.signingKey.kid).toBe(current);
    expect(keys.verificationKeys.keys.map((key) => key.kid)).toEqual([current]);
  });

  it('starts with a changed algorithm by rotating to it; tokens of the old key stay valid until they expire', async () => {
    let now = T0;
    const store = new MemoryStore();
    const before = new SigningKeys(store, policy, null, () => now);
    await before.start();
    const token = createSigner({ key: before.signingKey, expiresInSeconds: 600, now: () => now })({
      sub: 'x',
    });
    now += 1000;
    const after = new SigningKeys(store, { ...policy, alg: 'EdDSA' }, null, () => now);
    const rotated = await after.start();
    expect(rotated).toBe(after.signingKey.kid);
    expect(after.signingKey.alg).toBe('EdDSA');
    expect(createVerifier({ key: after.verificationKeys, now: () => now })(token).payload.sub).toBe('x');
    // A second start with the same configuration changes nothing.
    expect(await new SigningKeys(store, { ...policy, alg: 'EdDSA' }, null, () => now).start()).toBeNull();
    // An instance still configured for ES256 signs with the newest key too, instead of fighting it.
    await before.reload();
    expect(before.signingKey.kid).toBe(rotated);
    now += 1000 + policy.retentionMs;
    await after.maintain();
    expect(after.list().map((key) => key.alg)).toEqual(['EdDSA']);
  });

  it('keeps secrets and key pairs apart when LATCHKEY_ALG moves between HS256 and a key pair', async () => {
    const store = new MemoryStore();
    const asymmetric = new SigningKeys(store, policy, null, () => T0);
    await asymmetric.start();
    const hmac = new SigningKeys(store, { ...policy, alg: 'HS256' }, null, () => T0);
    await hmac.start();
    expect(hmac.signingKey.kind).toBe('secret');
    expect(hmac.verificationKeys.keys.map((key) => key.kind)).toEqual(['secret']);
    await asymmetric.reload();
    expect(asymmetric.signingKey.alg).toBe('ES256');
    expect(asymmetric.list().map((key) => key.state)).toEqual(['active', 'active']);
  });

  it('withdraws a next key of the old algorithm when LATCHKEY_ALG changes, so it cannot take over later', async () => {
    let now = T0;
    const store = new MemoryStore();
    const before = new SigningKeys(store, policy, null, () => now);
    await before.start();
    const pending = await before.rotate();
    const after = new SigningKeys(store, { ...policy, alg: 'EdDSA' }, null, () => now);
    await after.start();
    expect(listed(after, pending)?.state).toBe('revoked');
    now += DAY;
    await after.maintain();
    expect(after.signingKey.alg).toBe('EdDSA');
  });

  it('rotates and replaces with the algorithm of the keys in the store, not its own setting', async () => {
    const store = new MemoryStore();
    const server = new SigningKeys(store, { ...policy, alg: 'EdDSA' }, null, () => T0);
    await server.start();
    const cli = new SigningKeys(store, policy, null, () => T0 + 1);
    await cli.maintain();
    expect(cli.signingKey.alg).toBe('EdDSA');
    const rotated = await cli.rotate(0);
    expect(listed(cli, rotated)?.alg).toBe('EdDSA');
    const revocation = await cli.revoke(rotated);
    if (revocation.outcome !== 'revoked' || revocation.replacementKid === null)
      throw new Error('replacement expected');
    expect(listed(cli, revocation.replacementKid)?.alg).toBe('EdDSA');
  });

  it('replaces a revoked secret with a secret even when the revoking process uses key pairs', async () => {
    let now = T0;
    const store = new MemoryStore();
    const server = new SigningKeys(store, { ...policy, alg: 'HS256' }, null, () => now);
    await server.start();
    const secretKid = server.signingKey.kid ?? '';
    now += 1;
    const cli = new SigningKeys(store, policy, null, () => now);
    await cli.maintain();
    const revocation = await cli.revoke(secretKid);
    expect(revocation).toEqual({ outcome: 'revoked', replacementKid: expect.any(String) });
    await server.reload();
    expect(server.signingKey.kind).toBe('secret');
    expect(server.signingKey.kid).not.toBe(secretKid);
  });

  it('keeps a key signing when it is revoked in the millisecond it was made and activated', async () => {
    for (let run = 0; run < 20; run++) {
      const keys = new SigningKeys(new MemoryStore(), policy, null, () => T0);
      await keys.maintain();
      const revocation = await keys.revoke(keys.signingKey.kid ?? '');
      if (revocation.outcome !== 'revoked') throw new Error('revocation expected');
      expect(keys.signingKey.kid).toBe(revocation.replacementKid);
    }
  });

  it('replaces the next key revoked at the moment it activates', async () => {
    let now = T0;
    const store = new MemoryStore();
    const keys = new SigningKeys(store, policy, null, () => now);
    await keys.maintain();
    const next = await keys.rotate();
    now += 10 * 60_000;
    const revocation = await keys.revoke(next);
    expect(revocation).toEqual({ outcome: 'revoked', replacementKid: expect.any(String) });
    const other = new SigningKeys(store, policy, null, () => now);
    await other.reload();
    expect(other.signingKey.kid).toBe(revocation.outcome === 'revoked' ? revocation.replacementKid : '');
  });

  it('leaves out a key it cannot read, and still applies every revocation', async () => {
    let now = T0;
    const store = new MemoryStore();
    const server = new SigningKeys(store, policy, null, () => now);
    await server.maintain();
    const stolen = server.signingKey.kid ?? '';
    // Another process, with a master key the server does not have, revokes and writes a sealed key.
    await store.revokeSigningKey(stolen, now, null);
    const sealing = new SigningKeys(store, policy, Buffer.alloc(32, 9), () => now);
    now += 1;
    await sealing.maintain();
    await server.reload();
    expect(server.verificationKeys.select('ES256', stolen)).toBeUndefined();
    expect(server.hasSigningKey).toBe(false);
    expect(server.problems).toEqual([
      {
        kid: sealing.signingKey.kid,
        reason: 'signing keys in the database are encrypted, but LATCHKEY_MASTER_KEY is not set',
        sealed: true,
      },
    ]);
  });

  it('refuses, with matchStoredSealing, to write a key the servers could not read', async () => {
    const store = new MemoryStore();
    const server = new SigningKeys(store, policy, null, () => T0);
    await server.maintain();
    const kid = server.signingKey.kid ?? '';
    const cli = new SigningKeys(store, policy, Buffer.alloc(32, 9), {
      now: () => T0,
      matchStoredSealing: true,
    });
    await cli.reload();
    await expect(cli.revoke(kid)).rejects.toThrow(
      /LATCHKEY_MASTER_KEY is set here, but the keys in the database are not encrypted/,
    );
    await expect(cli.rotate()).rejects.toThrow(/not encrypted/);
    expect(await store.listSigningKeys()).toMatchObject([{ kid, revokedAt: null }]);

    const sealedStore = new MemoryStore();
    await new SigningKeys(sealedStore, policy, Buffer.alloc(32, 1), () => T0).maintain();
    const wrongKey = new SigningKeys(sealedStore, policy, Buffer.alloc(32, 2), {
      now: () => T0,
      matchStoredSealing: true,
    });
    await expect(wrongKey.rotate()).rejects.toThrow(/cannot be decrypted/);
    const noKey = new SigningKeys(sealedStore, policy, null, { now: () => T0, matchStoredSealing: true });
    await expect(noKey.rotate()).rejects.toThrow(/encrypted, but LATCHKEY_MASTER_KEY is not set here/);
  });
});
