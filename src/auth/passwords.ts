/**
 * Password hashing: argon2id as PHC strings, with the OWASP parameters by default, a rehash signal
 * when the parameters change, and a concurrency bound of its own. argon2 runs on libuv's thread pool,
 * which file and DNS work share; an unbounded login storm would queue everything else behind it, so
 * past the bound we refuse quickly (ERR_OVERLOADED → 503 with Retry-After) instead of stalling.
 */
import { availableParallelism } from 'node:os';
import { hash, verify } from '@node-rs/argon2';

// @node-rs/argon2 exports Algorithm as a const enum, which isolated modules cannot read; 2 is Argon2id.
const ARGON2ID = 2;

import { AuthError } from '../errors.js';

export interface Argon2Parameters {
  /** Memory in KiB. */
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

/** OWASP Password Storage Cheat Sheet, argon2id option 2 (m=19 MiB, t=2, p=1). */
export const DEFAULT_ARGON2: Readonly<Argon2Parameters> = Object.freeze({
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
});

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

export interface PasswordHasherOptions {
  argon2?: Argon2Parameters;
  /**
   * Hashes computed at once; default one less than the CPUs (at least 1): argon2 is CPU-bound, and a
   * core left free keeps the event loop, and so every protected route, responsive during a login storm.
   */
  maxConcurrent?: number;
  /** Hashes waiting for a slot before new ones are refused; default 64. */
  maxQueued?: number;
}

export interface PasswordCheck {
  ok: boolean;
  /** The stored hash uses other parameters (or another algorithm) than the configured ones. */
  needsRehash: boolean;
}

/**
 * NFKC makes the visually identical spellings of a password one password (NIST SP 800-63B §5.1.1.2);
 * the length rule counts code points of the normalised text.
 */
export function normalizePassword(password: string, field = 'password'): string {
  const normalized = requireWellFormed(password, field).normalize('NFKC');
  const length = [...normalized].length;
  if (length < MIN_PASSWORD_LENGTH || length > MAX_PASSWORD_LENGTH) {
    throw new AuthError(
      'ERR_INVALID_INPUT',
      `${field} must be ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters long`,
      { field },
    );
  }
  return normalized;
}

/**
 * Lone surrogates cannot be encoded as UTF-8; the hasher would replace each with U+FFFD, making
 * different passwords one. Refused instead.
 */
export function requireWellFormed(text: string, field: string): string {
  if (!text.isWellFormed()) {
    throw new AuthError('ERR_INVALID_INPUT', `${field} contains characters that are not valid Unicode`, {
      field,
    });
  }
  return text;
}

export function defaultHashConcurrency(): number {
  return Math.max(1, availableParallelism() - 1);
}

const DUMMY_PASSWORD = 'latchkey-dummy-password-for-unknown-accounts';

const PHC_ARGON2ID = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

export class PasswordHasher {
  readonly #parameters: Argon2Parameters;
  readonly #maxConcurrent: number;
  readonly #maxQueued: number;
  #running = 0;
  readonly #queue: Array<() => void> = [];
  #dummyHash: Promise<string> | null = null;

  constructor(options: PasswordHasherOptions = {}) {
    const parameters = options.argon2 ?? DEFAULT_ARGON2;
    for (const [name, value] of Object.entries(parameters)) {
      if (!Number.isInteger(value) || value < 1)
        throw new TypeError(`argon2 ${name} must be a positive integer`);
    }
    this.#parameters = { ...parameters };
    this.#maxConcurrent = options.maxConcurrent ?? defaultHashConcurrency();
    this.#maxQueued = options.maxQueued ?? 64;
    if (!Number.isInteger(this.#maxConcurrent) || this.#maxConcurrent < 1)
      throw new TypeError('maxConcurrent must be ≥ 1');
    if (!Number.isInteger(this.#maxQueued) || this.#maxQueued < 0)
      throw new TypeError('maxQueued must be ≥ 0');
  }

  get parameters(): Readonly<Argon2Parameters> {
    return this.#parameters;
  }

  /** Hashes a normalised password into a PHC string. */
  hash(password: string): Promise<string> {
    return this.#bounded(() => this.#hashNow(password));
  }

  /** Argon2id with the configured parameters, outside the bounded queue. */
  #hashNow(password: string): Promise<string> {
    return hash(password, { algorithm: ARGON2ID, ...this.#parameters });
  }

  /** Checks a password against a stored PHC string; a malformed hash is simply a mismatch. */
  async check(storedHash: string, password: string): Promise<PasswordCheck> {
    const ok = await this.#bounded(() => verify(storedHash, password).catch(() => false));
    return { ok, needsRehash: ok && this.needsRehash(storedHash) };
  }

  needsRehash(storedHash: string): boolean {
    const match = PHC_ARGON2ID.exec(storedHash);
    if (match === null) return true;
    const { memoryCost, timeCost, parallelism } = this.#parameters;
    return (
      Number(match[1]) !== memoryCost || Number(match[2]) !== timeCost || Number(match[3]) !== parallelism
    );
  }

  /**
   * The same work as checking a real account, for logins with an unknown email, so that the answer
   * takes as long either way and reveals nothing about which emails exist.
   */
  async checkDummy(password: string): Promise<false> {
    // Made once, outside the bounded queue: a refusal for overload kept here would have made every
    // later unknown-email login answer 503 while real accounts answer 401, naming which emails exist.
    this.#dummyHash ??= this.#hashNow(DUMMY_PASSWORD).catch((error) => {
      this.#dummyHash = null;
      throw error;
    });
    await this.check(await this.#dummyHash, password);
    return false;
  }

  async #bounded<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#maxConcurrent) {
      if (this.#queue.length >= this.#maxQueued) {
        throw new AuthError('ERR_OVERLOADED', 'the server is busy checking passwords; try again shortly', {
          retryAfterSeconds: 1,
        });
      }
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    } else {
      this.#running += 1;
    }
    try {
      return await work();
    } finally {
      // Hand the slot straight to the next waiter, so the running count stays exact.
      const next = this.#queue.shift();
      if (next === undefined) this.#running -= 1;
      else next();
    }
  }
}
