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
  /** A tab wants to refresh (`busy`: it is refreshing now, and every other claim loses). */
  | { type: 'claim'; tabId: string; busy: boolean };

interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
  request<T>(
    name: string,
    options: { ifAvailable: true },
    callback: (lock: unknown) => Promise<T>,
  ): Promise<T>;
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
  /** The claims heard during this tab's claim window; null outside it. */
  #claims: { tabId: string; busy: boolean }[] | null = null;
  #refreshingHere = false;

  constructor(name: string) {
    this.#name = name;
    const Channel = (globalThis as unknown as { BroadcastChannel?: new (name: string) => ChannelLike })
      .BroadcastChannel;
    this.#channel = Channel === undefined ? null : new Channel(name);
    // Node: a channel that listens keeps the process alive, and a script that used a client (in
    // cookie mode, cross-tab sync is on) would never end. Browsers have no unref.
    (this.#channel as { unref?: () => void } | null)?.unref?.();
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
    const lockName = `${this.#name}:refresh`;
    const turn = async () => alreadyDone() ?? (await refresh());
    if (this.#locks !== null) {
      // Another tab refreshing now will tell us its result: wait for that rather than queue behind it,
      // since its news may arrive after its lock is released.
      // Listening starts before asking for the lock: the news may come before the lock's answer.
      const news = this.#nextNews();
      const held = Symbol('held');
      const result = await this.#locks.request(lockName, { ifAvailable: true }, async (lock) =>
        lock === null ? held : turn(),
      );
      if (result !== held) {
        news.cancel();
        return result as T;
      }
      if (alreadyDone() === undefined) await news.arrived;
      news.cancel();
      return this.#locks.request(lockName, turn);
    }
    if (this.#channel === null) return refresh();
    // No Web Locks: claim on the channel. A tab refreshing now wins; else the lowest tab id heard.
    // Timing-based, so the server's refresh grace window stays the safety net here.
    this.#claims = [{ tabId: this.#tabId, busy: false }];
    this.post({ type: 'claim', tabId: this.#tabId, busy: false });
    await delay(CLAIM_WINDOW_MS);
    const claims = this.#claims;
    this.#claims = null;
    const busy = claims.some((claim) => claim.busy);
    const lowest = claims.map((claim) => claim.tabId).sort()[0];
    if (busy || lowest !== this.#tabId) {
      await this.#waitForNews();
      const done = alreadyDone();
      if (done !== undefined) return done;
    }
    this.#refreshingHere = true;
    try {
      return await refresh();
    } finally {
      this.#refreshingHere = false;
    }
  }

  close(): void {
    this.#channel?.close();
    this.#listeners.clear();
  }

  #receive(message: TabMessage): void {
    if (message.type === 'claim') {
      this.#claims?.push({ tabId: message.tabId, busy: message.busy });
      if (this.#refreshingHere) this.post({ type: 'claim', tabId: this.#tabId, busy: true });
      return;
    }
    for (const listener of this.#listeners) listener(message);
  }

  #waitForNews(): Promise<void> {
    return this.#nextNews().arrived;
  }

  /** The next refresh, failure or logout heard from another tab (or a timeout); cancel to stop listening. */
  #nextNews(): { arrived: Promise<void>; cancel: () => void } {
    let cancel = () => {};
    const arrived = new Promise<void>((resolve) => {
      const timer = setTimeout(finish, FOREIGN_REFRESH_TIMEOUT_MS);
      const unsubscribe = this.onMessage((message) => {
        if (message.type !== 'claim') finish();
      });
      function finish() {
        clearTimeout(timer);
        unsubscribe();
        resolve();
      }
      cancel = finish;
    });
    return { arrived, cancel };
  }
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
