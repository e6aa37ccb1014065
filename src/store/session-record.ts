import type { NewSession, SessionRecord } from './types.js';

/** The record of a session just stored: exactly its own fields, not yet revoked. */
export function newSessionRecord(session: NewSession): SessionRecord {
  return {
    id: session.id,
    userId: session.userId,
    createdAt: session.createdAt,
    lastUsedAt: session.lastUsedAt,
    expiresAt: session.expiresAt,
    idleExpiresAt: session.idleExpiresAt,
    userAgent: session.userAgent,
    ip: session.ip,
    revokedAt: null,
    revokedReason: null,
  };
}
