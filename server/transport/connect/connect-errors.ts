// A thrown error as a ConnectError: the code and google.rpc.ErrorInfo that
// rpc/error-status.ts decides for gRPC too, so a client reads the same reason
// whichever transport it used (Connect puts the detail in the error body,
// gRPC-Web in grpc-status-details-bin).
import { Code, ConnectError } from '@connectrpc/connect';
import { ErrorInfoSchema } from '../../../proto/gen-es/google/rpc/error_details_pb.js';
import { ERROR_DOMAIN, rpcFailureOf } from '../rpc/error-status.ts';

export const SHUTTING_DOWN = 'server is shutting down; retry on another connection';

export function toConnectError(error: unknown): { error: ConnectError; expected: boolean } {
  const failure = rpcFailureOf(error);
  const details = failure.errorInfo
    ? [{ desc: ErrorInfoSchema, value: { reason: failure.errorInfo.reason, domain: ERROR_DOMAIN, metadata: failure.errorInfo.metadata } }]
    : [];
  return { error: new ConnectError(failure.message, failure.code as number as Code, undefined, details), expected: failure.expected };
}

export function shuttingDown(): ConnectError {
  return new ConnectError(SHUTTING_DOWN, Code.Unavailable);
}
