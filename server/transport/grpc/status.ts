// Encodes failures as gRPC statuses. UNAUTHENTICATED carries a
// google.rpc.ErrorInfo in grpc-status-details-bin so clients can act on the
// reason without parsing messages.
import { Metadata, type ServiceError, type status } from '@grpc/grpc-js';
import { ErrorInfo } from '../../../proto/gen/google/rpc/error_details.ts';
import { Status } from '../../../proto/gen/google/rpc/status.ts';
import { ERROR_DOMAIN, rpcFailureOf } from '../rpc/error-status.ts';

export { AUTH_ERROR_REASONS, ERROR_DOMAIN, wireAuthReason } from '../rpc/error-status.ts';
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

export type GrpcStatusError = Partial<ServiceError> & { code: status; details: string };

export function errorInfoMetadata(code: status, message: string, reason: string, metadata: Record<string, string> = {}): Metadata {
  const info = ErrorInfo.encode({ reason, domain: ERROR_DOMAIN, metadata }).finish();
  const detail = Status.encode({
    code,
    message,
    details: [{ typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo', value: Buffer.from(info) }],
  }).finish();
  const trailers = new Metadata();
  trailers.set(STATUS_DETAILS_KEY, Buffer.from(detail));
  return trailers;
}

/** A status for a thrown value (rpc/error-status.ts decides; this only encodes). */
export function toGrpcStatus(error: unknown): { status: GrpcStatusError; expected: boolean } {
  const failure = rpcFailureOf(error);
  const code = failure.code as status;
  const metadata = failure.errorInfo && errorInfoMetadata(code, failure.message, failure.errorInfo.reason, failure.errorInfo.metadata);
  return { status: { code, details: failure.message, ...(metadata ? { metadata } : {}) }, expected: failure.expected };
}

/** Reads the ErrorInfo of a status, if it carries one (for clients and tests). */
export function readErrorInfo(metadata: Metadata | undefined): ErrorInfo | undefined {
  const raw = metadata?.get(STATUS_DETAILS_KEY)[0];
  if (!raw || typeof raw === 'string') return undefined;
  const decoded = Status.decode(raw);
  const any = decoded.details.find((d) => d.typeUrl.endsWith('/google.rpc.ErrorInfo'));
  return any ? ErrorInfo.decode(any.value) : undefined;
}
