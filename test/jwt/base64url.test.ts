import { describe, expect, it } from 'vitest';
import { decodeBase64url, encodeBase64url, isBase64url } from '../../src/jwt/base64url.js';

describe('strict base64url', () => {
  it('round-trips every length of random bytes', () => {
    for (let length = 0; length < 70; length += 1) {
      const bytes = Buffer.from(Array.from({ length }, (_, i) => (i * 37 + length) & 0xff));
      const text = encodeBase64url(bytes);
      expect(isBase64url(text)).toBe(true);
      expect(decodeBase64url(text)).toEqual(bytes);
    }
  });

  it('encodes text as UTF-8', () => {
    expect(encodeBase64url('é')).toBe('w6k');
  });

  it.each([
    ['padding', 'Zm9vYg=='],
    ['a single pad', 'Zm9vYmE='],
    ['the standard alphabet +', 'a+b_'],
    ['the standard alphabet /', 'a/b_'],
    ['whitespace', 'Zm9v YmFy'],
    ['a newline', 'Zm9v\nYmFy'],
    ['an impossible length (4n+1)', 'Zm9vY'],
    ['non-ASCII', 'Zm9vé'],
    ['a dot', 'Zm9v.'],
    ['non-zero trailing bits after 2 chars', 'Zh'],
    ['non-zero trailing bits after 3 chars', 'Zm9'],
  ])('refuses %s', (_, text) => {
    expect(isBase64url(text)).toBe(false);
    expect(decodeBase64url(text)).toBeNull();
  });

  it('accepts the canonical spelling next to each refused non-canonical one', () => {
    expect(decodeBase64url('Zg')?.toString()).toBe('f');
    expect(decodeBase64url('Zm8')?.toString()).toBe('fo');
    // 'Zh' and 'Zm9' decode to the same bytes in Node's lenient decoder.
    expect(Buffer.from('Zh', 'base64url').toString()).toBe('f');
  });

  it('accepts the empty string (an empty segment, as in detached payloads)', () => {
    expect(isBase64url('')).toBe(true);
    expect(decodeBase64url('')).toEqual(Buffer.alloc(0));
  });
});
