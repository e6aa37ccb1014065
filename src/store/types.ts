/**
 * The storage interfaces of the auth domain, one per part (users, sessions, counters, keys) and `Store`,
 * all of them over one database. Methods are named for what the domain needs and each is one atomic
 * operation; every implementation (SQLite, PostgreSQL, memory) passes the conformance suite in
 * test/store/conformance.ts, which has a section per part. All times are milliseconds since the epoch. Expected absence is
 * `null`; a broken rule (a duplicate email) is a `StoreError`.
 */

export type { AttemptsInFlight, InFlightLimit, ReleaseAttempt } from './attempts-in-flight.js';
export type { CounterFailure, CounterState, CounterStore } from './counter-store.js';
export type { KeyStore, SigningKeyRecord } from './key-store.js';
export type {
  LiveSessionLimit,
  NewLoginSession,
  NewSession,
  RefreshDecision,
  RefreshOutcome,
  RefreshTokenRecord,
  RefreshTokenState,
  RevokedSession,
  RevokedSessionsPage,
  SessionRecord,
  SessionStore,
} from './session-store.js';
export type { NewUser, UserRecord, UserStore } from './user-store.js';

import type { CounterStore } from './counter-store.js';
import type { KeyStore } from './key-store.js';
import type { SessionStore } from './session-store.js';
import type { UserStore } from './user-store.js';

/**
 * The whole store, as one database holds it. The domain takes only the parts it uses, so that a part
 * can move to another backend (counters to Redis) without the rest noticing.
 */
export interface Store extends UserStore, SessionStore, CounterStore, KeyStore {
  /** Throws when the database cannot answer (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
