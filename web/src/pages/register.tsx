/** Create account: email and password; then Log in, with the email filled in. */
import { useRef, useState } from 'preact/hooks';
import { LatchkeyClientError } from '../../../src/client/index.js';
import {
  describeFormError,
  describePasswordLength,
  Field,
  type FieldErrors,
  FormError,
  fieldErrorsOfRequest,
  MIN_PASSWORD_LENGTH,
} from '../fields.js';
import { type Location, navigate, onLinkClick } from '../router.js';
import { client } from '../session.js';

type RegisterField = 'email' | 'password';

const REGISTER_SUBJECTS: Record<RegisterField, string> = { email: 'The email', password: 'The password' };

export function RegisterPage(props: { location: Location }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<FieldErrors<RegisterField>>({});
  const [busy, setBusy] = useState(false);
  const emailRef = useRef<HTMLInputElement>(null);
  const passwordRef = useRef<HTMLInputElement>(null);

  async function submit(event: Event) {
    event.preventDefault();
    const found: FieldErrors<RegisterField> = {};
    if (email.trim() === '') found.email = 'Enter your email address.';
    const lengthProblem = describePasswordLength(password);
    if (lengthProblem !== null) found.password = lengthProblem;
    setErrors(found);
    if (found.email !== undefined) return emailRef.current?.focus();
    if (found.password !== undefined) return passwordRef.current?.focus();
    setBusy(true);
    try {
      await client.register(email.trim(), password);
      const next = props.location.search.get('next');
      navigate(next === null ? '/login' : `/login?next=${encodeURIComponent(next)}`, {
        notice: 'Account created. Log in with your email and password.',
        email: email.trim(),
      });
    } catch (error) {
      let next: FieldErrors<RegisterField> = {};
      if (error instanceof LatchkeyClientError && error.code === 'email_taken') {
        next.email = 'An account with this email already exists. Log in instead, or use another email.';
      } else {
        next = fieldErrorsOfRequest(error, REGISTER_SUBJECTS) ?? { form: describeFormError(error) };
      }
      setErrors(next);
      if (next.email !== undefined) emailRef.current?.focus();
      else if (next.password !== undefined) passwordRef.current?.focus();
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="card narrow" aria-labelledby="page-title">
      <h1 id="page-title" tabIndex={-1}>
        Create account
      </h1>
      <form onSubmit={submit} noValidate>
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
          autoComplete="new-password"
          hint={`At least ${MIN_PASSWORD_LENGTH} characters. A few unrelated words make a strong one.`}
          value={password}
          onInput={setPassword}
          error={errors.password}
          inputRef={passwordRef}
        />
        {errors.form === undefined ? null : <FormError id="register-form-error">{errors.form}</FormError>}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Creating account…' : 'Create account'}
        </button>
      </form>
      <p>
        Already have an account?{' '}
        <a href="/login" onClick={onLinkClick}>
          Log in
        </a>
      </p>
    </section>
  );
}
