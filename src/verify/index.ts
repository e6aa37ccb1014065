/**
 * `latchkey/verify`: check Latchkey access tokens in any resource server. The framework adapters
 * are separate entry points (`latchkey/verify/express`, `/fastify`, `/hono`, `/node`), so none of
 * the frameworks is loaded unless it is used.
 */
export { type BearerCredentials, bearerChallenge, parseAuthorization } from './bearer.js';
export {
  type AuthAnswer,
  type AuthOptions,
  type AuthRequirement,
  type AuthResult,
  answerForError,
  authenticateBearer,
  checkRequirement,
  type TokenVerifier,
} from './core.js';
export {
  createRemoteVerifier,
  type RemoteVerifier,
  type RemoteVerifierOptions,
  type RemoteVerifierStatus,
  type RevocationOptions,
} from './remote-verifier.js';
export type { FeedFailureMode } from './revocation-feed.js';
