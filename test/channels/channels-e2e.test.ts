// ChannelsService end to end: a real Airlock (gRPC + HTTP on real sockets),
// a real PLC + PDS from @atproto/dev-env, a real ATProto OAuth login through
// the PDS's provider API, and real grpc-js clients. The LiveKit tokens are
// checked with livekit-server-sdk's TokenVerifier and the configured secret.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Metadata, status } from '@grpc/grpc-js';
import { TokenVerifier } from 'livekit-server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from '../../proto/gen/airlock/auth/v1/auth.ts';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { call, clientsFor, grpcFailure } from '../support/grpc.ts';
import { loginViaApi } from '../support/login.ts';
import { startPds, type TestAccount, type TestPds } from '../support/pds.ts';
import { tempDir } from '../support/settings.ts';

const LIVEKIT_KEY = 'APIe2etestkey';
const LIVEKIT_SECRET = randomBytes(32).toString('base64url');
const LIVEKIT_URL = 'wss://livekit.example.com';
const TTL_SECONDS = 7 * 60;
const all = { publish: true, subscribe: true, publishData: true };
const listenOnly = { publish: false, subscribe: true, publishData: true };

let pds: TestPds;
let airlock: InProcessAirlock;
let dir: ReturnType<typeof tempDir>;
let alice: TestAccount;
let bob: TestAccount;
let aliceSession: Session;
let clients: ReturnType<typeof clientsFor>;

beforeAll(async () => {
  dir = tempDir('airlock-channels-e2e-');
  pds = await startPds();
  alice = await pds.createAccount();
  bob = await pds.createAccount();
  const catalog = path.join(dir.path, 'channels.json');
  writeFileSync(
    catalog,
    JSON.stringify({
      channels: [
        { id: 'lobby', name: 'Lobby', room: 'lobby', join: 'signed-in', permissions: all },
        { id: 'alice-room', name: 'Alice only', room: 'private-a', join: [alice.did], permissions: listenOnly },
        { id: 'bob-room', name: 'Bob only', room: 'private-b', join: [bob.did], permissions: all },
      ],
    }),
  );
  airlock = await startInProcess({
    ...pds.airlockEnv(),
    AIRLOCK_CHANNELS_FILE: catalog,
    AIRLOCK_CHANNEL_TOKEN_TTL: `${TTL_SECONDS}s`,
    AIRLOCK_LIVEKIT_URL: LIVEKIT_URL,
    AIRLOCK_LIVEKIT_API_KEY: LIVEKIT_KEY,
    AIRLOCK_LIVEKIT_API_SECRET: LIVEKIT_SECRET,
  });
  clients = clientsFor(airlock.grpcTarget);
  aliceSession = await loginViaApi(airlock, alice);
});

afterAll(async () => {
  clients?.close();
  await airlock?.close();
  await pds?.stop();
  dir?.remove();
});

function getToken(channelId: string, options: { bearer?: string; metadata?: Metadata } = {}) {
  return call(clients.channels, clients.channels.getChannelToken, { channelId }, { bearer: aliceSession.accessToken, ...options });
}

