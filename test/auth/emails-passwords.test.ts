import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { newAccountEmail, normalizeEmail } from '../../src/auth/emails.js';
import { defaultHashConcurrency, normalizePassword, PasswordHasher } from '../../src/auth/passwords.js';
import { AuthError } from '../../src/errors.js';
import { rejectionOf } from '../support/errors.js';

const FAST = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

const authError = (run: () => unknown) => rejectionOf(AuthError, run, 'field');

describe('normalizeEmail', () => {
  it('trims and lower-cases', () => {
    expect(normalizeEmail('  Alice@Example.COM ')).toBe('alice@example.com');
  });

  it.each([
    '',
    'alice',
    'alice@',
    '@example.com',
    'alice@example',
    'a b@example.com',
    'a@b@c.com',
    'a@.com',
    `${'a'.repeat(250)}@b.co`,
    'a\u0000@b.co',
  ])('refuses %j', (input) => {
    expect(authError(() => normalizeEmail(input))).toEqual({
      code: 'ERR_INVALID_INPUT',
      message: 'email must be a valid email address',
      field: 'email',
    });
  });
});

describe('normalizePassword', () => {
  it('applies NFKC, so visually identical spellings are one password', () => {
    expect(normalizePassword('ｐａｓｓｗｏｒｄ１')).toBe('password1');
    expect(normalizePassword('Ａｅ\u0301xxxxxx')).toBe('Aéxxxxxx');
  });

  it('counts characters (code points), 8 to 1024', () => {
    expect(normalizePassword('😀'.repeat(8))).toHaveLength(16);
    expect(normalizePassword('x'.repeat(1024))).toHaveLength(1024);
    for (const input of ['1234567', '😀'.repeat(7), 'x'.repeat(1025)]) {
      expect(authError(() => normalizePassword(input))).toEqual({
        code: 'ERR_INVALID_INPUT',
        message: 'password must be 8 to 1024 characters long',
        field: 'password',
      });
    }
  });
});

describe('PasswordHasher', () => {
  it('hashes as argon2id PHC strings with its parameters and checks them', async () => {
    const hasher = new PasswordHasher({ argon2: FAST });
    const hash = await hasher.hash('correct horse');
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$/);
    expect(await hasher.check(hash, 'correct horse')).toEqual({ ok: true, needsRehash: false });
    expect(await hasher.check(hash, 'wrong horse')).toEqual({ ok: false, needsRehash: false });
    expect(await hasher.check('not a hash', 'correct horse')).toEqual({ ok: false, needsRehash: false });
  });

  it('leaves one CPU to the event loop by default', () => {
    expect(defaultHashConcurrency()).toBe(Math.max(1, availableParallelism() - 1));
  });

  it('uses the OWASP parameters by default', () => {
    expect(new PasswordHasher().parameters).toEqual({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
  });

  it('asks for a rehash when the parameters changed', async () => {
    const old = await new PasswordHasher({ argon2: FAST }).hash('correct horse');
    const hasher = new PasswordHasher({ argon2: { ...FAST, timeCost: 2 } });
    expect(await hasher.check(old, 'correct horse')).toEqual({ ok: true, needsRehash: true });
    expect(hasher.needsRehash('$argon2i$v=19$m=1024,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g')).toBe(true);
  });

  it('does the same work for an unknown account and always fails', async () => {
    const hasher = new PasswordHasher({ argon2: FAST });
    expect(await hasher.checkDummy('anything at all')).toBe(false);
  });

  it('refuses quickly with ERR_OVERLOADED once its queue is full, and recovers', async () => {
    const hasher = new PasswordHasher({ argon2: FAST, maxConcurrent: 1, maxQueued: 2 });
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => hasher.hash('correct horse')));
    const refused = results.filter((result) => result.status === 'rejected');
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(3);
    expect(refused).toHaveLength(3);
    for (const result of refused) {
      const error = (result as PromiseRejectedResult).reason as AuthError;
      expect(error.code).toBe('ERR_OVERLOADED');
      expect(error.retryAfterSeconds).toBe(1);
    }
    await expect(hasher.hash('correct horse')).resolves.toMatch(/^\$argon2id/);
  });

  it('answers an unknown account like a known one after its first check met a full queue', async () => {
    const hasher = new PasswordHasher({ argon2: FAST, maxConcurrent: 1, maxQueued: 0 });
    const stored = await hasher.hash('correct horse');
    // The very first unknown-account check arrives while the only slot is busy.
    const busy = hasher.check(stored, 'wrong');
    const first = hasher.checkDummy('guess');
    await expect(hasher.check(stored, 'guess')).rejects.toMatchObject({ code: 'ERR_OVERLOADED' });
    const [settled] = await Promise.allSettled([first, busy]);
    // Like any login at that moment it may be refused for overload, but nothing of that may stay.
    if (settled?.status === 'rejected') expect(settled.reason).toMatchObject({ code: 'ERR_OVERLOADED' });
    // Idle again: both kinds of login are checked, neither is refused for overload.
    expect(await hasher.checkDummy('guess')).toBe(false);
    expect(await hasher.check(stored, 'guess')).toEqual({ ok: false, needsRehash: false });
  });

  it('refuses bad parameters as caller mistakes', () => {
    expect(() => new PasswordHasher({ argon2: { ...FAST, memoryCost: 0 } })).toThrow(TypeError);
    expect(() => new PasswordHasher({ maxConcurrent: 0 })).toThrow(TypeError);
  });
});

