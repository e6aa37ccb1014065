/**
 * Loader for the standards test vectors (Project Wycheproof, RFC 7515 Appendix A, the RFC 7520 JOSE
 * Cookbook, RFC 7797, RFC 8037). They are read in place from `../shared/vectors` beside the repository
 * and never copied into it: the folder keeps each source's licence, and /work/shared/vectors/README.md
 * records the upstream commits and the known defects. A clone without that folder skips the vector
 * suites and says why.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** `../shared/vectors/`, seen from the repository root (this file is in `test/jwt/`). */
const VECTORS_URL = new URL('../../../shared/vectors/', import.meta.url);

export const VECTORS_DIR = fileURLToPath(VECTORS_URL);

export const HAS_VECTORS = existsSync(VECTORS_DIR);

/** True when the vectors are present; otherwise warns that `suite` is skipped, and why. */
export function detectVectors(suite: string): boolean {
  if (!HAS_VECTORS) {
    console.warn(
      `${suite}: skipped. The standards vectors are read in place from ${VECTORS_DIR} ` +
        '(../shared/vectors beside the repository), which this checkout does not have. ' +
        'Put the shared vectors folder there to run these tests.',
    );
  }
  return HAS_VECTORS;
}

const parsed = new Map<string, unknown>();

/** Parses one JSON file below the vectors folder, once per run. Throws when the file is missing. */
export function readVectorJSON<T>(relativePath: string): T {
  let value = parsed.get(relativePath);
  if (value === undefined) {
    value = JSON.parse(readFileSync(new URL(relativePath, VECTORS_URL), 'utf8'));
    parsed.set(relativePath, value);
  }
  return value as T;
}

/** Wycheproof schema (upstream `schemas/`): the fields every test has. */
export interface WycheproofTest {
  tcId: number;
  comment: string;
  flags: string[];
  result: WycheproofResult;
}

export type WycheproofResult = 'valid' | 'invalid' | 'acceptable';

export interface WycheproofFile<Group> {
  numberOfTests: number;
  testGroups: Group[];
}

/** ECDSA (P1363), EdDSA, RSASSA-PKCS1-v1_5 and RSASSA-PSS verify groups: one public key, hex fields. */
export interface SignatureTestGroup {
  type: string;
  /** SPKI, hex. */
  publicKeyDer: string;
  tests: (WycheproofTest & { msg: string; sig: string })[];
}

/** MAC groups: sizes in bits, and a key per test. */
export interface MacTestGroup {
  keySize: number;
  tagSize: number;
  tests: (WycheproofTest & { key: string; msg: string; tag: string })[];
}

/** JOSE groups: a JWK or a JWK Set in `private`, its public part in `public` where there is one. */
export interface JOSETestGroup {
  comment: string;
  private: unknown;
  public?: unknown;
  /** `jws` is a compact string or, for the JsonSerialization flag, a JSON object; JWE tests have `jwe`. */
  tests: (WycheproofTest & { jws?: unknown; jwe?: unknown })[];
}

/** A Wycheproof file from `wycheproof/`, after checking that its test count is the one it declares. */
export function loadWycheproof<Group extends { tests: WycheproofTest[] }>(
  fileName: string,
): WycheproofFile<Group> {
  const file = readVectorJSON<WycheproofFile<Group>>(`wycheproof/${fileName}`);
  const counted = file.testGroups.reduce((sum, group) => sum + group.tests.length, 0);
  if (counted !== file.numberOfTests) {
    throw new Error(`${fileName} declares ${file.numberOfTests} tests but holds ${counted}`);
  }
  return file;
}
