import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, JOSEError, JWTClaimError, KeyError, LatchkeyError } from '../src/errors.js';

describe('error hierarchy', () => {
  it('keeps docs/errors.md in step with the codes, one row each', () => {
    const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^\| `(ERR_[A-Z_]+)` \|/gm)].map((match) => match[1]);
    expect(documented).toEqual([...ERROR_CODES]);
  });

  it('keeps the code, the class name and the cause', () => {
    const cause = new Error('inner');
    const error = new KeyError('ERR_KEY_INVALID', 'bad key', { cause });
    expect(error).toBeInstanceOf(LatchkeyError);
    expect(error.name).toBe('KeyError');
    expect(error.code).toBe('ERR_KEY_INVALID');
    expect(error.cause).toBe(cause);
    expect(new JOSEError('ERR_JWS_MALFORMED', 'x').name).toBe('JOSEError');
    expect(new JWTClaimError('ERR_JWT_EXPIRED', 'x', 'exp').claim).toBe('exp');
  });
});
