// InitiateLogin, AwaitLogin and CancelLogin: thin procedures over the login
// broker, bound to gRPC (transport/grpc) and to Connect (transport/connect).
import {
  LoginFailureReason,
  type AwaitLoginRequest,
  type AwaitLoginResponse,
  type CancelLoginRequest,
  type CancelLoginResponse,
  type InitiateLoginRequest,
  type InitiateLoginResponse,
} from '../../../proto/gen/airlock/auth/v1/auth.ts';
import type { LoginBroker, LoginUpdate } from '../../login/login-broker.ts';
import type { StreamProcedure, UnaryProcedure } from './call-context.ts';
import { toSessionMessage } from './session-procedures.ts';

const FAILURE_REASONS = {
  'access-denied': LoginFailureReason.LOGIN_FAILURE_REASON_ACCESS_DENIED,
  expired: LoginFailureReason.LOGIN_FAILURE_REASON_EXPIRED,
  error: LoginFailureReason.LOGIN_FAILURE_REASON_ERROR,
  cancelled: LoginFailureReason.LOGIN_FAILURE_REASON_CANCELLED,
} as const;

// Every stream's heartbeat of one tick carries the same Date (login-watches.ts):
// they share one frozen message, which the gRPC binding encodes once per tick.
let lastHeartbeat: { at: Date; message: AwaitLoginResponse } | undefined;

function heartbeatMessage(serverTime: Date): AwaitLoginResponse {
  if (lastHeartbeat?.at !== serverTime) {
    const message: AwaitLoginResponse = Object.freeze({
      event: Object.freeze({ $case: 'heartbeat' as const, value: Object.freeze({ serverTime }) }),
    });
    lastHeartbeat = { at: serverTime, message };
  }
  return lastHeartbeat.message;
}

export function toAwaitLoginResponse(update: LoginUpdate): AwaitLoginResponse {
  switch (update.type) {
    case 'pending':
      return { event: { $case: 'pending', value: { expiresAt: update.expiresAt } } };
    case 'heartbeat':
      return heartbeatMessage(update.serverTime);
    case 'browser-opened':
      return { event: { $case: 'browserOpened', value: { openedAt: update.openedAt } } };
    case 'completed':
      return { event: { $case: 'completed', value: { session: toSessionMessage(update.session) } } };
    case 'failed':
      return { event: { $case: 'failed', value: { reason: FAILURE_REASONS[update.reason], message: update.message } } };
  }
}

export interface LoginProcedures {
  initiateLogin: UnaryProcedure<InitiateLoginRequest, InitiateLoginResponse>;
  awaitLogin: StreamProcedure<AwaitLoginRequest, AwaitLoginResponse>;
  cancelLogin: UnaryProcedure<CancelLoginRequest, CancelLoginResponse>;
}

export function loginProcedures(broker: LoginBroker): LoginProcedures {
  return {
    async initiateLogin(request, ctx) {
      const started = await broker.initiate({
        identifier: request.identifier,
        verifierChallenge: request.loginVerifierChallenge,
        clientAddress: ctx.clientAddress,
        clientLabel: request.clientLabel,
        userAgent: ctx.userAgent,
        signal: ctx.signal,
        deadline: ctx.deadline,
      });
      return {
        loginId: started.loginId,
        authorizeUrl: started.authorizeUrl,
        expiresAt: started.expiresAt,
        confirmationCode: started.confirmationCode,
      };
    },
    async *awaitLogin(request, ctx) {
      for await (const update of broker.awaitLogin({ loginId: request.loginId, verifier: request.loginVerifier, signal: ctx.signal })) {
        yield toAwaitLoginResponse(update);
      }
    },
    async cancelLogin(request) {
      return { cancelled: await broker.cancel({ loginId: request.loginId, verifier: request.loginVerifier }) };
    },
  };
}
