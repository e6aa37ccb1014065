/** `latchkey/client`: log in, stay logged in, and call APIs with the access token. */

export type {
  AccessTokenClaims,
  ErrorBody,
  MeResponse,
  SessionInfo,
  TokenResponse,
  UserResponse,
  WireErrorCode,
} from '../protocol.js';
export {
  type ClientEvent,
  createClient,
  type LatchkeyClient,
  type LatchkeyClientOptions,
  type RefreshTokenStore,
} from './client.js';
export { type ClientErrorCode, LatchkeyClientError } from './errors.js';
