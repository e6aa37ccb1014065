/**
 * One `Store` made of its parts, each of which may live in a different backend (counters in Redis,
 * the rest in SQL). Every method is the part's own, called as it is: no part sees another through here.
 */
import type { CounterStore, KeyStore, SessionStore, Store, UserStore } from './types.js';

export interface StoreParts {
  users: UserStore;
  sessions: SessionStore;
  counters: CounterStore;
  keys: KeyStore;
  /** Throws when a backend the parts need cannot answer (readiness). */
  ping(): Promise<void>;
  /** Closes every backend of the parts. */
  close(): Promise<void>;
}

export function composeStore({ users, sessions, counters, keys, ping, close }: StoreParts): Store {
  return {
    createUser: (user) => users.createUser(user),
    findUserByEmail: (email) => users.findUserByEmail(email),
    findUserById: (id) => users.findUserById(id),
    listUsers: () => users.listUsers(),
    rehashPassword: (userId, verifiedHash, passwordHash) =>
      users.rehashPassword(userId, verifiedHash, passwordHash),
    changePassword: (userId, verifiedHash, passwordHash, keepSessionId, now, reason) =>
      users.changePassword(userId, verifiedHash, passwordHash, keepSessionId, now, reason),
    setUserDisabled: (userId, disabledAt) => users.setUserDisabled(userId, disabledAt),
    addUserRole: (userId, role) => users.addUserRole(userId, role),
    removeUserRole: (userId, role) => users.removeUserRole(userId, role),

    createSession: (session, refreshTokenHash) => sessions.createSession(session, refreshTokenHash),
    createLoginSession: (session, refreshTokenHash, verifiedHash, limit) =>
      sessions.createLoginSession(session, refreshTokenHash, verifiedHash, limit),
    findSession: (id) => sessions.findSession(id),
    listActiveSessions: (userId, now) => sessions.listActiveSessions(userId, now),
    consumeRefreshToken: (hash, decide) => sessions.consumeRefreshToken(hash, decide),
    revokeSession: (id, now, reason) => sessions.revokeSession(id, now, reason),
    revokeUserSessions: (userId, now, reason, exceptSessionId) =>
      sessions.revokeUserSessions(userId, now, reason, exceptSessionId),
    listRevokedSessionsSince: (since, page) => sessions.listRevokedSessionsSince(since, page),
    deleteExpiredSessions: (before) => sessions.deleteExpiredSessions(before),

    recordFailures: (failures, now) => counters.recordFailures(failures, now),
    readCounters: (keys, now) => counters.readCounters(keys, now),
    clearCounter: (key) => counters.clearCounter(key),
    deleteExpiredCounters: (before) => counters.deleteExpiredCounters(before),

    listSigningKeys: () => keys.listSigningKeys(),
    insertSigningKey: (key) => keys.insertSigningKey(key),
    revokeSigningKey: (kid, now, replacement) => keys.revokeSigningKey(kid, now, replacement),
    resealSigningKey: (kid, from, to) => keys.resealSigningKey(kid, from, to),
    deleteSigningKeys: (kids) => keys.deleteSigningKeys(kids),
    ensureSecret: (name, value) => keys.ensureSecret(name, value),
    replaceSecret: (name, from, to) => keys.replaceSecret(name, from, to),

    ping,
    close,
  };
}
