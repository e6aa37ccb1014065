/** Form fields whose errors are announced and tied to them (aria-invalid, aria-describedby). */
import type { ComponentChildren, Ref } from 'preact';
import { LatchkeyClientError } from '../../src/client/index.js';

export interface FieldProps {
  id: string;
  label: string;
  type: 'email' | 'password' | 'text';
  value: string;
  onInput: (value: string) => void;
  error?: string | undefined;
  hint?: string;
  autoComplete: string;
  inputRef: Ref<HTMLInputElement>;
}

export function Field(props: FieldProps) {
  const hintId = `${props.id}-hint`;
  const errorId = `${props.id}-error`;
  const describedBy = [props.hint === undefined ? null : hintId, props.error ? errorId : null]
    .filter((id) => id !== null)
    .join(' ');
  return (
    <div class={props.error ? 'field field-invalid' : 'field'}>
      <label for={props.id}>{props.label}</label>
      {props.hint === undefined ? null : (
        <p id={hintId} class="hint">
          {props.hint}
        </p>
      )}
      <input
        id={props.id}
        name={props.id}
        // Preact types each input type separately; these three take the same attributes here.
        type={props.type as 'text'}
        value={props.value}
        autoComplete={props.autoComplete}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={describedBy === '' ? undefined : describedBy}
        onInput={(event) => props.onInput((event.currentTarget as HTMLInputElement).value)}
        ref={props.inputRef}
        spellcheck={false}
      />
      <p id={errorId} class="field-error" aria-live="assertive">
        {props.error ?? ''}
      </p>
    </div>
  );
}

/** A message about the whole form (throttling, the server unreachable), announced when it appears. */
export function FormError(props: { id: string; children: ComponentChildren }) {
  return (
    <div id={props.id} class="form-error" role="alert">
      {props.children}
    </div>
  );
}

export function Notice(props: { children: ComponentChildren }) {
  return (
    <p class="notice" role="status">
      {props.children}
    </p>
  );
}

export type FieldErrors<K extends string> = Partial<Record<K | 'form', string>>;

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

/**
 * The page's own length rule, the server's (src/auth/passwords.ts), counted as the server counts:
 * code points of the NFKC form. `.length` counts UTF-16 units, which would pass "🔑🔑🔑🔑" (4
 * characters) and leave the server's raw message to show.
 */
export function describePasswordLength(password: string): string | null {
  const length = [...password.normalize('NFKC')].length;
  if (length < MIN_PASSWORD_LENGTH) {
    return `This password is too short: use at least ${MIN_PASSWORD_LENGTH} characters.`;
  }
  if (length > MAX_PASSWORD_LENGTH) {
    return `This password is too long: use at most ${MAX_PASSWORD_LENGTH} characters.`;
  }
  return null;
}

/**
 * The server's `invalid_request` message names the field it is about: the auth rules as "password
 * must be 8 to 1024 characters long", the request schema as "body/password must NOT have more than
 * 1024 characters". The field that matches, else the form.
 */
export function fieldOfMessage<K extends string>(message: string, fields: readonly K[]): K | 'form' {
  const named = fields.filter((field) => new RegExp(`^(body/)?${field}\\b`).test(message));
  return named.sort((a, b) => b.length - a.length)[0] ?? 'form';
}

/**
 * A field's `invalid_request` message in words: the field's wire name ("new_password must be 8 to
 * 1024 characters long", "body/new_password must NOT …") becomes the subject given ("The new
 * password must be …").
 */
export function describeFieldMessage(message: string, field: string, subject: string): string {
  const named = new RegExp(`^(body/)?${field}\\b`).exec(message);
  return named === null ? describeMessage(message) : `${subject}${message.slice(named[0].length)}.`;
}

/**
 * An `invalid_request` answer placed on the field its message names, worded with that field's subject
 * (`subjects` lists the form's fields), or on the form; null for any other error.
 */
export function fieldErrorsOfRequest<K extends string>(
  error: unknown,
  subjects: Readonly<Record<K, string>>,
): FieldErrors<K> | null {
  if (!(error instanceof LatchkeyClientError) || error.code !== 'invalid_request') return null;
  const field = fieldOfMessage(error.message, Object.keys(subjects) as K[]);
  const found: FieldErrors<K> = {};
  found[field] =
    field === 'form' ? describeFormError(error) : describeFieldMessage(error.message, field, subjects[field]);
  return found;
}

const describeMessage = (message: string) => `${message.charAt(0).toUpperCase()}${message.slice(1)}.`;

/** Words for an error no field owns: the wait of a 429, the server busy or out of reach. */
export function describeFormError(error: unknown): string {
  if (error instanceof LatchkeyClientError) {
    if (error.code === 'rate_limited') {
      const wait = error.retryAfterSeconds;
      return wait === null
        ? 'Too many attempts. Wait a little, then try again.'
        : `Too many attempts. Wait ${wait} second${wait === 1 ? '' : 's'}, then try again.`;
    }
    if (error.code === 'network_error')
      return 'The server could not be reached. Check your connection and try again.';
    if (error.code === 'overloaded') return 'The server is busy. Try again in a moment.';
    return describeMessage(error.message);
  }
  return 'Something went wrong. Try again.';
}
