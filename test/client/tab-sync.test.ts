/**
 * TabSync's Web Locks path in Node, which has BroadcastChannel but no navigator.locks: a small lock
 * manager with the Web Locks semantics the client relies on (exclusive, queued, ifAvailable) whose
 * answers come late, as they do in a browser, where the lock's answer and a channel message travel
 * separately. The real thing runs in Chromium in test/browser/client.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TabSync } from '../../src/client/tab-sync.js';

/** Exclusive named locks, answered after `delayMs`. */
class SlowLocks {
  readonly #held = new Map<string, Promise<void>>();
  constructor(readonly delayMs: number) {}

  async request<T>(
    name: string,
    optionsOrCallback: { ifAvailable: true } | (() => Promise<T>),
    maybeCallback?: (lock: unknown) => Promise<T>,
  ): Promise<T> {
    const ifAvailable = typeof optionsOrCallback !== 'function';
    const callback = (ifAvailable ? maybeCallback : optionsOrCallback) as (lock: unknown) => Promise<T>;
    // The lock manager decides when asked; its answer reaches the page later.
    const available = !this.#held.has(name);
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (ifAvailable && !available) return callback(null);
    while (this.#held.has(name)) await this.#held.get(name);
    let release = () => {};
    this.#held.set(name, new Promise((resolve) => (release = () => resolve())));
    try {
      return await callback({ name });
    } finally {
      this.#held.delete(name);
      release();
    }
  }
}

const navigatorDescriptor = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
afterEach(() => {
  if (navigatorDescriptor === undefined) Reflect.deleteProperty(globalThis, 'navigator');
  else Object.defineProperty(globalThis, 'navigator', navigatorDescriptor);
});

describe('TabSync with Web Locks', () => {
  it('a tab that finds the lock held takes the other tab’s news even when it comes before the lock’s answer', async () => {
    Object.defineProperty(globalThis, 'navigator', {
      value: { locks: new SlowLocks(50) },
      configurable: true,
    });
    const name = `test-${Math.random()}`;
    const tabs = [new TabSync(name), new TabSync(name)];
    const tokens: (string | null)[] = [null, null];
    let refreshes = 0;
    for (const [index, tab] of tabs.entries()) {
      tab.onMessage((message) => {
        if (message.type === 'refreshed') tokens[index] = message.accessToken;
      });
    }
    const refreshIn = (index: number) =>
      tabs[index]?.exclusive(
        () => tokens[index] ?? undefined,
        async () => {
          refreshes += 1;
          await new Promise((resolve) => setTimeout(resolve, 100));
          tokens[index] = 'tok-1';
          tabs[index]?.post({ type: 'refreshed', accessToken: 'tok-1', expiresAt: 0 });
          return 'tok-1';
        },
      );
    const started = Date.now();
    const first = refreshIn(0);
    await new Promise((resolve) => setTimeout(resolve, 120));
    const second = refreshIn(1);
    expect(await first).toBe('tok-1');
    expect(await second).toBe('tok-1');
    expect(refreshes).toBe(1);
    // Not the 10 s a lost message would have cost.
    expect(Date.now() - started).toBeLessThan(3000);
    for (const tab of tabs) tab.close();
  });
});

describe('TabSync in Node', () => {
  it('does not keep a script alive that made a client and is done with it', async () => {
    const { spawn } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const client = fileURLToPath(new URL('../../src/client/index.ts', import.meta.url));
    // Cookie mode (the default) turns on cross-tab sync; the script neither logs in nor closes.
    const script = `import { createClient } from ${JSON.stringify(client)};
      const c = createClient({ baseUrl: 'http://127.0.0.1:9' });
      console.log(typeof c.login);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, 15_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    expect({ exited, output: output.trim() }).toEqual({ exited: 0, output: 'function' });
  }, 20_000);
});
