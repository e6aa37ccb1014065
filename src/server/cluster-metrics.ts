/**
 * /metrics under `latchkey serve --workers N`: whichever worker answers, it answers the sum over every
 * worker. The worker asks the primary over the cluster's IPC channel; the primary collects each
 * worker's registry with prom-client's AggregatorRegistry (counters and histograms summed, gauges by
 * their own aggregator) and sends the text back.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

const REQUEST = 'latchkey:metrics-request';
const ANSWER = 'latchkey:metrics-answer';
/** The primary gives up on a worker that does not answer after 5 s (prom-client's own limit). */
const ANSWER_TIMEOUT_MS = 6_000;

interface MetricsRequest {
  type: typeof REQUEST;
  id: number;
}

type MetricsAnswer = { type: typeof ANSWER; id: number } & ({ text: string } | { error: string });

const isMessage = <T extends { type: string }>(message: unknown, type: T['type']): message is T =>
  typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;

/**
 * In a worker: a function that returns the metrics of every worker summed. It also lets the primary
 * read this worker's `registry` (prom-client's listener, installed when an AggregatorRegistry is made).
 */
export function createWorkerMetricsText(registry: Registry): () => Promise<string> {
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry();
  const pending = new Map<number, (answer: MetricsAnswer) => void>();
  let nextId = 0;
  process.on('message', (message: unknown) => {
    if (isMessage<MetricsAnswer>(message, ANSWER)) pending.get(message.id)?.(message);
  });
  return () =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error('the cluster primary did not answer with the metrics'));
      }, ANSWER_TIMEOUT_MS);
      pending.set(id, (answer) => {
        clearTimeout(timer);
        pending.delete(id);
        if ('text' in answer) resolve(answer.text);
        else reject(new Error(`the cluster primary could not collect the metrics: ${answer.error}`));
      });
      process.send?.({ type: REQUEST, id } satisfies MetricsRequest);
    });
}

/** In the primary: answers the workers' requests for the summed metrics. */
export function serveWorkerMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker: Worker, message: unknown) => {
    if (!isMessage<MetricsRequest>(message, REQUEST)) return;
    const reply = (answer: MetricsAnswer) => {
      // The worker may have gone meanwhile; its request goes with it.
      if (worker.isConnected()) worker.send(answer);
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ type: ANSWER, id: message.id, text }),
      (error: unknown) =>
        reply({
          type: ANSWER,
          id: message.id,
          error: error instanceof Error ? error.message : String(error),
        }),
    );
  });
}
