// Connect and gRPC-Web on the HTTP listener, against a real Airlock and a
// real PDS, with the real Connect clients (@connectrpc/connect-node over
// HTTP/1.1): a whole login with AwaitLogin streaming, a channel token with
// the bearer, and the same codes, ErrorInfo reasons and limits as gRPC.
import http from 'node:http';
import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { Metadata } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthService } from '../../proto/gen-es/airlock/auth/v1/auth_pb.js';
import { registry } from '../../server/observability/metrics.ts';
import { ChannelsService } from '../../proto/gen-es/airlock/channels/v1/channels_pb.js';
import { ErrorInfoSchema } from '../../proto/gen-es/google/rpc/error_details_pb.js';
import { consentViaApi } from '../support/consent.ts';
import { call, clientsFor, grpcFailure } from '../support/grpc.ts';
import { awaitLogin, initiateLogin, newVerifier } from '../support/login.ts';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { startPds, startPdsWithAirlock, type PdsWithAirlock, type TestPds } from '../support/pds.ts';

const ALLOWED_ORIGIN = 'http://app.allowed.test:5173';

async function connectFailure(
  promise: Promise<unknown>,
): Promise<{ code: Code; reason: string | undefined; domain: string | undefined; message?: string }> {
  try {
    await promise;
  } catch (error) {
    const e = ConnectError.from(error);
    const info = e.findDetails(ErrorInfoSchema)[0];
    return { code: e.code, reason: info?.reason, domain: info?.domain, ...(e.code === Code.Unavailable ? { message: e.rawMessage } : {}) };
  }
  throw new Error('expected the call to fail, but it succeeded');
}