describe('newAccountEmail', () => {
  it.each([
    ['a fullwidth letter', '\uff41lice@example.com'],
    ['a fullwidth capital, lower-cased to a fullwidth small one', '\uff21lice@example.com'],
    ['a ligature', '\ufb01nance@example.com'],
    ['a circled letter', 'b\u24d1@example.com'],
    ['a superscript digit', 'agent\u00b9@example.com'],
    ['a fullwidth domain', 'alice@\uff45xample.com'],
    ['a black-letter capital that no lower-casing folds', '\u210cal@example.com'],
    ['a capital and mark that lower-casing leaves decomposed', 'j\u030Cane@example.com'.toUpperCase()],
  ])('refuses %s, which would be a second account that reads as another', (_name, lookalike) => {
    expect(authError(() => newAccountEmail(lookalike))).toEqual({
      code: 'ERR_INVALID_INPUT',
      message:
        'email must not contain characters that Unicode normalization changes (such as fullwidth letters or ligatures)',
      field: 'email',
    });
  });

  it('takes what normalizeEmail takes that NFKC leaves alone, normalised the same way', () => {
    for (const email of [
      '  Alice@Example.COM ',
      'jos\u00e9@ex\u00e4mple.com',
      'stra\u00dfe@example.de',
      '\u7528\u6237@\u4f8b\u5b50.\u5e7f\u544a',
    ]) {
      expect(newAccountEmail(email)).toBe(normalizeEmail(email));
    }
    expect(newAccountEmail('cafe\u0301@example.com')).toBe('caf\u00e9@example.com');
    // The shape rules still come first.
    expect(authError(() => newAccountEmail('nope')).message).toBe('email must be a valid email address');
  });

  it('leaves signing in alone: an account made before the rule keeps its address', () => {
    expect(normalizeEmail('\uff41lice@example.com')).toBe('\uff41lice@example.com');
  });
});

describe('well-formed text only', () => {
  it('refuses lone surrogates in emails and passwords, which UTF-8 storage would merge', () => {
    expect(authError(() => normalizeEmail('a\ud800@b.io')).code).toBe('ERR_INVALID_INPUT');
    // Invisible format characters make an address that looks like another's.
    for (const lookalike of [
      'ada\u200b@example.com',
      'x\u202egro.live@example.com',
      'ada@exa\u2060mple.com',
    ]) {
      expect(authError(() => normalizeEmail(lookalike)).code, lookalike).toBe('ERR_INVALID_INPUT');
    }
    // A decomposed é is the composed one: one account, not two that look the same.
    expect(normalizeEmail('cafe\u0301@example.com')).toBe(normalizeEmail('caf\u00e9@example.com'));
    expect(authError(() => normalizePassword('password\udc00'))).toEqual({
      code: 'ERR_INVALID_INPUT',
      message: 'password contains characters that are not valid Unicode',
      field: 'password',
    });
  });
});
