/**
 * Plain `node:http`: `authenticate(verifier, req)` gives the verified claims or the answer to send,
 * and `sendAuthAnswer(res, answer)` sends it in the contract's shape.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AuthAnswer,
  type AuthOptions,
  type AuthRequirement,
  type AuthResult,
  authenticateBearer,
  type TokenVerifier,
} from './core.js';

export function authenticate(
  verifier: TokenVerifier,
  request: IncomingMessage,
  requirement: AuthRequirement = {},
  options: AuthOptions = {},
): Promise<AuthResult> {
  return authenticateBearer(verifier, request.headers.authorization, requirement, options);
}

export function sendAuthAnswer(response: ServerResponse, answer: AuthAnswer): void {
  response.writeHead(answer.status, {
    ...answer.headers,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  });
  response.end(JSON.stringify(answer.body));
}
