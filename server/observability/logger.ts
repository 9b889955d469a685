// Structured logs: JSON lines for machines, pretty lines on a terminal.
import { pino, type Logger } from 'pino';
import type { Settings } from '../config/settings.ts';

export type { Logger };

// Belt and braces: nothing should log these, but if a field slips in it is
// censored, at the top of a log object or one level down (pino's `x` and
// `*.x` redact paths). Done in a log formatter that copies only an object it
// censors: pino's own redaction cost about 10 µs per line, more than a whole
// Health/Check call.
const SECRET_KEYS = new Set([
  'accessToken',
  'refreshToken',
  'access_token',
  'refresh_token',
  'token',
  'authorization',
  'loginVerifier',
  'login_verifier',
  'loginId',
  'password',
  'secret',
  'privateJwk',
]);
const CENSOR = '[redacted]';

// A copy with the same prototype and own properties, so an Error stays an Error (message, stack) for pino's serializer.
function copyOf(value: Record<string, unknown>): Record<string, unknown> {
  const copy = Object.defineProperties(Object.create(Object.getPrototypeOf(value)), Object.getOwnPropertyDescriptors(value));
  // V8's stack is an accessor bound to the original error: copy its text.
  if (value instanceof Error) Object.defineProperty(copy, 'stack', { value: value.stack, writable: true, configurable: true });
  return copy;
}

function censored(value: Record<string, unknown>): Record<string, unknown> | undefined {
  let copy: Record<string, unknown> | undefined;
  for (const key in value) {
    if (SECRET_KEYS.has(key) && Object.hasOwn(value, key)) {
      copy ??= copyOf(value);
      copy[key] = CENSOR;
    }
  }
  return copy;
}

/** The log object with every secret-named field at the top or one level down censored; the caller's objects are never changed. */
export function redactSecrets(object: Record<string, unknown>): Record<string, unknown> {
  let result = censored(object) ?? object;
  for (const key in result) {
    const value = result[key];
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(result, key)) continue;
    const inner = censored(value as Record<string, unknown>);
    if (!inner) continue;
    if (result === object) result = copyOf(object);
    result[key] = inner;
  }
  return result;
}

/**
 * Standard output written asynchronously (sonic-boom): lines logged while a
 * write is under way go out together in the next one, instead of one
 * blocking write per line. What is buffered is flushed when the process
 * exits; beyond maxBytes waiting for a slow reader, lines are dropped.
 */
export function asyncStdout(maxBytes: number): pino.DestinationStream {
  return pino.destination({ dest: 1, sync: false, maxLength: maxBytes });
}

export function createLogger(
  settings: Pick<Settings, 'logLevel' | 'logFormat'>,
  destination?: NodeJS.WritableStream | pino.DestinationStream,
): Logger {
  const pretty = settings.logFormat === 'pretty' || (settings.logFormat === 'auto' && !destination && process.stdout.isTTY);
  const options = { level: settings.logLevel, base: { service: 'airlock' }, formatters: { log: redactSecrets } };
  if (pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  return pino(options, (destination ?? process.stdout) as pino.DestinationStream);
}
