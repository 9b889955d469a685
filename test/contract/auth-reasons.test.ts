// Every UNAUTHENTICATED reason of the contract's AuthErrorReason enum is one
// the server produces and the client understands, with the same string on both
// sides: the server's domain reasons map onto the enum, the client's types come
// from it, and a reason written by the server is read back by the client.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { AUTH_REASONS } from '../../client/grpc/auth-reasons.ts';
import { authReasonOf } from '../../client/grpc/status.ts';
import { SignedOutError } from '../../client/errors.ts';
import { AuthErrorReason } from '../../proto/gen/airlock/auth/v1/auth.ts';
import { UnauthenticatedError, type AuthFailureReason } from '../../server/errors.ts';
import { AUTH_ERROR_REASONS, toGrpcStatus, wireAuthReason } from '../../server/transport/grpc/status.ts';

const enumNames = Object.keys(AuthErrorReason).filter(
  (name) => name.startsWith('AUTH_ERROR_REASON_') && name !== 'AUTH_ERROR_REASON_UNSPECIFIED',
);

/** What a grpc-js client receives for a status the server built. */
function asReceived(built: ReturnType<typeof toGrpcStatus>['status']): ServiceError {
  return Object.assign(new Error(built.details), {
    code: built.code,
    details: built.details,
    metadata: built.metadata ?? new Metadata(),
  }) as ServiceError;
}

describe('AuthErrorReason, one vocabulary for server and client', () => {
  it('the server maps a domain reason onto every enum value, and onto nothing else', () => {
    const produced = Object.values(AUTH_ERROR_REASONS).sort();
    const declared = enumNames.map((name) => AuthErrorReason[name as keyof typeof AuthErrorReason]).sort();
    expect(produced).toEqual(declared);
  });

  it('the client knows exactly the enum reasons', () => {
    expect([...AUTH_REASONS].sort()).toEqual(enumNames.map((name) => name.replace('AUTH_ERROR_REASON_', '')).sort());
  });

  it.each(Object.keys(AUTH_ERROR_REASONS) as AuthFailureReason[])(
    '%s written by the server is read back by the client as the same reason',
    (reason) => {
      const built = toGrpcStatus(new UnauthenticatedError(reason, 'message')).status;
      expect(built.code).toBe(status.UNAUTHENTICATED);
      expect(authReasonOf(asReceived(built))).toBe(reason);
      expect(wireAuthReason(reason)).toBe(reason);
    },
  );

  it('the client has a message for every reason that signs it out', () => {
    for (const reason of AUTH_REASONS.filter((r) => r !== 'TOKEN_EXPIRED')) {
      expect(new SignedOutError(reason as Exclude<typeof reason, 'TOKEN_EXPIRED'>).message, reason).toMatch(/\w/);
    }
  });
});
