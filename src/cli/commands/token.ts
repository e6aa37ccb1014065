/**
 * `latchkey token inspect <jwt>`: the token's three parts decoded, its claims in words, and every
 * problem the server would find with it, checked against the configured store's signing keys. Exit
 * code 0 when the server would accept it, 1 when there are problems. The token itself is never
 * echoed back whole; a refresh token given by mistake is not printed at all.
 */
import type { Command } from 'commander';
import { isRoleList } from '../../auth/access-tokens.js';
import type { ServerConfig } from '../../server/config.js';
import type { SessionStore, UserStore } from '../../store/types.js';
import { type CLIContext, CLIError } from '../context.js';
import { explainClaims } from '../explain.js';
import { countOf, formatJSON, formatTable, formatTime } from '../format.js';
import { type Inspection, inspectToken, type Problem } from '../inspect.js';
import { readFirstLine } from '../prompt.js';

export function registerTokenCommand(program: Command, context: CLIContext): void {
  const token = program.command('token').description('inspect access tokens');

  token
    .command('inspect')
    .description(
      "decode an access token, explain its claims, and check it against the server's keys and rules",
    )
    .argument('<jwt>', 'the token, or - to read it from standard input (keeps it out of shell history)')
    .action(async (argument: string) => {
      const jwt = (argument === '-' ? await readToken(context) : argument).trim();
      if (jwt.startsWith('lk_rt_')) {
        throw new CLIError(
          'that is a refresh token: an opaque secret with nothing to decode. Do not share it.',
        );
      }
      await context.withStoredKeys(async (keys, store, config) => {
        const nowMs = context.now();
        const inspection = inspectToken(jwt, {
          keys: keys.verificationKeys,
          revokedKeys: new Map(
            keys
              .list()
              .flatMap(({ kid, revokedAt }) => (revokedAt === null ? [] : [[kid, revokedAt] as const])),
          ),
          issuer: config.issuer,
          audience: config.audience,
          ttlSeconds: config.accessTtlSeconds,
          clockToleranceSeconds: config.clockToleranceSeconds,
          nowMs,
        });
        const extra = await storeFindings(store, inspection, nowMs);
        const problems = [...inspection.problems, ...extra.problems];
        printParts(context, inspection);
        if (inspection.payload?.ok === true) {
          context.print('Claims');
          const rows = explainClaims(inspection.payload.value, Math.floor(nowMs / 1000), extra.notes);
          context.io.stdout(indent(formatTable(['CLAIM', 'VALUE', 'MEANING'], rows)));
          context.print();
        }
        // Not "published": an HS256 secret verifies too, and is never in the JWKS.
        const keyCount = countOf(keys.verificationKeys.size, 'server key');
        context.print(`Verification (${keyCount}; ${assumptions(context, config)})`);
        printVerdict(context, inspection, problems);
        const wrongPlace = problems.some(({ name }) => name === 'wrong iss' || name === 'wrong aud');
        if (wrongPlace && context.io.env.LATCHKEY_ISSUER === undefined) {
          context.print(
            `Hint: this command took the issuer ${config.issuer} from ${context.io.env.PORT === undefined ? 'its default port' : 'PORT'}, ` +
              "not from a server: run it with the server's LATCHKEY_ISSUER (or PORT) to judge the token as that server does.",
          );
        }
        context.exitCode = problems.length === 0 ? 0 : 1;
      });
    });
}

/** The rules the check used, each said to come from the environment or to be the server's default. */
function assumptions(context: CLIContext, config: ServerConfig): string {
  const from = (variable: string) => (context.io.env[variable] === undefined ? 'default' : variable);
  return [
    `issuer ${config.issuer} (${from('LATCHKEY_ISSUER')})`,
    `audience ${config.audience} (${from('LATCHKEY_AUDIENCE')})`,
    `clock tolerance ${config.clockToleranceSeconds} s (${from('LATCHKEY_CLOCK_TOLERANCE')})`,
  ].join('; ');
}

