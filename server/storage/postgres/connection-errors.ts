// Recognises the errors that mean "PostgreSQL cannot be reached right now"
// (as opposed to a bad query), and turns them into the domain's
// UnavailableError so every RPC answers UNAVAILABLE with one clear message.
import { UnavailableError } from '../../errors.ts';

/** Shown to callers; the cause (which may name hosts) goes only to logs. */
export const DATABASE_UNAVAILABLE_MESSAGE = 'the database is unreachable; retry shortly';

export class DatabaseUnavailableError extends UnavailableError {
  override name = 'DatabaseUnavailableError';
  constructor(cause: unknown, message = DATABASE_UNAVAILABLE_MESSAGE) {
    super(message, { cause });
  }
}

// Socket-level failures of the driver.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);

// SQLSTATEs: class 08 (connection exception), 57P01 admin_shutdown,
// 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up or shutting
// down), 53300 too_many_connections.
const SERVER_STATES = new Set(['57P01', '57P02', '57P03', '53300']);

// node-postgres reports these without a code.
const DRIVER_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Query read timeout',
  'is not queryable',
  'Client was closed and is not queryable',
  'Connection terminated due to connection timeout',
];

export function isConnectionError(error: unknown): boolean {
  if (error instanceof DatabaseUnavailableError) return isConnectionError(error.cause);
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || SERVER_STATES.has(code) || code.startsWith('08')) return true;
  }
  if (error instanceof AggregateError && error.errors.some(isConnectionError)) return true;
  return DRIVER_MESSAGES.some((m) => error.message.includes(m));
}

/** 57014 query_canceled: the statement timeout hit (an overloaded or stuck database), or an operator cancelled it. */
export function isStatementTimeout(error: unknown): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === '57014';
}

/** The error to throw for a failed database call: UNAVAILABLE when the database is unreachable or too slow, untouched otherwise. */
export function mapDatabaseError(error: unknown): unknown {
  if (error instanceof DatabaseUnavailableError) return error;
  if (isConnectionError(error)) return new DatabaseUnavailableError(error);
  if (isStatementTimeout(error)) return new DatabaseUnavailableError(error, 'the database did not answer in time; retry shortly');
  return error;
}
