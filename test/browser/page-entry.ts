/**
 * What the browser tests load into a page: latchkey/client, bundled as an app would bundle it, and a
 * few handles for the test to drive it (a clock offset, the events seen).
 */
import { type ClientEvent, createClient, type LatchkeyClient } from '../../src/client/index.js';

interface TestHandles {
  client: LatchkeyClient | null;
  clockOffsetMs: number;
  events: ClientEvent[];
  start(baseUrl: string): LatchkeyClient;
}

const handles: TestHandles = {
  client: null,
  clockOffsetMs: 0,
  events: [],
  start(baseUrl) {
    const client = createClient({ baseUrl, now: () => Date.now() + handles.clockOffsetMs });
    for (const event of ['authenticated', 'refreshed', 'loggedOut', 'sessionExpired'] as const) {
      client.on(event, () => handles.events.push(event));
    }
    handles.client = client;
    return client;
  },
};

(globalThis as unknown as { latchkeyTest: TestHandles }).latchkeyTest = handles;
