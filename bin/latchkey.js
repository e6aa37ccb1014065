#!/usr/bin/env node
// The compiled CLI (npm install builds dist/; `npm run build` after a change to src/). Stack traces
// point into the TypeScript sources through the source maps.
process.setSourceMapsEnabled(true);
const { main } = await import('../dist/cli/main.js');
await main();
