// Real logins against a running Airlock over gRPC: InitiateLogin, the user
// at the PDS (provider JSON API or Chromium), AwaitLogin until the session.
import { createHash, randomBytes } from 'node:crypto';
import { Metadata, status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import type { AuthServiceClient, AwaitLoginResponse, InitiateLoginResponse, Session } from '../../proto/gen/airlock/auth/v1/auth.ts';
import { consentViaApi, type Decision, type RawResponse } from './consent.ts';
import { call, clientsFor } from './grpc.ts';
import type { TestAccount } from './pds.ts';

export interface Verifier {
  verifier: string;
  challenge: string;
}

/** A fresh login verifier and its S256 challenge, as an app makes them. */
export function newVerifier(): Verifier {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface StartedLogin extends InitiateLoginResponse {
  verifier: string;
}

export async function initiateLogin(
  auth: AuthServiceClient,
  identifier: string,
  options: { deadlineMs?: number; verifier?: Verifier; clientLabel?: string } = {},
): Promise<StartedLogin> {
  const v = options.verifier ?? newVerifier();
  const response = await call(
    auth,
    auth.initiateLogin,
    { identifier, loginVerifierChallenge: v.challenge, ...(options.clientLabel === undefined ? {} : { clientLabel: options.clientLabel }) },
    { deadlineMs: options.deadlineMs },
  );
  return { ...response, verifier: v.verifier };
}

export type EventCase = NonNullable<AwaitLoginResponse['event']>['$case'];

export interface LoginStream {
  call: ClientReadableStream<AwaitLoginResponse>;
  /** Every event received so far, in order. */
  events: AwaitLoginResponse[];
  cases(): EventCase[];
  /** Resolves with the first event of this kind (already received or still to come). */
  next<C extends EventCase>(kind: C, timeoutMs?: number): Promise<Extract<NonNullable<AwaitLoginResponse['event']>, { $case: C }>['value']>;
  /** Resolves when the stream ends: code 0 for OK. */
  end: Promise<{ code: number; details: string }>;
  cancel(): void;
}

/** Opens AwaitLogin and records what arrives. */
export function awaitLogin(auth: AuthServiceClient, loginId: string, verifier: string, options: { deadlineMs?: number } = {}): LoginStream {
  const deadline = options.deadlineMs ? new Date(Date.now() + options.deadlineMs) : undefined;
  const stream = auth.awaitLogin({ loginId, loginVerifier: verifier }, new Metadata(), deadline ? { deadline } : {});
  const events: AwaitLoginResponse[] = [];
  const waiters: Array<() => void> = [];
  stream.on('data', (event: AwaitLoginResponse) => {
    events.push(event);
    for (const w of waiters.splice(0)) w();
  });
  const end = new Promise<{ code: number; details: string }>((resolve) => {
    stream.on('status', (s: { code: number; details: string }) => resolve({ code: s.code, details: s.details }));
    // 'error' carries the same status; listening keeps it from being thrown.
    stream.on('error', (_e: ServiceError) => {});
  });
  const find = (kind: EventCase) => events.find((e) => e.event?.$case === kind)?.event;
  return {
    call: stream,
    events,
    cases: () => events.map((e) => e.event!.$case),
    end,
    cancel: () => stream.cancel(),
    async next(kind, timeoutMs = 30_000) {
      const started = Date.now();
      for (;;) {
        const found = find(kind);
        if (found) return found.value as never;
        let timer: NodeJS.Timeout | undefined;
        const ended = await Promise.race([
          new Promise<false>((resolve) => waiters.push(() => resolve(false))),
          end.then(() => true as const),
          new Promise<'timeout'>((resolve) => {
            timer = setTimeout(() => resolve('timeout'), Math.max(0, timeoutMs - (Date.now() - started)));
          }),
        ]);
        clearTimeout(timer);
        if (ended === true && !find(kind)) {
          const s = await end;
          throw new Error(
            `AwaitLogin ended (${status[s.code]}: ${s.details}) without a ${kind} event; got ${events.map((e) => e.event?.$case).join(', ')}`,
          );
        }
        if (ended === 'timeout' && !find(kind))
          throw new Error(`no ${kind} event within ${timeoutMs} ms; got ${events.map((e) => e.event?.$case).join(', ')}`);
      }
    },
  };
}

export interface ApiLogin {
  session: Session;
  started: StartedLogin;
  stream: LoginStream;
  callbackUrl: string;
  page: RawResponse;
}

/**
 * A complete real login through the PDS's JSON API (no browser): returns the
 * Airlock session. `airlock` is anything with a gRPC target (startInProcess,
 * startChild). The identifier defaults to the account's handle.
 */
export async function loginViaApi(
  airlock: { grpcTarget: string },
  account: TestAccount,
  options: { identifier?: string; auth?: AuthServiceClient; clientLabel?: string } = {},
): Promise<Session> {
  return (await loginViaApiDetailed(airlock, account, options)).session;
}

export async function loginViaApiDetailed(
  airlock: { grpcTarget: string },
  account: TestAccount,
  options: { identifier?: string; auth?: AuthServiceClient; decision?: Decision; clientLabel?: string } = {},
): Promise<ApiLogin> {
  const clients = options.auth ? undefined : clientsFor(airlock.grpcTarget);
  const auth = options.auth ?? clients!.auth;
  try {
    const started = await initiateLogin(auth, options.identifier ?? account.handle, { clientLabel: options.clientLabel });
    const stream = awaitLogin(auth, started.loginId, started.verifier);
    await stream.next('pending');
    const { callbackUrl, page } = await consentViaApi(started.authorizeUrl, account, options.decision ?? 'approve');
    const completed = await stream.next('completed');
    await stream.end;
    return { session: completed.session!, started, stream, callbackUrl, page };
  } finally {
    clients?.close();
  }
}
