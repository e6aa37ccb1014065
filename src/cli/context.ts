/**
 * What every command shares: the person's terminal (output, input, environment), the configuration
 * read from that environment exactly as the server reads it, and helpers that open the configured
 * store or a whole runtime and always close it again, so one command never leaves a database open.
 * What a command changes is published to running servers as their own changes are (src/cli/fan-out.ts).
 */
import type { Readable } from 'node:stream';
import { AdminService } from '../auth/admin.js';
import { type Argon2Parameters, DEFAULT_ARGON2, PasswordHasher } from '../auth/passwords.js';
import { SigningKeys } from '../auth/signing-keys.js';
import { loadConfig, type ServerConfig } from '../server/config.js';
import { createRuntime, type Runtime, type RuntimeOptions, signingKeyPolicy } from '../server/runtime.js';
import { openStore } from '../store/open.js';
import { publishingChanges } from '../store/redis/publishing-store.js';
import type { KeyStore, SessionStore, Store, UserStore } from '../store/types.js';
import { CommandFanOut } from './fan-out.js';
import { terminalSafe } from './format.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** Standard input as the CLI needs it: a stream, and for a terminal the means to hide typing. */
export interface CLIInput extends Readable {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
}

export interface CLIIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Env;
  /** Where `--password-stdin` and the password prompt read; without it, input is empty. */
  stdin?: CLIInput;
}

/** Internal knobs for tests; the real command never sets them. */
export interface CLIOptions {
  /** Cheaper hashing for tests; default the server's parameters. */
  argon2?: Argon2Parameters;
  now?: () => number;
  /** Stops `serve` when aborted, as SIGINT and SIGTERM do. */
  stopServe?: AbortSignal;
}

/** An expected failure: printed as one line, no stack. Exit code 1 for failures, 2 for usage. */
export class CLIError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CLIError';
    this.exitCode = exitCode;
  }
}

export const usageError = (message: string) => new CLIError(message, 2);

/**
 * How a command opens the database. `existing`: only one a server of this version made; a missing
 * database (a mistyped LATCHKEY_DATA_DIR, say) or an older schema is refused, and nothing is created
 * or migrated. `create`: created or migrated as a server start would (`users add`, `migrate`).
 */
export type Opening = 'existing' | 'create';

export class CLIContext {
  readonly io: CLIIO;
  readonly options: CLIOptions;
  readonly now: () => number;
  /** Set by commands that report a finding rather than throw (token inspect). */
  exitCode = 0;
  #config: ServerConfig | undefined;

  constructor(io: CLIIO, options: CLIOptions) {
    // Everything a command prints passes here: values from tokens and the database may hold escapes.
    this.io = {
      ...io,
      stdout: (text) => io.stdout(terminalSafe(text)),
      stderr: (text) => io.stderr(terminalSafe(text)),
    };
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** Read on first use, so that `--help` works even with a broken environment. */
  config(): ServerConfig {
    this.#config ??= loadConfig(this.io.env);
    return this.#config;
  }

  print(line = ''): void {
    this.io.stdout(`${line}\n`);
  }

  /** The same hashing as the server's runtime, so a user added here logs in there. */
  passwordHasher(): PasswordHasher {
    return new PasswordHasher({ argon2: this.options.argon2 ?? DEFAULT_ARGON2 });
  }

  /** The console's side of the domain, on the configured store: every change a command makes goes here. */
  async withAdmin<T>(
    work: (admin: AdminService, config: ServerConfig) => Promise<T>,
    opening: Opening = 'existing',
  ): Promise<T> {
    return this.withStore(
      (store, config) =>
        work(new AdminService({ store, passwords: this.passwordHasher(), now: this.now }), config),
      opening,
    );
  }

  /**
   * The configured store, for commands that may change it: what they change is published as a
   * server's own changes are (REDIS_URL), so running servers learn of it at once.
   */
  async withStore<T>(
    work: (store: Store, config: ServerConfig) => Promise<T>,
    opening: Opening = 'existing',
  ): Promise<T> {
    return this.#withFanOut((fanOut) =>
      this.#withOpenStore((store, config) => work(publishingChanges(store, fanOut), config), opening),
    );
  }

  async #withOpenStore<T>(
    work: (store: Store, config: ServerConfig) => Promise<T>,
    opening: Opening,
  ): Promise<T> {
    const config = this.config();
    const store = await openStore(config.database, { existing: opening === 'existing' });
    try {
      return await work(store, config);
    } finally {
      await store.close();
    }
  }

  async #withFanOut<T>(work: (fanOut: CommandFanOut) => Promise<T>): Promise<T> {
    const fanOut = new CommandFanOut(this.config(), (line) => this.io.stderr(`latchkey: ${line}\n`));
    try {
      return await work(fanOut);
    } finally {
      await fanOut.close();
    }
  }

  /**
   * The stored keys as a server sees them: no maintenance runs, so nothing is created, rotated or
   * deleted (`keys list` and `token inspect` must leave the database as it is; `keys reseal` changes
   * only how stored keys and secrets are sealed), and there is nothing to publish, so Redis is never needed.
   */
  async withStoredKeys<T>(
    work: (keys: SigningKeys, store: UserStore & SessionStore & KeyStore, config: ServerConfig) => Promise<T>,
  ): Promise<T> {
    return this.#withOpenStore(async (store, config) => {
      const keys = new SigningKeys(store, signingKeyPolicy(config), config.masterKey, {
        now: this.now,
        previousMasterKey: config.previousMasterKey,
      });
      await keys.reload();
      return work(keys, store, config);
    }, 'existing');
  }

  /**
   * A runtime like the server's, for the commands that need its signing keys: same key policy, and
   * keys maintained (created when missing, expired ones removed) exactly as a server start would, on
   * a database that exists already.
   */
  async withRuntime<T>(work: (runtime: Runtime) => Promise<T>): Promise<T> {
    // The CLI's environment may differ from the servers': it never changes their algorithm, and it
    // never writes a key they could not read.
    const options: RuntimeOptions = {
      background: false,
      now: this.now,
      adoptAlgorithm: false,
      matchStoredSealing: true,
      refreshes: false,
    };
    if (this.options.argon2 !== undefined) options.argon2 = this.options.argon2;
    return this.#withFanOut((fanOut) =>
      // The runtime maintains the keys of a database that exists; it creates none.
      this.#withOpenStore(async (store, config) => {
        const runtime = await createRuntime(config, { ...options, fanOut, store });
        try {
          return await work(runtime);
        } finally {
          await runtime.close();
        }
      }, 'existing'),
    );
  }
}
