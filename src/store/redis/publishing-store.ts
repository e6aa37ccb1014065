/**
 * A store that tells every instance of each change it commits that others must learn of at once: the
 * sessions it ended (a login's too, when it ends the least recently used to stay within the limit)
 * and any change of the signing keys. Whoever writes through it publishes, a server's
 * routes and the CLI alike, so no writer is left to the next poll. A method publishes only what that
 * call changed, after the write committed, and returns once the message is out (publishing never
 * rejects: the store stays the truth, and polling covers a message that was lost).
 */
import { composeStore } from '../composed-store.js';
import type { RefreshDecision, Store } from '../types.js';
import type { FanOutPublisher } from './fan-out.js';

export function publishingChanges(store: Store, fanOut: FanOutPublisher): Store {
  const sessionsRevoked = async (ids: readonly string[], revokedAt: number) => {
    if (ids.length > 0) {
      await fanOut.publish({ type: 'sessions-revoked', sessions: ids.map((id) => ({ id, revokedAt })) });
    }
  };
  const keysChanged = async (changed: boolean) => {
    if (changed) await fanOut.publish({ type: 'keys-changed' });
  };
  return {
    ...composeStore({
      users: store,
      sessions: store,
      counters: store,
      keys: store,
      ping: () => store.ping(),
      close: () => store.close(),
    }),

    async changePassword(userId, verifiedHash, passwordHash, keepSessionId, now, reason) {
      const revoked = await store.changePassword(
        userId,
        verifiedHash,
        passwordHash,
        keepSessionId,
        now,
        reason,
      );
      await sessionsRevoked(revoked ?? [], now);
      return revoked;
    },

    async consumeRefreshToken(hash, decide) {
      // The store may ask more than once (a token that changed underneath); the last answer is what it did.
      const decisions: RefreshDecision[] = [];
      const outcome = await store.consumeRefreshToken(hash, (state) => {
        const decision = decide(state);
        decisions.push(decision);
        return decision;
      });
      const decision = decisions.at(-1);
      // A 'revoke' outcome for a session revoked before keeps that first revocation: nothing new to tell.
      if (
        outcome?.action === 'revoke' &&
        decision?.action === 'revoke' &&
        outcome.session.revokedAt === decision.now &&
        outcome.session.revokedReason === decision.reason
      ) {
        await sessionsRevoked([outcome.session.id], decision.now);
      }
      return outcome;
    },

    async revokeSession(id, now, reason) {
      const session = await store.revokeSession(id, now, reason);
      // A session revoked before keeps its first revocation: nothing new to tell.
      if (session !== null && session.revokedAt === now && session.revokedReason === reason) {
        await sessionsRevoked([session.id], now);
      }
      return session;
    },

    async createLoginSession(session, refreshTokenHash, verifiedHash, limit) {
      const created = await store.createLoginSession(session, refreshTokenHash, verifiedHash, limit);
      await sessionsRevoked(created?.ended ?? [], session.createdAt);
      return created;
    },

    async revokeUserSessions(userId, now, reason, exceptSessionId) {
      const revoked = await store.revokeUserSessions(userId, now, reason, exceptSessionId);
      await sessionsRevoked(revoked, now);
      return revoked;
    },

    async insertSigningKey(key) {
      const inserted = await store.insertSigningKey(key);
      await keysChanged(inserted);
      return inserted;
    },

    async revokeSigningKey(kid, now, replacement) {
      const revoked = await store.revokeSigningKey(kid, now, replacement);
      await keysChanged(revoked);
      return revoked;
    },

    async deleteSigningKeys(kids) {
      const deleted = await store.deleteSigningKeys(kids);
      await keysChanged(deleted > 0);
      return deleted;
    },
  };
}
