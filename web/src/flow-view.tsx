/**
 * The requests this page made, drawn as a sequence diagram (Browser · Latchkey · API): each request
 * an arrow from the Browser, each answer an arrow back, with its status and what travelled with it.
 */
import { useEffect, useState } from 'preact/hooks';
import { type FlowEntry, flow } from './session.js';

export function useFlow(): { entries: readonly FlowEntry[]; accessToken: string | null } {
  const [, setVersion] = useState(0);
  useEffect(() => flow.subscribe(() => setVersion((v) => v + 1)), []);
  return { entries: flow.entries, accessToken: flow.accessToken };
}

const statusClass = (status: number) =>
  status === 0
    ? 'status-none'
    : status < 300
      ? 'status-ok'
      : status < 500
        ? 'status-refused'
        : 'status-failed';

export function FlowView() {
  const { entries } = useFlow();
  return (
    <div class="flow">
      <div class="flow-heads" aria-hidden="true">
        <span>Browser</span>
        <span>Latchkey</span>
        <span>API</span>
      </div>
      {entries.length === 0 ? (
        <p class="flow-empty">No requests yet.</p>
      ) : (
        <ol class="flow-messages" aria-label="Requests, oldest first">
          {entries.map((entry) => {
            const target = entry.to === 'API' ? 'api' : 'latchkey';
            return (
              <li key={entry.id} class="flow-exchange">
                <div class={`flow-msg to-${target}`}>
                  <div class="flow-label">
                    <span class="visually-hidden">Browser to {entry.to}: </span>
                    <strong>
                      {entry.method} {entry.path}
                    </strong>
                    <span class="flow-detail">{entry.sent.join('; ')}</span>
                  </div>
                  <div class="flow-arrow arrow-right" aria-hidden="true" />
                </div>
                <div class={`flow-msg to-${target} ${statusClass(entry.status)}`}>
                  <div class="flow-label">
                    <span class="visually-hidden">{entry.to} to Browser: </span>
                    <strong class="flow-status">{entry.status === 0 ? 'no answer' : entry.status}</strong>
                    <span class="flow-detail">{entry.received.join('; ')}</span>
                  </div>
                  <div class="flow-arrow arrow-left" aria-hidden="true" />
                </div>
              </li>
            );
          })}
        </ol>
      )}
      <p class="flow-legend">
        The access token travels only in the <code>Authorization</code> header. The refresh token lives in an
        HttpOnly cookie scoped to <code>/auth</code>: the browser sends it to Latchkey by itself, and this
        page's JavaScript never sees it.
      </p>
      {entries.length === 0 ? null : (
        <button type="button" class="secondary" onClick={() => flow.clear()}>
          Clear the diagram
        </button>
      )}
    </div>
  );
}
