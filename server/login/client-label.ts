// The label a session is listed under (ListSessions, `admin sessions list`):
// what the app called itself at InitiateLogin, else its user-agent. A label
// the app sends is checked (printable, within the configured length); a
// user-agent is whatever the client put there, so it is cleaned instead.
import { InvalidArgumentError } from '../errors.ts';

/** AIRLOCK_CLIENT_LABEL_MAX_LENGTH's default, for brokers built without it. */
export const DEFAULT_CLIENT_LABEL_MAX_LENGTH = 64;

// Control, format (bidi overrides, zero-width), surrogate, private-use and unassigned code points, and line breaks.
const UNPRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/u;
const UNPRINTABLE_ALL = /[\p{C}\p{Zl}\p{Zp}]/gu;

/** The label to keep for a new login, or undefined when there is none at all. */
export function clientLabelOf(input: { label: string; userAgent: string | undefined; maxLength: number }): string | undefined {
  const { label, userAgent, maxLength } = input;
  if (label !== '') {
    const characters = [...label].length;
    if (characters > maxLength) {
      throw new InvalidArgumentError(`client_label is ${characters} characters long; at most ${maxLength} are allowed`);
    }
    if (UNPRINTABLE.test(label)) {
      throw new InvalidArgumentError('client_label must contain printable characters only (no control or formatting characters)');
    }
    if (label.trim() === '') throw new InvalidArgumentError('client_label must not be only spaces');
    return label.trim();
  }
  if (!userAgent) return undefined;
  const cleaned = userAgent.replace(UNPRINTABLE_ALL, ' ').replace(/\s+/g, ' ').trim();
  return cleaned === '' ? undefined : [...cleaned].slice(0, maxLength).join('');
}
