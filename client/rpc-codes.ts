// Status codes by name, numbered as gRPC and Connect number them: the core
// compares codes without loading grpc-js (which a browser cannot run).
export const RpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** "NOT_FOUND" for 5; the number itself for a code without a name. */
export function statusName(code: number): string {
  return Object.keys(RpcStatus).find((name) => RpcStatus[name as keyof typeof RpcStatus] === code) ?? String(code);
}
