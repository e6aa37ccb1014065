/**
 * One worker of `latchkey serve --workers N`, forked by the primary (cluster.ts): a whole server on the
 * port the workers share, its metrics summed with the others' at /metrics. The primary prints the
 * "listening" line once every worker listens.
 */
import { main } from './main.js';

await main({ announce: false, clusterWorker: true });
