/** Log in: email and password; on success the App sends you where you were going. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { LatchkeyClientError } from '../../../src/client/index.js';
import { describeFormError, Field, type FieldErrors, FormError, fieldOfMessage, Notice } from '../fields.js';
import { type Location, onLinkClick } from '../router.js';
import { client } from '../session.js';

type LoginField = 'email' | 'password';

export function LoginPage(props: { location: Location }) {
  const { state, search } = props.location;
  const [email, setEmail] = useState(state?.email ?? '');
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<FieldErrors<LoginField>>({});
  const [busy, setBusy] = useState(false);
  const [waitUntil, setWaitUntil] = useState(0);
  const [now, setNow] = useState(Date.now());
  const emailRef = useRef<HTMLInputElement>(null);
  const passwordRef = useRef<HTMLInputElement>(null);

  // While throttled, the button says how long is left and stays off.
  useEffect(() => {
    if (waitUntil <= now) return;
    const timer = setTimeout(() => setNow(Date.now()), 250);
    return () => clearTimeout(timer);
  }, [waitUntil, now]);
  const secondsLeft = Math.max(0, Math.ceil((waitUntil - now) / 1000));

  async function submit(event: Event) {
    event.preventDefault();
    const found: FieldErrors<LoginField> = {};
    if (email.trim() === '') found.email = 'Enter your email address.';
    if (password === '') found.password = 'Enter your password.';
    setErrors(found);
    if (found.email !== undefined) return emailRef.current?.focus();
    if (found.password !== undefined) return passwordRef.current?.focus();
    setBusy(true);
    try {
      await client.login(email.trim(), password);
      // The App sees the client authenticated and moves on to the page you wanted.
    } catch (error) {
      const next: FieldErrors<LoginField> = {};
      if (error instanceof LatchkeyClientError && error.code === 'invalid_credentials') {
        next.password = 'Wrong email or password. Check both and try again.';
      } else if (error instanceof LatchkeyClientError && error.code === 'invalid_request') {
        next[fieldOfMessage(error.message, ['email', 'password'] as const)] = describeFormError(error);
      } else {
        next.form = describeFormError(error);
        if (error instanceof LatchkeyClientError && error.retryAfterSeconds !== null) {
          setWaitUntil(Date.now() + error.retryAfterSeconds * 1000);
          setNow(Date.now());
        }
      }
      setErrors(next);
      setPassword('');
      if (next.email !== undefined) emailRef.current?.focus();
      else if (next.password !== undefined) passwordRef.current?.focus();
    } finally {
      setBusy(false);
    }
  }

  const registerHref = search.has('next')
    ? `/register?next=${encodeURIComponent(search.get('next') ?? '')}`
    : '/register';
  return (
    <section class="card narrow" aria-labelledby="page-title">
      <h1 id="page-title" tabIndex={-1}>
        Log in
      </h1>
      {state?.notice === undefined ? null : <Notice>{state.notice}</Notice>}
      <form onSubmit={submit} noValidate aria-describedby={errors.form ? 'login-form-error' : undefined}>
        <Field
          id="email"
          label="Email"
          type="email"
          autoComplete="username"
          value={email}
          onInput={setEmail}
          error={errors.email}
          inputRef={emailRef}
        />
        <Field
          id="password"
          label="Password"
          type="password"
          autoComplete="current-password"
          value={password}
          onInput={setPassword}
          error={errors.password}
          inputRef={passwordRef}
        />
        {errors.form === undefined ? null : <FormError id="login-form-error">{errors.form}</FormError>}
        <button type="submit" class="primary" disabled={busy || secondsLeft > 0}>
          {busy ? 'Logging in…' : secondsLeft > 0 ? `Log in (wait ${secondsLeft} s)` : 'Log in'}
        </button>
      </form>
      <p>
        No account yet?{' '}
        <a href={registerHref} onClick={onLinkClick}>
          Create one
        </a>
      </p>
    </section>
  );
}
