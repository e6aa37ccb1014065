/**
 * Why a session ended, as its record keeps it (`revokedReason`) and as logs and metrics name it. The
 * domain decides these; a store keeps whatever reason it is given.
 */
export const SessionEndReason = {
  /** The user logged out of this session. */
  logout: 'logout',
  /** The user ended this session from another one (DELETE /auth/sessions/:id). */
  revokedByUser: 'revoked_by_user',
  /** The user logged out everywhere. */
  logoutAll: 'logout_all',
  /** The user changed their password: every other session ends. */
  passwordChanged: 'password_changed',
  /** A rotated refresh token came back after the grace window: the family is assumed stolen. */
  refreshTokenReuse: 'refresh_token_reuse',
  /** The account was disabled (by an operator, or found disabled at refresh). */
  userDisabled: 'user_disabled',
  /** An operator ended the session from the console. */
  revokedByAdmin: 'revoked_by_admin',
  /** A login of the same user ended it, the least recently used, to stay within the live-session limit. */
  sessionLimit: 'session_limit',
} as const;

export type SessionEndReason = (typeof SessionEndReason)[keyof typeof SessionEndReason];
