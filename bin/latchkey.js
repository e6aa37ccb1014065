#!/usr/bin/env node
// The sources are TypeScript run through tsx, so the command works from a checkout without a build.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main();
