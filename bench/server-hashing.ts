/**
 * How the server hashes passwords, read from its environment as the server reads it: its hash
 * concurrency (LATCHKEY_HASH_CONCURRENCY, or the default for the CPUs this process may use) and its
 * argon2id parameters. The benchmark's two argon2 processes, the raw rate [5] and the verify-only
 * login route [6], hash by it and say it in their first line, which the benchmark compares.
 */
import { type Argon2Parameters, DEFAULT_ARGON2, defaultHashConcurrency } from '../src/auth/passwords.js';
import { loadConfig } from '../src/server/config.js';

export interface ServerHashing {
  hashConcurrency: number;
  argon2: Argon2Parameters;
}

export function serverHashing(env: NodeJS.ProcessEnv): ServerHashing {
  return {
    hashConcurrency: loadConfig(env).hashConcurrency ?? defaultHashConcurrency(),
    argon2: { ...DEFAULT_ARGON2 },
  };
}