async function readToken(context: CLIContext): Promise<string> {
  const line = context.io.stdin === undefined ? null : await readFirstLine(context.io.stdin);
  if (line === null) throw new CLIError('standard input is empty; expected a token');
  return line;
}

function printParts(context: CLIContext, inspection: Inspection): void {
  const { header, payload, signature } = inspection;
  for (const [title, part] of [
    ['Header', header],
    ['Payload', payload],
  ] as const) {
    if (part === null) continue;
    context.print(title);
    context.print(part.ok ? indent(formatJSON(part.value, 2)) : `  (unreadable: it ${part.reason})`);
  }
  if (signature !== null) {
    context.print('Signature');
    const expected =
      signature.expectedBytes === null || signature.bytes === signature.expectedBytes
        ? ''
        : ` (its alg needs ${signature.expectedBytes})`;
    context.print(signature.bytes === null ? '  (unreadable)' : `  ${signature.bytes} bytes${expected}`);
  }
  if (header !== null || payload !== null) context.print();
}

function printVerdict(context: CLIContext, inspection: Inspection, problems: readonly Problem[]): void {
  const key = inspection.verifiedBy;
  if (key !== null) context.print(`  ✓ signature verified with key ${key.kid ?? '(no kid)'} (${key.alg})`);
  for (const problem of problems.filter((p) => !p.unverified))
    context.print(`  ✗ ${problem.name}: ${problem.detail}`);
  const unverified = problems.filter((p) => p.unverified);
  if (unverified.length > 0) {
    context.print('  Claims checked although the signature did not verify (nobody can vouch for them):');
    for (const problem of unverified) context.print(`  ✗ ${problem.name}: ${problem.detail}`);
  }
  context.print();
  if (problems.length === 0) {
    context.print('Result: valid. The server accepts this token.');
  } else {
    const names = [...new Set(problems.map((problem) => problem.name))].join(', ');
    context.print(`Result: invalid, ${countOf(problems.length, 'problem')}: ${names}`);
  }
}

/**
 * What only the database knows: whose user `sub` is, whether the session `sid` was revoked, and
 * whether the user's roles changed since the token was issued.
 */
async function storeFindings(store: UserStore & SessionStore, inspection: Inspection, nowMs: number) {
  const notes: Record<string, string> = {};
  const problems: Problem[] = [];
  if (inspection.payload?.ok !== true) return { notes, problems };
  const { sub, sid, roles } = inspection.payload.value;
  const unverified = inspection.verifiedBy === null;
  if (typeof sub === 'string') {
    const user = await store.findUserById(sub);
    notes.sub =
      user === null ? 'no such user here' : `${user.email}${user.disabledAt === null ? '' : ', disabled'}`;
    // Not a problem: the token is right about the time it was issued, and the next refresh catches up.
    if (user !== null && isRoleList(roles) && !sameRoles(roles, user.roles)) {
      notes.roles = `the user has ${user.roles.length === 0 ? 'none' : user.roles.join(', ')} now`;
    }
  }
  if (typeof sid === 'string') {
    const session = await store.findSession(sid);
    if (session === null) notes.sid = 'no such session here';
    else if (session.revokedAt === null) notes.sid = session.expiresAt > nowMs ? 'active' : 'ended';
    else {
      notes.sid = 'revoked';
      const why = session.revokedReason === null ? '' : ` (${session.revokedReason})`;
      problems.push({
        name: 'session revoked',
        detail: `session ${sid} was revoked at ${formatTime(session.revokedAt)}${why}`,
        unverified,
      });
    }
  }
  return { notes, problems };
}

function sameRoles(claimed: readonly string[], current: readonly string[]): boolean {
  const sorted = [...claimed].sort();
  return sorted.length === current.length && sorted.every((role, i) => role === current[i]);
}

const indent = (text: string) =>
  text
    .split('\n')
    .map((line) => (line === '' ? line : `  ${line}`))
    .join('\n');
