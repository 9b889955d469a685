// InitiateLogin, AwaitLogin and CancelLogin over gRPC: thin adapters over the login broker.
import {
  LoginFailureReason,
  type AuthServiceServer,
  type AwaitLoginRequest,
  type AwaitLoginResponse,
  type CancelLoginRequest,
  type CancelLoginResponse,
  type InitiateLoginRequest,
  type InitiateLoginResponse,
} from '../../../proto/gen/airlock/auth/v1/auth.ts';
import type { LoginBroker, LoginUpdate } from '../../login/login-broker.ts';
import { serverStream, unary, type HandlerDeps } from './handlers.ts';
import { toSessionMessage } from './session-handlers.ts';

export interface LoginHandlerDeps extends HandlerDeps {
  broker: LoginBroker;
}

const FAILURE_REASONS = {
  'access-denied': LoginFailureReason.LOGIN_FAILURE_REASON_ACCESS_DENIED,
  expired: LoginFailureReason.LOGIN_FAILURE_REASON_EXPIRED,
  error: LoginFailureReason.LOGIN_FAILURE_REASON_ERROR,
  cancelled: LoginFailureReason.LOGIN_FAILURE_REASON_CANCELLED,
} as const;

export function toAwaitLoginResponse(update: LoginUpdate): AwaitLoginResponse {
  switch (update.type) {
    case 'pending':
      return { event: { $case: 'pending', value: { expiresAt: update.expiresAt } } };
    case 'heartbeat':
      return { event: { $case: 'heartbeat', value: { serverTime: update.serverTime } } };
    case 'browser-opened':
      return { event: { $case: 'browserOpened', value: { openedAt: update.openedAt } } };
    case 'completed':
      return { event: { $case: 'completed', value: { session: toSessionMessage(update.session) } } };
    case 'failed':
      return { event: { $case: 'failed', value: { reason: FAILURE_REASONS[update.reason], message: update.message } } };
  }
}

export function loginHandlers(deps: LoginHandlerDeps): Pick<AuthServiceServer, 'initiateLogin' | 'awaitLogin' | 'cancelLogin'> {
  const { broker } = deps;
  return {
    initiateLogin: unary<InitiateLoginRequest, InitiateLoginResponse>(deps, async (request, ctx) => {
      const started = await broker.initiate({
        identifier: request.identifier,
        verifierChallenge: request.loginVerifierChallenge,
        clientAddress: ctx.clientAddress,
        signal: ctx.signal,
        deadline: ctx.deadline,
      });
      return {
        loginId: started.loginId,
        authorizeUrl: started.authorizeUrl,
        expiresAt: started.expiresAt,
        confirmationCode: started.confirmationCode,
      };
    }),
    awaitLogin: serverStream<AwaitLoginRequest, AwaitLoginResponse>(deps, async function* (request, ctx) {
      for await (const update of broker.awaitLogin({ loginId: request.loginId, verifier: request.loginVerifier, signal: ctx.signal })) {
        yield toAwaitLoginResponse(update);
      }
    }),
    cancelLogin: unary<CancelLoginRequest, CancelLoginResponse>(deps, async (request) => {
      return { cancelled: await broker.cancel({ loginId: request.loginId, verifier: request.loginVerifier }) };
    }),
  };
}
