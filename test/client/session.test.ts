// The client's authenticated calls against a real Airlock server and a
// real local PDS, with sessions from real OAuth logins: bearer, proactive
// refresh, refresh-once-and-retry on TOKEN_EXPIRED and TOKEN_INVALID, single-flight refresh,
// signed-out handling and logout.
import { status } from '@grpc/grpc-js';
import { TokenVerifier } from 'livekit-server-sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AirlockClient } from '../../client/airlock-client.ts';
import { RequestFailedError, ServerUnavailableError, SignedOutError } from '../../client/errors.ts';
import { MemoryStore } from '../../client/storage/memory-store.ts';
import type { SessionInfo } from '../../client/airlock-client.ts';
import { call, clientsFor, grpcFailure } from '../support/grpc.ts';
import { rejectionOf, startLoginWorld, type LoginWorld } from './fixtures.ts';

// Short access tokens and no clock tolerance, so "expired" is reachable in a test.
const ACCESS_TTL_MS = 4_000;
let world: LoginWorld;

beforeAll(async () => {
  world = await startLoginWorld({ AIRLOCK_ACCESS_TOKEN_TTL: `${ACCESS_TTL_MS}ms`, AIRLOCK_CLOCK_TOLERANCE: '0' });
});

afterEach(() => world.closeClients());

afterAll(async () => {
  await world?.stop();
});

/** Refresh tokens the server ever issued for a session: 1 at login, +1 per RefreshSession that rotated. */
async function refreshTokensIssued(sessionId: string): Promise<number> {
  const rows = await world.server.database.db
    .selectFrom('refresh_tokens')
    .select('token_hash')
    .where('session_id', '=', sessionId)
    .execute();
  return rows.length;
}

const waitUntilExpired = (session: SessionInfo) =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, session.accessTokenExpiresAt.getTime() - Date.now()) + 1_100));

function rawWhoAmI(accessToken: string) {
  const raw = clientsFor(world.server.grpcTarget);
  return grpcFailure(call(raw.auth, raw.auth.whoAmI, {}, { bearer: accessToken })).finally(() => raw.close());
}

describe('authenticated calls', () => {
  it('whoAmI, listChannels and getChannelToken carry the bearer and return what the server proves', async () => {
    const { client, session, account } = await world.signedInClient({ refreshSkewMs: 0 });
    expect(session).toMatchObject({ did: account.did, handle: account.handle, serverUrl: world.serverUrl });
    const me = await client.whoAmI();
    expect(me).toMatchObject({ did: account.did, handle: account.handle, sessionId: session.sessionId, serverUrl: world.serverUrl });
    const channels = await client.listChannels();
    expect(channels.map((c) => c.id)).toContain('lobby');
    const token = await client.getChannelToken('lobby');
    expect(token.identity).toBe(account.did);
    const grant = await new TokenVerifier('devkey', 'secret').verify(token.token);
    expect(grant.sub).toBe(account.did);
    expect(grant.video?.room).toBe(token.room);
    expect(await refreshTokensIssued(session.sessionId)).toBe(1); // a fresh token needs no refresh
  });

  it('no session is SignedOutError(NOT_SIGNED_IN)', async () => {
    const client = world.newClient();
    const error = await rejectionOf(client.whoAmI());
    expect(error).toBeInstanceOf(SignedOutError);
    expect((error as SignedOutError).reason).toBe('NOT_SIGNED_IN');
  });

  it('a refusal that is not about auth keeps the session (unknown channel)', async () => {
    const { client } = await world.signedInClient();
    const error = await rejectionOf(client.getChannelToken('no-such-channel'));
    expect(error).toBeInstanceOf(RequestFailedError);
    expect((error as RequestFailedError).status).toBe('NOT_FOUND');
    expect(await client.getSession()).toBeDefined();
  });
});

