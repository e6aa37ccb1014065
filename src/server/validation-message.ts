/**
 * What a request that fails its schema is told. Fastify's own wording ("body/email must be string")
 * stays, except where Ajv leaves out what the client needs to fix: an unknown property is named.
 */
import type { FastifySchemaValidationError, FastifyServerOptions } from 'fastify';

/** An unknown property's name is the client's own text: shown as JSON, and cut short. */
const NAME_SHOWN = 64;

function describe(error: FastifySchemaValidationError, dataVar: string): string {
  const where = `${dataVar}${error.instancePath}`;
  const unknown = error.params.additionalProperty;
  if (error.keyword === 'additionalProperties' && typeof unknown === 'string') {
    const name = unknown.length > NAME_SHOWN ? `${unknown.slice(0, NAME_SHOWN)}…` : unknown;
    return `${where} must NOT have additional properties: ${JSON.stringify(name)} is not allowed`;
  }
  return `${where} ${error.message ?? 'is invalid'}`;
}

/** Fastify's `schemaErrorFormatter`: one message for the errors Ajv found (one, as we run it). */
export const validationError: NonNullable<FastifyServerOptions['schemaErrorFormatter']> = (errors, dataVar) =>
  new Error(errors.map((error) => describe(error, dataVar)).join(', '));
