// Structured logs: JSON lines for machines, pretty lines on a terminal.
import { pino, type Logger } from 'pino';
import type { Settings } from '../config/settings.ts';

export type { Logger };

// Belt and braces: nothing should log these, but if a field slips in it is censored.
const REDACT = [
  '*.accessToken',
  '*.refreshToken',
  '*.access_token',
  '*.refresh_token',
  '*.token',
  '*.authorization',
  '*.loginVerifier',
  '*.login_verifier',
  '*.loginId',
  '*.password',
  '*.secret',
  '*.privateJwk',
  'accessToken',
  'refreshToken',
  'token',
  'authorization',
  'loginVerifier',
  'loginId',
  'secret',
];

export function createLogger(settings: Pick<Settings, 'logLevel' | 'logFormat'>, destination?: NodeJS.WritableStream): Logger {
  const pretty = settings.logFormat === 'pretty' || (settings.logFormat === 'auto' && !destination && process.stdout.isTTY);
  const options = { level: settings.logLevel, base: { service: 'airlock' }, redact: { paths: REDACT, censor: '[redacted]' } };
  if (pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  return pino(options, (destination ?? process.stdout) as pino.DestinationStream);
}
