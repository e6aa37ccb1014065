/**
 * An error and its causes, outermost first: a failed migration wraps the driver's error, whose code
 * says what went wrong. Bounded, so a cause that refers back to an error already seen ends the walk.
 */
const MAX_DEPTH = 5;

export function causeChain(error: unknown): Error[] {
  const chain: Error[] = [];
  for (let cause = error; cause instanceof Error && chain.length < MAX_DEPTH; cause = cause.cause) {
    chain.push(cause);
  }
  return chain;
}
