import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Hash } from '../../src/jwt/algorithms.js';
import { createHMAC } from '../../src/jwt/hmac.js';

describe('createHMAC', () => {
  it.each(['sha256', 'sha384', 'sha512'] as Hash[])(
    'equals createHmac for %s with any key and input',
    (hash) => {
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 0, maxLength: 300 }),
          fc.string({ unit: 'binary-ascii', maxLength: 3000 }),
          (secret, input) => {
            const expected = createHmac(hash, secret).update(input, 'latin1').digest();
            expect(createHMAC(hash, secret)(input)).toEqual(expected);
          },
        ),
        { numRuns: 200 },
      );
    },
  );

  it('gives the right answer again after growing its buffer and going back to short inputs', () => {
    const secret = randomBytes(32);
    const hmac = createHMAC('sha256', secret);
    for (const length of [10, 5000, 3, 1024, 1025, 0]) {
      const input = 'a'.repeat(length);
      expect(hmac(input)).toEqual(createHmac('sha256', secret).update(input).digest());
    }
  });

  it('matches RFC 4231 test case 2 (a short key)', () => {
    const hmac = createHMAC('sha256', Buffer.from('Jefe'));
    expect(hmac('what do ya want for nothing?').toString('hex')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });
});
