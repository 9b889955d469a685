// Reads failures the way the server writes them (over gRPC, or as a
// TransportError from Connect / gRPC-Web): UNAUTHENTICATED (and
// RESOURCE_EXHAUSTED with a retry hint) carry a google.rpc.ErrorInfo in the
// grpc-status-details-bin trailer. Decoded here from the generated contract;
// the client never imports server code.
import type { Metadata, ServiceError } from '@grpc/grpc-js';
import { ErrorInfo } from '../../proto/gen/google/rpc/error_details.ts';
import { Status } from '../../proto/gen/google/rpc/status.ts';
import { AirlockClientError, RateLimitedError, RequestFailedError, ServerUnavailableError } from '../errors.ts';
import { RpcStatus as status, statusName } from '../rpc-codes.ts';
import { TransportError } from '../transport.ts';
import { isAuthReason, type AuthReason } from './auth-reasons.ts';
import { CLIENT_CERTIFICATE_REFUSED, UNTRUSTED_CERTIFICATE } from './tls-errors.ts';

export const ERROR_DOMAIN = 'airlock.dev';
const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

export function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as Partial<ServiceError>).code === 'number';
}

/** The ErrorInfo detail of a failed call, if the server attached one from our domain. */
export function errorInfoOf(error: unknown): ErrorInfo | undefined {
  if (error instanceof TransportError) return error.errorInfo?.domain === ERROR_DOMAIN ? error.errorInfo : undefined;
  if (!isServiceError(error)) return undefined;
  return readErrorInfo(error.metadata);
}

export function readErrorInfo(metadata: Metadata | undefined): ErrorInfo | undefined {
  const raw = metadata?.get(STATUS_DETAILS_KEY)[0];
  if (!raw || typeof raw === 'string') return undefined;
  try {
    const decoded = Status.decode(raw);
    const any = decoded.details.find((d) => d.typeUrl.endsWith('/google.rpc.ErrorInfo'));
    if (!any) return undefined;
    const info = ErrorInfo.decode(any.value);
    return info.domain === ERROR_DOMAIN ? info : undefined;
  } catch {
    // A malformed trailer is treated as absent, never as a reason.
    return undefined;
  }
}

/**
 * The UNAUTHENTICATED reason of a failed call (TOKEN_EXPIRED, SESSION_REVOKED, ...), if any;
 * 'UNAUTHENTICATED' when the server gave none this client knows.
 */
export function authReasonOf(error: unknown): AuthReason | 'UNAUTHENTICATED' | undefined {
  if (!isServiceError(error) || error.code !== status.UNAUTHENTICATED) return undefined;
  const reason = errorInfoOf(error)?.reason;
  return reason !== undefined && isAuthReason(reason) ? reason : 'UNAUTHENTICATED';
}

/** Failures worth retrying on a new connection: the server went away or the link dropped. */
export function isTransient(error: unknown): boolean {
  if (!isServiceError(error)) return false;
  if (error.code === status.UNAVAILABLE) return true;
  // grpc-js reports a connection torn down mid-stream as INTERNAL with an
  // RST_STREAM or as CANCELLED when we did not cancel.
  if (error.code === status.INTERNAL && /RST_STREAM|connection|ECONNRESET|socket/i.test(error.details ?? '')) return true;
  return error.code === status.CANCELLED && !/Cancelled on client/i.test(error.details ?? '');
}

/** A typed client error for a gRPC failure that is not an auth reason. */
export function toClientError(error: unknown): Error {
  if (error instanceof AirlockClientError) return error;
  if (!isServiceError(error)) return error instanceof Error ? error : new Error(String(error));
  const details = error.details || statusName(error.code);
  switch (error.code) {
    case status.UNAVAILABLE:
      if (UNTRUSTED_CERTIFICATE.test(details)) {
        return new ServerUnavailableError(
          `cannot reach the server: its TLS certificate is not trusted (${tidy(details)}); if a private CA signed it, pass that CA (the ca or caFile option, airlock --ca-file or AIRLOCK_CA_FILE)`,
        );
      }
      if (CLIENT_CERTIFICATE_REFUSED.test(details)) {
        const alert = CLIENT_CERTIFICATE_REFUSED.exec(details)![1]!.toLowerCase();
        return new ServerUnavailableError(
          `cannot reach the server: it refused our TLS client certificate (${alert}); it requires one signed by its client CA (the clientCert/clientKey options, airlock --cert-file/--key-file)`,
        );
      }
      return new ServerUnavailableError(`cannot reach the server: ${tidy(details)}`);
    case status.DEADLINE_EXCEEDED:
      return new ServerUnavailableError('the server did not answer in time');
    case status.RESOURCE_EXHAUSTED: {
      const retry = Number(errorInfoOf(error)?.metadata.retryAfterMs);
      return new RateLimitedError(details, Number.isFinite(retry) ? retry : undefined);
    }
    default:
      return new RequestFailedError(statusName(error.code), details);
  }
}

// grpc-js wraps connection failures in boilerplate; keep the part a person can act on.
function tidy(details: string): string {
  return (
    details
      .replace(/\s*Resolution note:.*$/s, '')
      .replace(/^No connection established\. Last error: (Error: )?/, '')
      .trim() || 'unavailable'
  );
}