describe('refresh', () => {
  it('single flight, proactive: N concurrent calls with an expired token make exactly one RefreshSession', async () => {
    const { client, session } = await world.signedInClient({ refreshSkewMs: 0 });
    const before = (await client.store.load())!.session!;
    await waitUntilExpired(session);
    const N = 12;
    const results = await Promise.all(Array.from({ length: N }, (_, i) => (i % 2 ? client.whoAmI() : client.listChannels())));
    expect(results).toHaveLength(N);
    expect(await refreshTokensIssued(session.sessionId)).toBe(2);
    const after = (await client.store.load())!.session!;
    expect(after.sessionId).toBe(session.sessionId);
    expect(after.refreshToken).not.toBe(before.refreshToken);
    expect(after.accessToken).not.toBe(before.accessToken);
  });

  it('single flight on TOKEN_EXPIRED: a client that believes its token fresh refreshes once and retries each call once', async () => {
    // The client's clock runs 10 minutes slow, so it sends the expired token and learns it from the server.
    const { client, session } = await world.signedInClient({ now: () => Date.now() - 600_000, refreshSkewMs: 0 });
    const expiredToken = (await client.store.load())!.session!.accessToken;
    await waitUntilExpired(session);
    expect((await rawWhoAmI(expiredToken)).reason).toBe('TOKEN_EXPIRED');
    const N = 10;
    const results = await Promise.all(Array.from({ length: N }, () => client.whoAmI()));
    expect(results.every((r) => r.sessionId === session.sessionId)).toBe(true);
    expect(await refreshTokensIssued(session.sessionId)).toBe(2);
  });

  it('refreshes shortly before expiry, not only after (skew capped at half the token lifetime)', async () => {
    const { client, session } = await world.signedInClient({ refreshSkewMs: 60_000 });
    const stored = (await client.store.load())!.session!;
    const expiresAt = Date.parse(stored.accessTokenExpiresAt);
    const skew = (expiresAt - Date.parse(stored.accessTokenReceivedAt)) / 2;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - skew - Date.now()) + 200));
    expect(session.accessTokenExpiresAt.getTime()).toBeGreaterThan(Date.now()); // still valid...
    await client.whoAmI();
    expect(await refreshTokensIssued(session.sessionId)).toBe(2); // ...and refreshed anyway
  });

  it('a refresh rejected as revoked clears the session and raises SignedOutError(SESSION_REVOKED)', async () => {
    const { client, session } = await world.signedInClient({ refreshSkewMs: 0 });
    // Another copy of the same session (a second process over a copied session file) refreshes first...
    const other = new AirlockClient({ store: new MemoryStore(await client.store.load()), refreshSkewMs: 0 });
    world.clients.push(other);
    await waitUntilExpired(session);
    await other.whoAmI();
    // ...so this client presents a rotated refresh token: the server treats it as theft and revokes the session.
    const error = await rejectionOf(client.whoAmI());
    expect(error).toBeInstanceOf(SignedOutError);
    expect((error as SignedOutError).reason).toBe('SESSION_REVOKED');
    expect(await client.getSession()).toBeUndefined();
    expect((await client.store.load())?.loginServerUrl).toBe(world.serverUrl); // where to sign in again
    expect(((await rejectionOf(client.whoAmI())) as SignedOutError).reason).toBe('NOT_SIGNED_IN');
    // The other copy is signed out too: the whole session was revoked.
    expect(await rejectionOf(other.whoAmI())).toBeInstanceOf(SignedOutError);
  });

  it('a session revoked on the server while the access token is fresh signs the client out on the next call', async () => {
    const { client } = await world.signedInClient();
    const { refreshToken } = (await client.store.load())!.session!;
    const raw = clientsFor(world.server.grpcTarget);
    await call(raw.auth, raw.auth.logout, { refreshToken }).finally(() => raw.close());
    const error = await rejectionOf(client.listChannels());
    expect(error).toBeInstanceOf(SignedOutError);
    expect((error as SignedOutError).reason).toBe('SESSION_REVOKED');
    expect(await client.getSession()).toBeUndefined();
  });

  it('an access token the server cannot verify gets one refresh and one retry (a replica may not know its key yet)', async () => {
    const { client, session } = await world.signedInClient({ refreshSkewMs: 0 });
    const state = (await client.store.load())!;
    await client.store.save({ ...state, session: { ...state.session!, accessToken: `${state.session!.accessToken.slice(0, -6)}AAAAAA` } });
    expect((await client.whoAmI()).sessionId).toBe(session.sessionId);
    expect(await refreshTokensIssued(session.sessionId)).toBe(2);
    expect((await client.getSession())?.sessionId).toBe(session.sessionId);
  });

  it('when the refresh token is refused too, it is SignedOutError(TOKEN_INVALID) and the session is dropped', async () => {
    const { client } = await world.signedInClient();
    const state = (await client.store.load())!;
    await client.store.save({
      ...state,
      session: { ...state.session!, accessToken: `${state.session!.accessToken.slice(0, -6)}AAAAAA`, refreshToken: 'A'.repeat(43) },
    });
    const error = await rejectionOf(client.whoAmI());
    expect((error as SignedOutError).reason).toBe('TOKEN_INVALID');
    expect(await client.getSession()).toBeUndefined();
  });
});

describe('logout', () => {
  it('revokes on the server, clears server URL and tokens together, and later calls are signed out', async () => {
    const { client, session } = await world.signedInClient();
    const { accessToken } = (await client.store.load())!.session!;
    expect(await client.getSession()).toMatchObject({ sessionId: session.sessionId, serverUrl: world.serverUrl });
    expect(await client.logout()).toEqual({ hadSession: true, revoked: true });
    expect(await client.store.load()).toBeUndefined();
    expect(await client.getSession()).toBeUndefined();
    // The old access token is dead on the server, not just forgotten here.
    const failure = await rawWhoAmI(accessToken);
    expect(failure.code).toBe(status.UNAUTHENTICATED);
    expect(failure.reason).toBe('SESSION_REVOKED');
    expect(((await rejectionOf(client.whoAmI())) as SignedOutError).reason).toBe('NOT_SIGNED_IN');
  });

  it('logout while refreshes are in flight never leaves a session behind', async () => {
    const { client, session } = await world.signedInClient({ refreshSkewMs: 0 });
    await waitUntilExpired(session);
    const calls = Array.from({ length: 6 }, () =>
      client.whoAmI().then(
        () => 'ok',
        (e: Error) => e.name,
      ),
    );
    await Promise.all([...calls, client.logout()]);
    expect(await client.store.load()).toBeUndefined();
    expect(await client.getSession()).toBeUndefined();
  });

  it('with the server unreachable: clears locally within the deadline and reports revoked: false', async () => {
    const { client } = await world.signedInClient();
    const state = (await client.store.load())!;
    await client.store.save({ ...state, session: { ...state.session!, serverUrl: 'http://127.0.0.1:9' } });
    const started = Date.now();
    expect(await client.logout({ deadlineMs: 1_000 })).toEqual({ hadSession: true, revoked: false });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await client.store.load()).toBeUndefined();
  });

  it('an authenticated call to an unreachable server is ServerUnavailableError and keeps the session', async () => {
    const { client } = await world.signedInClient();
    const state = (await client.store.load())!;
    await client.store.save({ ...state, session: { ...state.session!, serverUrl: 'http://127.0.0.1:9' } });
    expect(await rejectionOf(client.whoAmI())).toBeInstanceOf(ServerUnavailableError);
    expect(await client.getSession()).toBeDefined();
  });
});
