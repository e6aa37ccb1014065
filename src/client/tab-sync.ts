/**
 * Coordination between the tabs (and windows) of one origin that share the refresh cookie: one
 * refresh at a time across all of them (Web Locks), and news of a refresh or a logout to all of them
 * (BroadcastChannel), so no two tabs present the same refresh token and every tab learns of a logout.
 * Where Web Locks are missing, a tab claims the refresh on the channel and the lowest claim wins.
 */

export type TabMessage =
  | { type: 'refreshed'; accessToken: string; expiresAt: number }
  | { type: 'refresh-failed' }
  | { type: 'logged-out' }
  | { type: 'claim'; tabId: string };

interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

interface ChannelLike {
  postMessage(message: unknown): void;
  close(): void;
  onmessage: ((event: { data: unknown }) => void) | null;
}

/** How long a tab listens for other claims before it refreshes, without Web Locks. */
const CLAIM_WINDOW_MS = 50;
/** How long a tab waits for another tab's refresh before it tries itself. */
const FOREIGN_REFRESH_TIMEOUT_MS = 10_000;

export class TabSync {
  readonly #name: string;
  readonly #channel: ChannelLike | null;
  readonly #locks: LockManagerLike | null;
  readonly #tabId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  readonly #listeners = new Set<(message: TabMessage) => void>();
  #claims: string[] | null = null;

  constructor(name: string) {
    this.#name = name;
    const Channel = (globalThis as unknown as { BroadcastChannel?: new (name: string) => ChannelLike })
      .BroadcastChannel;
    this.#channel = Channel === undefined ? null : new Channel(name);
    this.#locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks ?? null;
    if (this.#channel !== null) {
      this.#channel.onmessage = (event) => this.#receive(event.data as TabMessage);
    }
  }

  /** Messages from the other tabs. */
  onMessage(listener: (message: TabMessage) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  post(message: TabMessage): void {
    this.#channel?.postMessage(message);
  }

  /**
   * Runs `refresh` as the only refresh among all tabs. `alreadyDone` is asked once the turn has come:
   * when another tab refreshed meanwhile, its news has arrived and there is nothing left to do (it
   * answers the result then, `undefined` otherwise).
   */
  async exclusive<T>(alreadyDone: () => T | undefined, refresh: () => Promise<T>): Promise<T> {
    if (this.#locks !== null) {
      return this.#locks.request(`${this.#name}:refresh`, async () => alreadyDone() ?? (await refresh()));
    }
    if (this.#channel === null) return refresh();
    // No Web Locks: claim on the channel; of the claims heard in the window, the lowest tab id refreshes.
    this.#claims = [this.#tabId];
    this.post({ type: 'claim', tabId: this.#tabId });
    await delay(CLAIM_WINDOW_MS);
    const winner = [...this.#claims].sort()[0];
    this.#claims = null;
    if (winner !== this.#tabId) {
      await this.#waitForNews();
      const done = alreadyDone();
      if (done !== undefined) return done;
    }
    return refresh();
  }

  close(): void {
    this.#channel?.close();
    this.#listeners.clear();
  }

  #receive(message: TabMessage): void {
    if (message.type === 'claim') {
      this.#claims?.push(message.tabId);
      return;
    }
    for (const listener of this.#listeners) listener(message);
  }

  #waitForNews(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(finish, FOREIGN_REFRESH_TIMEOUT_MS);
      const unsubscribe = this.onMessage((message) => {
        if (message.type !== 'claim') finish();
      });
      function finish() {
        clearTimeout(timer);
        unsubscribe();
        resolve();
      }
    });
  }
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
