// The verified-token cache: a token pays for one signature check, then is
// answered from a bounded LRU until its exp at most, while its key still
// verifies; the revocation check runs on every call; nothing that failed
// verification is ever stored.
import { loadMasterKeys } from '../../server/storage/at-rest.ts';
import { status } from '@grpc/grpc-js';
import { decodeProtectedHeader, importJWK, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/observability/logger.ts';
import { upstreamSessions } from '../../server/oauth/upstream-sessions.ts';
import { createSessionCapability, type SessionCapability } from '../../server/sessions/session-capability.ts';
import { VerifiedTokenCache } from '../../server/tokens/verified-token-cache.ts';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { call, clientsFor, grpcFailure } from '../support/grpc.ts';
import { testSettings, openPrivateJwk } from '../support/settings.ts';
import { Metadata } from '@grpc/grpc-js';
import { readErrorInfo } from '../../server/transport/grpc/status.ts';

const USER = { did: 'did:plc:tokencacheuser0000000000', handle: 'cache.test', pdsUrl: 'http://127.0.0.1:1' };
const ISSUER = 'http://airlock.token-cache.test';

let server: InProcessAirlock;
let clients: ReturnType<typeof clientsFor>;

beforeAll(async () => {
  server = await startInProcess({ AIRLOCK_PUBLIC_URL: ISSUER, AIRLOCK_VERIFIED_TOKEN_CACHE_SIZE: '100' });
  clients = clientsFor(server.grpcTarget);
});

afterAll(async () => {
  clients?.close();
  await server?.close();
});

/** A second capability on the same database whose clock the test moves. */
async function withClock(env: Record<string, string> = {}): Promise<{ auth: SessionCapability; clock: { now: number } }> {
  const clock = { now: Date.now() };
  const settings = testSettings({
    AIRLOCK_DATA_DIR: server.dataDir,
    AIRLOCK_PUBLIC_URL: ISSUER,
    AIRLOCK_VERIFIED_TOKEN_CACHE_SIZE: '100',
    ...env,
  });
  // The real upstream check over the server's OAuth client: these tests never refresh, so it is never asked.
  const upstream = upstreamSessions(server.login.oauth, createLogger(settings));
  const auth = await createSessionCapability({
    db: server.database.db,
    settings,
    issuer: ISSUER,
    logger: createLogger(settings),
    upstream,
    now: () => clock.now,
    sealer: loadMasterKeys(settings),
  });
  return { auth, clock };
}

function whoAmI(token: string) {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return call(clients.auth, clients.auth.whoAmI, {}, { metadata });
}

async function reasonOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return (error as { reason?: string }).reason ?? readErrorInfo((error as { metadata: Metadata }).metadata)?.reason;
  }
  throw new Error('expected a rejection');
}

/** The same token with one signature byte changed. */
function tampered(token: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const bytes = Buffer.from(signature, 'base64url');
  bytes[0] = bytes[0]! ^ 0x01;
  return `${header}.${payload}.${bytes.toString('base64url')}`;
}

