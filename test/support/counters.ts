/** One counter at a time, through the store's batched counter methods: what most tests need. */
import type { CounterState, CounterStore } from '../../src/store/types.js';

export async function recordFailure(
  store: CounterStore,
  key: string,
  windowMs: number,
  now: number,
): Promise<CounterState> {
  const [counter] = await store.recordFailures([{ key, windowMs }], now);
  if (counter === undefined) throw new Error(`recordFailures returned nothing for ${key}`);
  return counter;
}

export async function readCounter(
  store: CounterStore,
  key: string,
  now: number,
): Promise<CounterState | null> {
  const [counter] = await store.readCounters([key], now);
  if (counter === undefined) throw new Error(`readCounters returned nothing for ${key}`);
  return counter;
}