function rawRequest(url: string, init: { method: string; headers: Record<string, string>; body?: string }) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request(url, { method: init.method, headers: init.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('Connect and gRPC-Web on the HTTP listener', () => {
  let world: PdsWithAirlock;
  let connect: Transport;
  let grpcWeb: Transport;

  beforeAll(async () => {
    world = await startPdsWithAirlock({
      AIRLOCK_CORS_ORIGINS: ALLOWED_ORIGIN,
      AIRLOCK_MAX_MESSAGE_BYTES: '4096',
      AIRLOCK_MAX_STREAMS_PER_LOGIN: '2',
      AIRLOCK_MAX_METADATA_BYTES: '8192',
    });
    const baseUrl = world.airlock.publicUrl;
    connect = createConnectTransport({ baseUrl, httpVersion: '1.1' });
    grpcWeb = createGrpcWebTransport({ baseUrl, httpVersion: '1.1' });
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('signs in over Connect (AwaitLogin streamed over HTTP/1.1), then gets a channel token with the bearer', async () => {
    const auth = createClient(AuthService, connect);
    const { verifier, challenge } = newVerifier();
    // No client_label: the session is labelled with the request's user-agent header, as gRPC's user-agent on gRPC.
    const started = await auth.initiateLogin(
      { identifier: world.account.handle, loginVerifierChallenge: challenge },
      { headers: { 'user-agent': 'ConnectTestApp/1.0 (webview)' } },
    );
    expect(started.authorizeUrl).toMatch(/\/login\//);
    // The login's confirmation code, as InitiateLogin returns it over gRPC.
    expect(started.confirmationCode).toMatch(/^[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}$/);

    const events: string[] = [];
    const stream = (async () => {
      for await (const message of auth.awaitLogin({ loginId: started.loginId, loginVerifier: verifier })) {
        events.push(message.event.case ?? 'none');
        if (message.event.case === 'completed') return message.event.value.session!;
        if (message.event.case === 'failed') throw new Error(`login failed: ${message.event.value.message}`);
      }
      throw new Error('the stream ended without a result');
    })();
    await consentViaApi(started.authorizeUrl, world.account);
    const session = await stream;
    expect(events[0]).toBe('pending');
    expect(events).toContain('browserOpened');
    expect(session.handle).toBe(world.account.handle);

    const bearer = { headers: { authorization: `Bearer ${session.accessToken}` } };
    const channels = createClient(ChannelsService, connect);
    const token = await channels.getChannelToken({ channelId: 'lobby' }, bearer);
    expect(token.room).toBe('lobby');
    expect(token.token.split('.')).toHaveLength(3);

    // gRPC-Web: the same session works, and so does its refresh.
    const overGrpcWeb = createClient(AuthService, grpcWeb);
    const me = await overGrpcWeb.whoAmI({}, bearer);
    expect(me.did).toBe(session.did);
    const refreshed = await overGrpcWeb.refreshSession({ refreshToken: session.refreshToken });
    expect(refreshed.session?.sessionId).toBe(session.sessionId);
    const { sessions } = await overGrpcWeb.listSessions({}, bearer);
    expect(sessions.find((s) => s.sessionId === session.sessionId)?.clientLabel).toBe('ConnectTestApp/1.0 (webview)');

    // Counted in the same RPC metrics as gRPC calls (no gRPC call of these methods ran in this file).
    const handled = await registry.getSingleMetricAsString('grpc_server_handled_total');
    expect(handled).toContain('grpc_type="unary",grpc_service="airlock.auth.v1.AuthService",grpc_method="WhoAmI",grpc_code="OK"} 1');
    expect(handled).toContain(
      'grpc_type="server_stream",grpc_service="airlock.auth.v1.AuthService",grpc_method="AwaitLogin",grpc_code="OK"} 1',
    );
  });

  it('answers an unauthenticated call with the same code and ErrorInfo reason as gRPC', async () => {
    const grpc = clientsFor(world.airlock.grpcTarget);
    try {
      for (const [bearer, reason] of [
        [undefined, 'TOKEN_MISSING'],
        ['not-a-jwt', 'TOKEN_INVALID'],
      ] as const) {
        const overGrpc = await grpcFailure(call(grpc.channels, grpc.channels.getChannelToken, { channelId: 'lobby' }, { bearer }));
        expect(overGrpc).toMatchObject({ code: 16, reason });
        const headers = bearer ? { authorization: `Bearer ${bearer}` } : undefined;
        for (const transport of [connect, grpcWeb]) {
          const failure = await connectFailure(
            createClient(ChannelsService, transport).getChannelToken({ channelId: 'lobby' }, { headers }),
          );
          expect(failure).toEqual({ code: Code.Unauthenticated, reason, domain: 'airlock.dev' });
        }
      }
    } finally {
      grpc.close();
    }
  });

  it('refuses request headers over AIRLOCK_MAX_METADATA_BYTES before authentication, as gRPC does: RESOURCE_EXHAUSTED, METADATA_TOO_LARGE', async () => {
    const filler = 'a'.repeat(9000);
    const grpc = clientsFor(world.airlock.grpcTarget);
    try {
      const metadata = new Metadata();
      metadata.set('x-filler', filler);
      const overGrpc = await grpcFailure(call(grpc.auth, grpc.auth.whoAmI, {}, { metadata }));
      expect(overGrpc).toMatchObject({ code: Code.ResourceExhausted, reason: 'METADATA_TOO_LARGE' });
    } finally {
      grpc.close();
    }
    for (const transport of [connect, grpcWeb]) {
      const auth = createClient(AuthService, transport);
      // A guarded call without a bearer, and a public one: the size is checked first on both.
      expect(await connectFailure(auth.whoAmI({}, { headers: { 'x-filler': filler } }))).toEqual({
        code: Code.ResourceExhausted,
        reason: 'METADATA_TOO_LARGE',
        domain: 'airlock.dev',
      });
      const { challenge } = newVerifier();
      expect(
        await connectFailure(
          auth.initiateLogin({ identifier: world.account.handle, loginVerifierChallenge: challenge }, { headers: { 'x-filler': filler } }),
        ),
      ).toMatchObject({ code: Code.ResourceExhausted, reason: 'METADATA_TOO_LARGE' });
    }
  });

  it('refuses a message larger than AIRLOCK_MAX_MESSAGE_BYTES on both transports', async () => {
    const identifier = 'x'.repeat(5000);
    const grpc = clientsFor(world.airlock.grpcTarget);
    try {
      const overGrpc = await grpcFailure(initiateLogin(grpc.auth, identifier));
      expect(overGrpc.code).toBe(Code.ResourceExhausted);
      const overConnect = await connectFailure(
        createClient(AuthService, connect).initiateLogin({ identifier, loginVerifierChallenge: 'c' }),
      );
      expect(overConnect.code).toBe(Code.ResourceExhausted);
    } finally {
      grpc.close();
    }
  });

  it('counts the AwaitLogin streams of one login across both transports (AIRLOCK_MAX_STREAMS_PER_LOGIN)', async () => {
    const grpc = clientsFor(world.airlock.grpcTarget);
    const auth = createClient(AuthService, connect);
    const stop = new AbortController();
    try {
      const started = await initiateLogin(grpc.auth, world.account.handle);
      const overGrpc = awaitLogin(grpc.auth, started.loginId, started.verifier);
      await overGrpc.next('pending');
      // The second stream, over Connect, is admitted and gets its first event.
      const second = auth
        .awaitLogin({ loginId: started.loginId, loginVerifier: started.verifier }, { signal: stop.signal })
        [Symbol.asyncIterator]();
      expect((await second.next()).value?.event.case).toBe('pending');
      // A third, on either transport, is over the limit.
      const third = await connectFailure(
        (async () => {
          for await (const _ of auth.awaitLogin({ loginId: started.loginId, loginVerifier: started.verifier })) break;
        })(),
      );
      expect(third.code).toBe(Code.ResourceExhausted);
      overGrpc.cancel();
    } finally {
      stop.abort();
      grpc.close();
    }
  });

  it('answers a preflight from an allowed origin with the allow headers, and from any other origin without them', async () => {
    const url = `${world.airlock.publicUrl}/airlock.channels.v1.ChannelsService/GetChannelToken`;
    const preflight = (origin: string) =>
      rawRequest(url, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      });
    const allowed = await preflight(ALLOWED_ORIGIN);
    expect(allowed.status).toBe(204);
    expect(allowed.headers['access-control-allow-origin']).toBe(ALLOWED_ORIGIN);
    expect(allowed.headers['access-control-allow-headers']?.toLowerCase()).toContain('authorization');
    expect(allowed.headers['access-control-allow-methods']).toContain('POST');

    const refused = await preflight('http://evil.test');
    expect(refused.headers['access-control-allow-origin']).toBeUndefined();
    expect(refused.headers['access-control-allow-headers']).toBeUndefined();

    // The call itself from a foreign origin carries no allow header either, so a browser withholds the answer.
    const post = await rawRequest(url, {
      method: 'POST',
      headers: { origin: 'http://evil.test', 'content-type': 'application/json' },
      body: '{"channelId":"lobby"}',
    });
    expect(post.status).toBe(401);
    expect(post.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('the login rate limit on Connect', () => {
  let world: PdsWithAirlock;
  beforeAll(async () => {
    world = await startPdsWithAirlock({ AIRLOCK_LOGIN_RATE_PER_MINUTE: '2' });
  });
  afterAll(async () => {
    await world?.stop();
  });

  it('is keyed on the client address and shared with gRPC: RATE_LIMITED with retryAfterMs on both', async () => {
    const grpc = clientsFor(world.airlock.grpcTarget);
    const auth = createClient(AuthService, createConnectTransport({ baseUrl: world.airlock.publicUrl, httpVersion: '1.1' }));
    try {
      await initiateLogin(grpc.auth, world.account.handle);
      await auth.initiateLogin({ identifier: world.account.handle, loginVerifierChallenge: newVerifier().challenge });
      const overGrpc = await grpcFailure(initiateLogin(grpc.auth, world.account.handle));
      expect(overGrpc).toMatchObject({ code: Code.ResourceExhausted, reason: 'RATE_LIMITED' });
      let info: { reason?: string; metadata?: Record<string, string> } | undefined;
      try {
        await auth.initiateLogin({ identifier: world.account.handle, loginVerifierChallenge: newVerifier().challenge });
      } catch (error) {
        const e = ConnectError.from(error);
        expect(e.code).toBe(Code.ResourceExhausted);
        info = e.findDetails(ErrorInfoSchema)[0];
      }
      expect(info?.reason).toBe('RATE_LIMITED');
      expect(Number(info?.metadata?.retryAfterMs)).toBeGreaterThan(0);
    } finally {
      grpc.close();
    }
  });
});

describe('shutdown on Connect', () => {
  let pds: TestPds;
  let airlock: InProcessAirlock | undefined;
  beforeAll(async () => {
    pds = await startPds();
  });
  afterAll(async () => {
    await airlock?.close();
    await pds?.stop();
  });

  it('ends an open AwaitLogin stream with unavailable, as gRPC does, so the client re-attaches elsewhere', async () => {
    const account = await pds.createAccount();
    const server = await startInProcess(pds.airlockEnv());
    airlock = server;
    const auth = createClient(AuthService, createConnectTransport({ baseUrl: server.publicUrl, httpVersion: '1.1' }));
    const { verifier, challenge } = newVerifier();
    const started = await auth.initiateLogin({ identifier: account.handle, loginVerifierChallenge: challenge });
    const stream = auth.awaitLogin({ loginId: started.loginId, loginVerifier: verifier })[Symbol.asyncIterator]();
    expect((await stream.next()).value?.event.case).toBe('pending');
    airlock = undefined;
    const stopped = server.close();
    const failure = await connectFailure(
      (async () => {
        for (;;) if ((await stream.next()).done) return;
      })(),
    );
    await stopped;
    expect(failure.code).toBe(Code.Unavailable);
    expect(failure.message).toContain('shutting down');
  });
});