describe('after a real login', () => {
  it('the session is for the account that signed in', () => {
    expect(aliceSession.did).toBe(alice.did);
    expect(aliceSession.handle).toBe(alice.handle);
  });

  it('GetChannelToken("lobby") is a LiveKit token for exactly this DID, exactly the channel grants, for the configured TTL', async () => {
    const before = Math.floor(Date.now() / 1000);
    const response = await getToken('lobby');
    const after = Math.ceil(Date.now() / 1000);
    const claims = await new TokenVerifier(LIVEKIT_KEY, LIVEKIT_SECRET).verify(response.token);

    expect(claims.sub).toBe(alice.did);
    expect(claims.name).toBe(alice.handle);
    expect(claims.iss).toBe(LIVEKIT_KEY);
    expect(claims.video).toStrictEqual({
      roomJoin: true,
      room: 'lobby',
      canPublish: true,
      canSubscribe: true,
      canPublishData: true,
      canUpdateOwnMetadata: false,
    });
    expect(claims.attributes).toStrictEqual({
      'airlock.did': alice.did,
      'airlock.handle': alice.handle,
      'airlock.session': aliceSession.sessionId,
      'airlock.channel': 'lobby',
    });
    expect(Object.keys(claims).sort()).toEqual(['attributes', 'exp', 'iss', 'name', 'nbf', 'sub', 'video']);
    expect(claims.exp! - claims.nbf!).toBe(TTL_SECONDS);
    expect(claims.nbf!).toBeGreaterThanOrEqual(before);
    expect(claims.nbf!).toBeLessThanOrEqual(after);

    expect(response.livekitUrl).toBe(LIVEKIT_URL);
    expect(response.room).toBe('lobby');
    expect(response.identity).toBe(alice.did);
    expect(response.expiresAt).toEqual(new Date(claims.exp! * 1000));
  });

  it('the token is refused with any other secret (the dev default included)', async () => {
    const { token } = await getToken('lobby');
    await expect(new TokenVerifier(LIVEKIT_KEY, 'secret').verify(token)).rejects.toThrow();
    await expect(new TokenVerifier('devkey', LIVEKIT_SECRET).verify(token)).rejects.toThrow();
  });

  it('ListChannels returns the channels this caller may join, with permissions', async () => {
    const response = await call(clients.channels, clients.channels.listChannels, {}, { bearer: aliceSession.accessToken });
    expect(response.channels).toEqual([
      { id: 'lobby', name: 'Lobby', canPublish: true, canSubscribe: true, canPublishData: true },
      { id: 'alice-room', name: 'Alice only', canPublish: false, canSubscribe: true, canPublishData: true },
    ]);
  });

  it('a channel restricted to this DID works, with exactly its grants', async () => {
    const response = await getToken('alice-room');
    const claims = await new TokenVerifier(LIVEKIT_KEY, LIVEKIT_SECRET).verify(response.token);
    expect(claims.sub).toBe(alice.did);
    expect(claims.video).toStrictEqual({
      roomJoin: true,
      room: 'private-a',
      canPublish: false,
      canSubscribe: true,
      canPublishData: true,
      canUpdateOwnMetadata: false,
    });
    expect(response.room).toBe('private-a');
  });

  it('a channel restricted to another DID is PERMISSION_DENIED', async () => {
    const failure = await grpcFailure(getToken('bob-room'));
    expect(failure.code).toBe(status.PERMISSION_DENIED);
    expect(failure.details).toBe('you may not join channel "bob-room"');
  });

  it('an unknown channel is NOT_FOUND', async () => {
    const failure = await grpcFailure(getToken('nowhere'));
    expect(failure.code).toBe(status.NOT_FOUND);
    expect(failure.details).toBe('no channel "nowhere"');
  });

  it('a malformed channel id is INVALID_ARGUMENT', async () => {
    for (const channelId of ['', 'Lobby', '-lobby', 'lob by', '../lobby', 'a'.repeat(65)]) {
      const failure = await grpcFailure(getToken(channelId));
      expect(failure.code, JSON.stringify(channelId)).toBe(status.INVALID_ARGUMENT);
      expect(failure.details).not.toContain(channelId || '\u0000');
    }
  });

  it('identity-looking metadata sent by the client is ignored', async () => {
    const spoof = () => {
      const metadata = new Metadata();
      for (const key of ['x-airlock-did', 'x-airlock-identity', 'identity', 'did', 'x-user-did', 'x-forwarded-user'])
        metadata.set(key, bob.did);
      metadata.set('x-airlock-handle', bob.handle);
      return metadata;
    };
    const response = await getToken('lobby', { metadata: spoof() });
    const claims = await new TokenVerifier(LIVEKIT_KEY, LIVEKIT_SECRET).verify(response.token);
    expect(claims.sub).toBe(alice.did);
    expect(claims.name).toBe(alice.handle);
    expect(response.identity).toBe(alice.did);
    expect((await grpcFailure(getToken('bob-room', { metadata: spoof() }))).code).toBe(status.PERMISSION_DENIED);
    const listed = await call(clients.channels, clients.channels.listChannels, {}, { bearer: aliceSession.accessToken, metadata: spoof() });
    expect(listed.channels.map((c) => c.id)).toEqual(['lobby', 'alice-room']);

    // Without a bearer token the spoofed headers get nothing at all.
    const unauthenticated = await grpcFailure(
      call(clients.channels, clients.channels.getChannelToken, { channelId: 'lobby' }, { metadata: spoof() }),
    );
    expect(unauthenticated.code).toBe(status.UNAUTHENTICATED);
    expect(unauthenticated.reason).toBe('TOKEN_MISSING');
  });

  it('another signed-in account sees and joins its own restricted channel, not this one', async () => {
    const bobSession = await loginViaApi(airlock, bob);
    expect(bobSession.did).toBe(bob.did);
    const listed = await call(clients.channels, clients.channels.listChannels, {}, { bearer: bobSession.accessToken });
    expect(listed.channels.map((c) => c.id)).toEqual(['lobby', 'bob-room']);
    const response = await getToken('bob-room', { bearer: bobSession.accessToken });
    expect((await new TokenVerifier(LIVEKIT_KEY, LIVEKIT_SECRET).verify(response.token)).sub).toBe(bob.did);
    expect((await grpcFailure(getToken('alice-room', { bearer: bobSession.accessToken }))).code).toBe(status.PERMISSION_DENIED);
  });

  it('a LiveKit token is not an Airlock access token', async () => {
    const { token } = await getToken('lobby');
    const failure = await grpcFailure(getToken('lobby', { bearer: token }));
    expect(failure.code).toBe(status.UNAUTHENTICATED);
    expect(failure.reason).toBe('TOKEN_INVALID');
  });
});