describe('verified-token cache', () => {
  it('a verified token is cached once, and answers the same identity from the cache', async () => {
    const session = await server.auth.sessions.start(USER);
    const before = server.auth.accessTokens.cachedTokens;
    const first = await whoAmI(session.accessToken);
    expect(server.auth.accessTokens.cachedTokens).toBe(before + 1);
    const again = await whoAmI(session.accessToken);
    expect(again).toEqual(first);
    expect(server.auth.accessTokens.cachedTokens).toBe(before + 1);
  });

  it('a forged or tampered token is never cached, even next to a cached valid one', async () => {
    const session = await server.auth.sessions.start(USER);
    await whoAmI(session.accessToken);
    const cached = server.auth.accessTokens.cachedTokens;

    const forgedSignature = tampered(session.accessToken);
    const row = await server.database.db
      .selectFrom('signing_keys')
      .selectAll()
      .where('kid', '=', decodeProtectedHeader(session.accessToken).kid!)
      .executeTakeFirstOrThrow();
    // Our kid, our claims, someone else's key.
    const { generateKeyPair } = await import('jose');
    const other = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const now = Math.floor(Date.now() / 1000);
    const forgedKey = await new SignJWT({ handle: USER.handle, sid: session.sessionId })
      .setProtectedHeader({ alg: 'EdDSA', kid: row.kid, typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setAudience('airlock')
      .setSubject(USER.did)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 600)
      .setJti('forged')
      .sign(other.privateKey);
    for (const forged of [forgedSignature, forgedKey, forgedSignature]) {
      const failure = await grpcFailure(whoAmI(forged));
      expect(failure.code).toBe(status.UNAUTHENTICATED);
      expect(failure.reason).toBe('TOKEN_INVALID');
    }
    // A token signed by our own key but with a claim we refuse is not cached either.
    const ours = await importJWK(JSON.parse(openPrivateJwk(server.dataDir, row)) as JWK, 'EdDSA');
    const wrongAudience = await new SignJWT({ handle: USER.handle, sid: session.sessionId })
      .setProtectedHeader({ alg: 'EdDSA', kid: row.kid, typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setAudience('elsewhere')
      .setSubject(USER.did)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 600)
      .setJti('aud')
      .sign(ours);
    expect((await grpcFailure(whoAmI(wrongAudience))).reason).toBe('TOKEN_INVALID');
    expect(server.auth.accessTokens.cachedTokens).toBe(cached);
  });

  it('the revocation check still applies to a cached token', async () => {
    const session = await server.auth.sessions.start(USER);
    await whoAmI(session.accessToken);
    await whoAmI(session.accessToken);
    await server.auth.sessions.logout(session.sessionId);
    const failure = await grpcFailure(whoAmI(session.accessToken));
    expect(failure.code).toBe(status.UNAUTHENTICATED);
    expect(failure.reason).toBe('SESSION_REVOKED');
  });

  it("an entry lives until the token's exp at most; past it, full verification decides", async () => {
    const { auth, clock } = await withClock({ AIRLOCK_CLOCK_TOLERANCE: '30s' });
    const session = await auth.sessions.start(USER);
    const exp = session.accessTokenExpiresAt.getTime();
    await auth.authenticator.authenticate(session.accessToken);
    expect(auth.accessTokens.cachedTokens).toBe(1);

    // Just past exp but within the clock tolerance: still accepted, by full verification, and no longer cached.
    clock.now = exp + 1_000;
    await expect(auth.authenticator.authenticate(session.accessToken)).resolves.toMatchObject({ sessionId: session.sessionId });
    expect(auth.accessTokens.cachedTokens).toBe(0);
    // Beyond the tolerance: expired, whatever was cached before.
    clock.now = exp + 31_000;
    expect(await reasonOf(auth.authenticator.authenticate(session.accessToken))).toBe('TOKEN_EXPIRED');
  });

  it("a rotation clears the retiring key's entries; its tokens still verify, afresh", async () => {
    const { auth } = await withClock();
    const session = await auth.sessions.start(USER);
    await auth.authenticator.authenticate(session.accessToken);
    expect(auth.accessTokens.cachedTokens).toBe(1);
    await auth.keys.rotate(0);
    expect(auth.accessTokens.cachedTokens).toBe(0);
    await expect(auth.authenticator.authenticate(session.accessToken)).resolves.toMatchObject({ sessionId: session.sessionId });
    expect(auth.accessTokens.cachedTokens).toBe(1);
  });

  it('a key removed from the set (e.g. by another replica) stops its cached tokens at the next reload of the key set', async () => {
    const { auth, clock } = await withClock();
    // A key of its own, so removing it does not disturb the other tests.
    const key = await auth.keys.rotate(0);
    const session = await auth.sessions.start(USER);
    expect(decodeProtectedHeader(session.accessToken).kid).toBe(key.kid);
    await auth.authenticator.authenticate(session.accessToken);
    expect(auth.accessTokens.cachedTokens).toBe(1);

    await server.database.db.deleteFrom('signing_keys').where('kid', '=', key.kid).execute();
    // This process re-reads the key set at least once a minute; a cache hit must not skip that.
    clock.now += 61_000;
    expect(await reasonOf(auth.authenticator.authenticate(session.accessToken))).toBe('TOKEN_INVALID');
    expect(auth.accessTokens.cachedTokens).toBe(0);
  });

  it('is bounded: the least recently used token goes first', async () => {
    const tokens = await Promise.all([0, 1, 2, 3].map(() => server.auth.sessions.start(USER)));
    const cache = new VerifiedTokenCache(3);
    const now = Date.now();
    const remember = async (token: string) => {
      const verified = await server.auth.accessTokens.verify(token);
      cache.remember(token, decodeProtectedHeader(token).kid!, verified, now);
    };
    const [a, b, c, d] = tokens.map((t) => t.accessToken) as [string, string, string, string];
    await remember(a);
    await remember(b);
    await remember(c);
    expect(cache.get(a, now)?.verified.sessionId).toBe(tokens[0]!.sessionId);
    await remember(d);
    expect(cache.size).toBe(3);
    expect([a, b, c, d].map((t) => cache.has(t))).toEqual([true, false, true, true]);
    // Forgetting a key drops its entries only.
    cache.forgetKey('some-other-kid');
    expect(cache.size).toBe(3);
    cache.forgetKey(decodeProtectedHeader(a).kid!);
    expect(cache.size).toBe(0);
  });

  it('size 0 turns the cache off', async () => {
    const { auth } = await withClock({ AIRLOCK_VERIFIED_TOKEN_CACHE_SIZE: '0' });
    const session = await auth.sessions.start(USER);
    await auth.authenticator.authenticate(session.accessToken);
    await auth.authenticator.authenticate(session.accessToken);
    expect(auth.accessTokens.cachedTokens).toBe(0);
  });
});
