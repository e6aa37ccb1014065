// npm runs `prepare` on every local install, including `npm install --omit=dev` for a server that
// only runs: there TypeScript is absent, and the built toolkit (for other services) is not needed.
// It builds the package's own exports (dist/) and each workspace package (src/jwt, src/verify,
// src/client), which pack into tarballs of their own.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  console.log('prepare: TypeScript is not installed, so the toolkit in dist/ is not built');
  process.exit(0);
}
const root = fileURLToPath(new URL('..', import.meta.url));
for (const project of [
  'tsconfig.build.json',
  ...['jwt', 'verify', 'client'].map((p) => `src/${p}/tsconfig.build.json`),
]) {
  execFileSync(process.execPath, [tsc, '-p', project], { cwd: root, stdio: 'inherit' });
}
