/**
 * Revoked sessions, remembered by `sid` for as long as an access token of theirs can still be valid
 * (access-token lifetime + clock tolerance); after that every such token has expired on its own.
 * Fed by this instance at once and by the store's revocation list for the others.
 */
import { RereadPositions } from '../revocation-reread.js';
import type { SessionStore } from '../store/types.js';

export class RevokedSessions {
  readonly #retentionMs: number;
  readonly #revoked = new Map<string, number>();
  readonly #positions = new RereadPositions();

  constructor(retentionMs: number) {
    this.#retentionMs = retentionMs;
  }

  get size(): number {
    return this.#revoked.size;
  }

  add(sessionId: string, revokedAt: number): void {
    this.#revoked.set(sessionId, revokedAt);
  }

  has(sessionId: string): boolean {
    return this.#revoked.has(sessionId);
  }

  /** Pulls revocations made since the last sync (by any instance) and forgets those too old to matter. */
  async sync(store: SessionStore, now: number): Promise<void> {
    const start = this.#positions.next(now);
    const since = start.since ?? now - this.#retentionMs;
    for (const { id, revokedAt } of await store.listRevokedSessionsSince(since)) this.add(id, revokedAt);
    this.#positions.read(start, now, now);
    for (const [id, revokedAt] of this.#revoked) {
      if (revokedAt < now - this.#retentionMs) this.#revoked.delete(id);
    }
  }
}
