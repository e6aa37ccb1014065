// npm runs `prepare` on every local install, including `npm install --omit=dev` for a server that
// only runs: there TypeScript is absent, and the built toolkit (for other services) is not needed.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  console.log('prepare: TypeScript is not installed, so the toolkit in dist/ is not built');
  process.exit(0);
}
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
