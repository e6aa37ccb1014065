/**
 * @fastify/jwt as its README sets it up to verify tokens (verify-only `secret: { public }`, a string
 * for HMAC, and the `authenticate` hook run onRequest), with the checks Latchkey makes; its
 * verified-token cache off (the default), and left so. The peer of Latchkey in the HTTP benchmarks.
 */
import fastifyJWT from '@fastify/jwt';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ACCESS_TOKEN_TYP } from '../src/protocol.js';
import type { AlgMaterial } from './http-issuer.js';

/** The claims a verifier must find, as Latchkey's resource-server verifier requires them. */
export const REQUIRED_CLAIMS = ['exp', 'iat', 'sub'];

export type Authenticate = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/** Registers the plugin for `material`'s key and issuer; returns the README's `authenticate` hook. */
export async function registerFastifyJWT(
  app: FastifyInstance,
  material: AlgMaterial,
  audience: string,
): Promise<Authenticate> {
  await app.register(fastifyJWT, {
    secret: material.secret ?? { public: material.publicPEM ?? '' },
    verify: {
      algorithms: [material.alg],
      allowedIss: material.issuer,
      allowedAud: audience,
      checkTyp: ACCESS_TOKEN_TYP,
      requiredClaims: REQUIRED_CLAIMS,
    },
  });
  return async (request, reply) => {
    try {
      await request.jwtVerify();
    } catch (err) {
      reply.send(err);
    }
  };
}
