/**
 * A JWT laid open: its three parts coloured as the format has them, each decoded, every claim in
 * words, a live expiry countdown, and a verdict against the server's published keys, all computed in
 * this page. The token itself is never sent anywhere.
 */
import { useEffect, useState } from 'preact/hooks';
import {
  decodeToken,
  explainClaims,
  fetchServerKeys,
  type ServerKeys,
  type Verdict,
  verifyToken,
} from './jwt.js';

let keys: { at: number; promise: Promise<ServerKeys> } | null = null;

/** The server's keys, fetched at most once a minute (and again when a token names an unknown one). */
function serverKeys(refetch = false): Promise<ServerKeys> {
  if (keys === null || refetch || Date.now() - keys.at > 60_000) {
    const promise = fetchServerKeys(location.origin);
    keys = { at: Date.now(), promise };
    promise.catch(() => {
      keys = null;
    });
  }
  return keys.promise;
}

async function judge(token: string, nowSeconds: number): Promise<Verdict> {
  let server: ServerKeys;
  try {
    server = await serverKeys();
  } catch (error) {
    return {
      valid: false,
      reason: 'keys unavailable',
      detail: `the server's keys could not be read: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  const verdict = await verifyToken(token, { ...server, nowSeconds });
  if (verdict.valid || verdict.reason !== 'unknown key') return verdict;
  // A key published since the last fetch: look once more.
  return verifyToken(token, { ...(await serverKeys(true)), nowSeconds });
}

/** The time, ticking once a second. */
export function useNow(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  return now;
}

function pretty(value: Record<string, unknown> | null, raw: string): string {
  return value === null
    ? `(not JSON: ${raw.slice(0, 40)}${raw.length > 40 ? '…' : ''})`
    : JSON.stringify(value, null, 2);
}

export function TokenView(props: { token: string; idPrefix: string }) {
  const now = useNow();
  const nowSeconds = Math.floor(now / 1000);
  const decoded = decodeToken(props.token);
  const exp = decoded.ok ? decoded.token.payload.json?.exp : undefined;
  const expired = typeof exp === 'number' && exp <= nowSeconds;
  // Kept with the token it judges: on the render after a new paste, before the effect below runs,
  // the previous token's verdict must not show (nor be announced) under the new token.
  const [judged, setJudged] = useState<{ token: string; verdict: Verdict } | null>(null);
  const verdict = judged?.token === props.token ? judged.verdict : null;

  // Judged again when the token changes and when it crosses its expiry.
  useEffect(() => {
    let current = true;
    const token = props.token;
    setJudged(null);
    judge(token, Math.floor(Date.now() / 1000)).then((result) => {
      if (current) setJudged({ token, verdict: result });
    });
    return () => {
      current = false;
    };
  }, [props.token, expired]);

  if (!decoded.ok) {
    return (
      <div class="verdict verdict-bad" role="status">
        <strong>Not a JWT:</strong> {decoded.reason}
      </div>
    );
  }
  const { header, payload, signature } = decoded.token;
  const id = props.idPrefix;
  return (
    <div class="token-view">
      <p class="jwt">
        <span class="jwt-header">{header.raw}</span>
        <span class="jwt-dot">.</span>
        <span class="jwt-payload">{payload.raw}</span>
        <span class="jwt-dot">.</span>
        <span class="jwt-signature">{signature}</span>
      </p>
      <VerdictView verdict={verdict} />
      {typeof exp === 'number' ? <Countdown exp={exp} nowSeconds={nowSeconds} /> : null}
      <div class="parts">
        <section class="part part-header" aria-labelledby={`${id}-header`}>
          <h3 id={`${id}-header`}>Header</h3>
          <p class="part-note">how it was signed: the algorithm and the key's id</p>
          <pre>{pretty(header.json, header.raw)}</pre>
        </section>
        <section class="part part-payload" aria-labelledby={`${id}-payload`}>
          <h3 id={`${id}-payload`}>Payload</h3>
          <p class="part-note">the claims: who, for whom, until when</p>
          <pre>{pretty(payload.json, payload.raw)}</pre>
        </section>
        <section class="part part-signature" aria-labelledby={`${id}-signature`}>
          <h3 id={`${id}-signature`}>Signature</h3>
          <p class="part-note">
            over the header and payload, by the server's private key; anyone can check it with the public key
          </p>
          <pre class="signature-text">{signature === '' ? '(none)' : signature}</pre>
        </section>
      </div>
      {payload.json === null ? null : (
        <section aria-labelledby={`${id}-claims`}>
          <h3 id={`${id}-claims`}>The claims in words</h3>
          <dl class="claims">
            {explainClaims(payload.json, nowSeconds).map((claim) => (
              <div class="claim" key={claim.name}>
                <dt>
                  <code>{claim.name}</code>
                </dt>
                <dd>
                  <span class="claim-meaning">{claim.meaning}</span>
                  <span class="claim-value">{claim.value}</span>
                </dd>
              </div>
            ))}
          </dl>
        </section>
      )}
    </div>
  );
}

function Countdown(props: { exp: number; nowSeconds: number }) {
  const left = props.exp - props.nowSeconds;
  const minutes = Math.floor(Math.abs(left) / 60);
  const seconds = Math.abs(left) % 60;
  const text = `${minutes}:${String(seconds).padStart(2, '0')}`;
  return (
    <p class={left > 0 ? 'countdown' : 'countdown countdown-over'}>
      {left > 0 ? (
        <>
          Expires in <strong class="countdown-time">{text}</strong>
        </>
      ) : (
        <>
          Expired <strong class="countdown-time">{text}</strong> ago
        </>
      )}
    </p>
  );
}

function VerdictView(props: { verdict: Verdict | null }) {
  const { verdict } = props;
  if (verdict === null) {
    return (
      <p class="verdict" role="status">
        Checking the signature against the server's published keys…
      </p>
    );
  }
  if (verdict.valid) {
    return (
      <p class="verdict verdict-good" role="status" data-verdict="valid">
        <strong>Valid.</strong> Signed with key <code>{verdict.kid}</code> ({verdict.alg}), which this server
        publishes; not expired; issued by this server. Whether it is meant for a given service is that
        service's check of the audience (<code>aud</code>).
      </p>
    );
  }
  if (verdict.reason === 'secret key') {
    return (
      <p class="verdict" role="status" data-verdict={verdict.reason}>
        <strong>Cannot be checked here.</strong> {verdict.detail.charAt(0).toUpperCase()}
        {verdict.detail.slice(1)}.
      </p>
    );
  }
  return (
    <p class="verdict verdict-bad" role="status" data-verdict={verdict.reason}>
      <strong>Invalid: {verdict.reason}.</strong> {verdict.detail.charAt(0).toUpperCase()}
      {verdict.detail.slice(1)}.
    </p>
  );
}
