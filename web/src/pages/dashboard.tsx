/** The protected page: who you are, your sessions, logging out, the password, and your token. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { LatchkeyClientError, type MeResponse, type SessionInfo } from '../../../src/client/index.js';
import {
  describeFormError,
  describePasswordLength,
  Field,
  type FieldErrors,
  FormError,
  fieldErrorsOfRequest,
  MIN_PASSWORD_LENGTH,
  Notice,
} from '../fields.js';
import { FlowView, useFlow } from '../flow-view.js';
import { describeDevice, describeTime } from '../format.js';
import { client, logoutNotice } from '../session.js';
import { TokenView } from '../token-view.js';

/** An error of a call made while the session may have just ended: the App has moved on by then. */
function sessionGone(error: unknown): boolean {
  return !client.authenticated || (error instanceof LatchkeyClientError && error.code === 'missing_token');
}

export function DashboardPage() {
  const [me, setMe] = useState<MeResponse | null>(null);
  const [sessions, setSessions] = useState<SessionInfo[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const { accessToken } = useFlow();

  const load = useCallback(async () => {
    try {
      const [who, list] = await Promise.all([client.me(), client.sessions()]);
      setMe(who);
      setSessions(list);
      setProblem(null);
    } catch (error) {
      if (!sessionGone(error)) setProblem(describeFormError(error));
    }
  }, []);

  useEffect(() => {
    void load();
    // Back to the tab after a while: the session may have been revoked elsewhere.
    const onVisible = () => document.visibilityState === 'visible' && void load();
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  }, [load]);

  async function act(work: () => Promise<void>, done: string | null) {
    setBusy(true);
    setNotice(null);
    try {
      await work();
      if (done !== null) setNotice(done);
    } catch (error) {
      if (!sessionGone(error)) setProblem(describeFormError(error));
    } finally {
      setBusy(false);
    }
  }

  const revoke = (session: SessionInfo) =>
    act(
      async () => {
        await client.revokeSession(session.id);
        await load();
      },
      `Session on ${describeDevice(session.user_agent)} revoked.`,
    );

  async function logout() {
    setBusy(true);
    setNotice(null);
    logoutNotice.next = 'You logged out on this device.';
    try {
      await client.logout();
    } catch (error) {
      // The server was not told: the session stays (its cookie would bring it back on reload), and so
      // does this page, saying so, for another try.
      logoutNotice.next = null;
      if (!sessionGone(error)) setProblem(`Not logged out. ${describeFormError(error)}`);
    } finally {
      setBusy(false);
    }
  }

  const logoutAll = () =>
    act(async () => {
      logoutNotice.next = 'You logged out everywhere: every session of your account has ended.';
      await client.logoutAll();
    }, null);

  return (
    <>
      <div class="page-head">
        <h1 id="page-title" tabIndex={-1}>
          Dashboard
        </h1>
        <div class="actions">
          <button type="button" class="secondary" onClick={logout} disabled={busy}>
            Log out
          </button>
          <button type="button" class="danger" onClick={logoutAll} disabled={busy}>
            Log out everywhere
          </button>
        </div>
      </div>
      {notice === null ? null : <Notice>{notice}</Notice>}
      {problem === null ? null : <FormError id="dashboard-error">{problem}</FormError>}
      <div class="grid">
        <section class="card" aria-labelledby="who-title">
          <h2 id="who-title">Who you are</h2>
          {me === null ? (
            <p>Loading…</p>
          ) : (
            <dl class="facts">
              <div>
                <dt>Email</dt>
                <dd data-testid="me-email">{me.email}</dd>
              </div>
              <div>
                <dt>User id</dt>
                <dd>
                  <code>{me.id}</code>
                </dd>
              </div>
              <div>
                <dt>Roles</dt>
                <dd>{me.roles.length === 0 ? 'none' : me.roles.join(', ')}</dd>
              </div>
            </dl>
          )}
          <p class="hint">
            From <code>GET /api/me</code>, the protected route, called with your access token.
          </p>
        </section>
        <ChangePassword onChanged={load} />
      </div>
      <section class="card" aria-labelledby="sessions-title">
        <div class="section-head">
          <h2 id="sessions-title">Active sessions</h2>
          <button type="button" class="secondary" onClick={() => act(load, null)} disabled={busy}>
            Reload sessions
          </button>
        </div>
        {sessions === null ? (
          <p>Loading…</p>
        ) : (
          <ul class="sessions">
            {sessions.map((session) => (
              <li key={session.id} class={session.current ? 'session session-current' : 'session'}>
                <div class="session-what">
                  <strong>{describeDevice(session.user_agent)}</strong>
                  {session.current ? <span class="badge">This device</span> : null}
                </div>
                <dl class="session-facts">
                  <div>
                    <dt>IP</dt>
                    <dd>{session.ip ?? 'unknown'}</dd>
                  </div>
                  <div>
                    <dt>Signed in</dt>
                    <dd>{describeTime(session.created_at)}</dd>
                  </div>
                  <div>
                    <dt>Last used</dt>
                    <dd>{describeTime(session.last_used_at)}</dd>
                  </div>
                </dl>
                {session.current ? null : (
                  <button
                    type="button"
                    class="secondary"
                    onClick={() => revoke(session)}
                    disabled={busy}
                    aria-label={`Revoke the session on ${describeDevice(session.user_agent)}, signed in ${describeTime(session.created_at)}`}
                  >
                    Revoke
                  </button>
                )}
              </li>
            ))}
          </ul>
        )}
      </section>
      <section class="card" aria-labelledby="token-title">
        <h2 id="token-title">Your access token</h2>
        <p class="hint">
          Held in this page's memory only, and renewed silently through the refresh cookie before it runs out.
        </p>
        {accessToken === null ? (
          <p>No token in memory.</p>
        ) : (
          <TokenView token={accessToken} idPrefix="current" />
        )}
      </section>
      <section class="card" aria-labelledby="flow-title" id="flow">
        <h2 id="flow-title">Flow: what this page sent</h2>
        <FlowView />
      </section>
    </>
  );
}

type PasswordField = 'current_password' | 'new_password';

const PASSWORD_SUBJECTS: Record<PasswordField, string> = {
  current_password: 'The current password',
  new_password: 'The new password',
};

function ChangePassword(props: { onChanged: () => Promise<void> }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [errors, setErrors] = useState<FieldErrors<PasswordField>>({});
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const currentRef = useRef<HTMLInputElement>(null);
  const nextRef = useRef<HTMLInputElement>(null);

  async function submit(event: Event) {
    event.preventDefault();
    setDone(false);
    const found: FieldErrors<PasswordField> = {};
    if (current === '') found.current_password = 'Enter your current password.';
    const lengthProblem = describePasswordLength(next);
    if (lengthProblem !== null) found.new_password = lengthProblem;
    setErrors(found);
    if (found.current_password !== undefined) return currentRef.current?.focus();
    if (found.new_password !== undefined) return nextRef.current?.focus();
    setBusy(true);
    try {
      await client.changePassword(current, next);
      setCurrent('');
      setNext('');
      setDone(true);
      await props.onChanged();
    } catch (error) {
      if (sessionGone(error)) return;
      let found: FieldErrors<PasswordField> = {};
      if (error instanceof LatchkeyClientError && error.code === 'invalid_credentials') {
        found.current_password = 'That is not your current password.';
      } else {
        found = fieldErrorsOfRequest(error, PASSWORD_SUBJECTS) ?? { form: describeFormError(error) };
      }
      setErrors(found);
      if (found.current_password !== undefined) currentRef.current?.focus();
      else if (found.new_password !== undefined) nextRef.current?.focus();
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="card" aria-labelledby="password-title">
      <h2 id="password-title">Change password</h2>
      {done ? <Notice>Password changed. Your other sessions were logged out.</Notice> : null}
      <form onSubmit={submit} noValidate>
        <Field
          id="current_password"
          label="Current password"
          type="password"
          autoComplete="current-password"
          value={current}
          onInput={setCurrent}
          error={errors.current_password}
          inputRef={currentRef}
        />
        <Field
          id="new_password"
          label="New password"
          type="password"
          autoComplete="new-password"
          hint={`At least ${MIN_PASSWORD_LENGTH} characters.`}
          value={next}
          onInput={setNext}
          error={errors.new_password}
          inputRef={nextRef}
        />
        {errors.form === undefined ? null : <FormError id="password-form-error">{errors.form}</FormError>}
        <button type="submit" class="primary" disabled={busy}>
          Change password
        </button>
      </form>
    </section>
  );
}
