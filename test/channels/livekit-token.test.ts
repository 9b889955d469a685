// The minted LiveKit token, checked the way LiveKit checks it: with the SDK's
// TokenVerifier and the configured secret. Identity, name, grants (exactly)
// and lifetime are asserted claim by claim.
import { decodeProtectedHeader } from 'jose';
import { AccessToken, TokenVerifier } from 'livekit-server-sdk';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseCatalog } from '../../server/channels/catalog.ts';
import { ATTRIBUTE, channelGrant, LiveKitTokenMinter, participantIdentity } from '../../server/channels/livekit-tokens.ts';

const ALICE = { did: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz', handle: 'alice.test', sessionId: 'Zq3kV9xW2pLmN8rT4yHb6A' };
const KEY = 'APIkey123';
const SECRET = 'a-long-enough-secret-for-hs256-signing-0123456789';
const catalog = parseCatalog({
  channels: [
    { id: 'lobby', name: 'Lobby', join: 'signed-in', permissions: { publish: true, subscribe: true, publishData: true } },
    {
      id: 'listen',
      name: 'Listen only',
      room: 'stage',
      join: 'signed-in',
      permissions: { publish: false, subscribe: true, publishData: false },
    },
    { id: 'speak', name: 'Speak', room: 'stage', join: [ALICE.did], permissions: { publish: true, subscribe: false, publishData: true } },
  ],
});

function minter(ttlSeconds = 600, identity: 'did' | 'session' = 'did') {
  return new LiveKitTokenMinter({ url: 'wss://livekit.example.com', apiKey: KEY, apiSecret: SECRET, ttlSeconds, identity });
}

describe('LiveKit tokens', () => {
  it('carry the DID as identity, the handle as name, and exactly the channel grants', async () => {
    const before = Math.floor(Date.now() / 1000);
    const minted = await minter(600).mint(ALICE, catalog.find('lobby')!);
    const after = Math.floor(Date.now() / 1000);
    const claims = await new TokenVerifier(KEY, SECRET).verify(minted.token);

    expect(decodeProtectedHeader(minted.token)).toEqual({ alg: 'HS256' });
    expect(Object.keys(claims).sort()).toEqual(['attributes', 'exp', 'iss', 'name', 'nbf', 'sub', 'video']);
    expect(claims.iss).toBe(KEY);
    expect(claims.sub).toBe(ALICE.did);
    expect(claims.name).toBe(ALICE.handle);
    expect(claims.video).toStrictEqual({
      roomJoin: true,
      room: 'lobby',
      canPublish: true,
      canSubscribe: true,
      canPublishData: true,
      canUpdateOwnMetadata: false,
    });
    expect(claims.attributes).toStrictEqual({
      'airlock.did': ALICE.did,
      'airlock.handle': ALICE.handle,
      'airlock.session': ALICE.sessionId,
      'airlock.channel': 'lobby',
    });
    expect(claims.nbf).toBeGreaterThanOrEqual(before);
    expect(claims.nbf).toBeLessThanOrEqual(after);
    expect(claims.exp! - claims.nbf!).toBe(600);

    expect(minted).toEqual({
      token: minted.token,
      livekitUrl: 'wss://livekit.example.com',
      room: 'lobby',
      identity: ALICE.did,
      expiresAt: new Date(claims.exp! * 1000),
    });
  });

  it('write denied permissions as explicit false (LiveKit treats absent as allowed)', async () => {
    const listen = await new TokenVerifier(KEY, SECRET).verify((await minter().mint(ALICE, catalog.find('listen')!)).token);
    expect(listen.video).toStrictEqual({
      roomJoin: true,
      room: 'stage',
      canPublish: false,
      canSubscribe: true,
      canPublishData: false,
      canUpdateOwnMetadata: false,
    });
    const speak = await new TokenVerifier(KEY, SECRET).verify((await minter().mint(ALICE, catalog.find('speak')!)).token);
    expect(speak.video).toStrictEqual({
      roomJoin: true,
      room: 'stage',
      canPublish: true,
      canSubscribe: false,
      canPublishData: true,
      canUpdateOwnMetadata: false,
    });
  });

  it('grant nothing administrative', async () => {
    const { video } = await new TokenVerifier(KEY, SECRET).verify((await minter().mint(ALICE, catalog.find('lobby')!)).token);
    for (const grant of ['roomCreate', 'roomAdmin', 'roomList', 'roomRecord', 'ingressAdmin', 'hidden', 'recorder', 'agent']) {
      expect(video).not.toHaveProperty(grant);
    }
    // Written out, so the participant can never rewrite the attributes that say who Airlock verified.
    expect(video?.canUpdateOwnMetadata).toBe(false);
  });

  it('in per-session mode, use <did>#<first 8 characters of the session id> as identity, same attributes', async () => {
    const minted = await minter(600, 'session').mint(ALICE, catalog.find('lobby')!);
    const claims = await new TokenVerifier(KEY, SECRET).verify(minted.token);
    expect(claims.sub).toBe(`${ALICE.did}#Zq3kV9xW`);
    expect(minted.identity).toBe(`${ALICE.did}#Zq3kV9xW`);
    expect(claims.attributes).toStrictEqual({
      'airlock.did': ALICE.did,
      'airlock.handle': ALICE.handle,
      'airlock.session': ALICE.sessionId,
      'airlock.channel': 'lobby',
    });
  });

  it('live for the configured TTL', async () => {
    for (const ttl of [1, 60, 3600]) {
      const claims = await new TokenVerifier(KEY, SECRET).verify((await minter(ttl).mint(ALICE, catalog.find('lobby')!)).token);
      expect(claims.exp! - claims.nbf!).toBe(ttl);
    }
  });

  it('are refused by a verifier with another secret or key', async () => {
    const { token } = await minter().mint(ALICE, catalog.find('lobby')!);
    await expect(new TokenVerifier(KEY, `${SECRET}x`).verify(token)).rejects.toThrow(/signature/);
    await expect(new TokenVerifier('otherkey', SECRET).verify(token)).rejects.toThrow(/iss/);
  });

  // The token is signed with node:crypto, not through the SDK: at the same
  // instant it must be the SDK's token byte for byte, in both identity modes
  // and for every channel (livekit-room.test.ts has a real livekit-server admit it).
  describe("are the SDK's own token, byte for byte", () => {
    afterEach(() => vi.useRealTimers());
    for (const mode of ['did', 'session'] as const) {
      for (const channel of catalog.all()) {
        it(`${mode} identity, channel ${channel.id}`, async () => {
          vi.useFakeTimers({ now: new Date('2026-03-01T12:00:00.700Z'), toFake: ['Date'] });
          const ours = await minter(90, mode).mint(ALICE, channel);
          const sdk = new AccessToken(KEY, SECRET, {
            identity: participantIdentity(mode, ALICE),
            name: ALICE.handle,
            ttl: 90,
            attributes: {
              [ATTRIBUTE.did]: ALICE.did,
              [ATTRIBUTE.handle]: ALICE.handle,
              [ATTRIBUTE.session]: ALICE.sessionId,
              [ATTRIBUTE.channel]: channel.id,
            },
          });
          sdk.addGrant(channelGrant(channel));
          expect(ours.token).toBe(await sdk.toJwt());
          expect(ours.expiresAt).toEqual(new Date('2026-03-01T12:01:30.000Z'));
        });
      }
    }
  });

  it('refuse a TTL under one second', () => {
    expect(() => minter(0)).toThrow(RangeError);
    expect(() => minter(0.5)).toThrow(RangeError);
  });
});
