/**
 * A Latchkey server process started the way `npm start` starts one (compiled: `node
 * dist/server/main.js`), with its own port, data directory and issuer, serving the web UI that
 * test/global-setup.ts built into dist/web.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type LatchkeyProcess, ROOT, startLatchkeyProcess } from '../support/server-process.js';

export const WEB_INDEX = join(ROOT, 'dist', 'web', 'index.html');

export type UIServer = LatchkeyProcess;

export async function startUIServer(env: Record<string, string> = {}): Promise<UIServer> {
  if (!existsSync(WEB_INDEX)) throw new Error(`${WEB_INDEX} is missing: the web UI was not built`);
  return startLatchkeyProcess({ env: { LOG_LEVEL: 'warn', ...env } });
}
