import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isBase64url } from '../../src/jwt/base64url.js';
import { ScratchBuffer } from '../../src/jwt/scratch-buffer.js';

/** Characters that matter to a base64url decoder: its alphabet, the standard one, padding, and noise. */
const NEAR_BASE64URL = fc.constantFrom(
  ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=. \n\u00e9\u20ac',
);

describe('ScratchBuffer', () => {
  it('decodes exactly what isBase64url accepts, to the bytes Node decodes', () => {
    const scratch = new ScratchBuffer(16);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: NEAR_BASE64URL, maxLength: 80 }),
          // Canonical texts with one character changed, which sit right at the boundary.
          fc.tuple(fc.uint8Array({ maxLength: 60 }), fc.nat(), NEAR_BASE64URL).map(([bytes, at, c]) => {
            const text = Buffer.from(bytes).toString('base64url');
            const i = text.length === 0 ? 0 : at % text.length;
            return text.slice(0, i) + c + text.slice(i + 1);
          }),
        ),
        (text) => {
          const decoded = scratch.base64url(text);
          expect(decoded !== null).toBe(isBase64url(text));
          if (decoded !== null) expect(decoded.equals(Buffer.from(text, 'base64url'))).toBe(true);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('refuses each kind of non-canonical spelling', () => {
    const scratch = new ScratchBuffer();
    for (const text of ['Zm9vYg==', 'a+b_', 'a/b_', 'Zm9v YmFy', 'Zm9vY', 'Zm9vé', 'Zh', 'Zm9']) {
      expect(scratch.base64url(text), text).toBeNull();
    }
    expect(scratch.base64url('Zm8')?.toString()).toBe('fo');
    expect(scratch.base64url('')?.length).toBe(0);
  });

  it('grows past its initial size and hands out views of exactly the written length', () => {
    const scratch = new ScratchBuffer(4);
    const long = 'x'.repeat(10_000);
    expect(scratch.latin1(long).toString('latin1')).toBe(long);
    expect(scratch.latin1('ab').toString('latin1')).toBe('ab');
    const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => i & 0xff));
    expect(scratch.base64url(bytes.toString('base64url'))?.equals(bytes)).toBe(true);
  });

  it('writes latin1 one byte per character', () => {
    const scratch = new ScratchBuffer();
    expect([...scratch.latin1('a\u00ff\u0000')]).toEqual([0x61, 0xff, 0x00]);
  });
});
