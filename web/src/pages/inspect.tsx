/** The token inspector: paste a JWT; it is decoded, explained and verified here, never sent. */
import { useState } from 'preact/hooks';
import { useFlow } from '../flow-view.js';
import { TokenView } from '../token-view.js';

export function InspectPage() {
  const [token, setToken] = useState('');
  const { accessToken } = useFlow();
  return (
    <>
      <h1 id="page-title" tabIndex={-1}>
        Token inspector
      </h1>
      <section class="card" aria-labelledby="paste-title">
        <h2 id="paste-title" class="visually-hidden">
          Paste a token
        </h2>
        <div class="field">
          <label for="token-input">Access token (JWT)</label>
          <p id="token-input-hint" class="hint">
            Decoded and verified in this page with WebCrypto against the server's published keys. The token
            never leaves the page: no request carries it.
          </p>
          <textarea
            id="token-input"
            rows={5}
            spellcheck={false}
            autoComplete="off"
            aria-describedby="token-input-hint"
            value={token}
            onInput={(event) => setToken((event.currentTarget as HTMLTextAreaElement).value)}
          />
        </div>
        {accessToken === null ? null : (
          <button type="button" class="secondary" onClick={() => setToken(accessToken)}>
            Use my current access token
          </button>
        )}
      </section>
      {token.trim() === '' ? null : (
        <section class="card" aria-labelledby="result-title">
          <h2 id="result-title">What it says</h2>
          <TokenView token={token.trim()} idPrefix="pasted" />
        </section>
      )}
    </>
  );
}
