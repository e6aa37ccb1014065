/** What a rejected call threw, as a plain object for `toEqual`: its code, its message and named extras. */
import type { LatchkeyError } from '../../src/errors.js';

// biome-ignore lint/suspicious/noExplicitAny: any constructor signature of an error class
type ErrorClass<E> = abstract new (...args: any[]) => E;

export function rejectionOf<E extends LatchkeyError>(
  errorClass: ErrorClass<E>,
  run: () => unknown,
  ...extras: (keyof E & string)[]
): Record<string, unknown> {
  try {
    run();
  } catch (error) {
    if (!(error instanceof errorClass)) throw error;
    const shown: Record<string, unknown> = { code: error.code, message: error.message };
    for (const name of extras) shown[name] = error[name];
    return shown;
  }
  throw new Error(`expected a ${errorClass.name}`);
}
