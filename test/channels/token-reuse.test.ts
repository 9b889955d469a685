// A repeat GetChannelToken within the reuse window (same session, DID,
// handle and channel definition) gets the token minted then; anything that
// changes what the token says mints a new one, and so does the window's end.
import { TokenVerifier } from 'livekit-server-sdk';
import { describe, expect, it } from 'vitest';
import { parseCatalog } from '../../server/channels/catalog.ts';
import { LiveKitTokenMinter } from '../../server/channels/livekit-tokens.ts';

const ALICE = { did: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz', handle: 'alice.test', sessionId: 'Zq3kV9xW2pLmN8rT4yHb6A' };
const KEY = 'APIkey123';
const SECRET = 'a-long-enough-secret-for-hs256-signing-0123456789';
const lobby = (publish: boolean) =>
  parseCatalog({
    channels: [{ id: 'lobby', name: 'Lobby', join: 'signed-in', permissions: { publish, subscribe: true, publishData: true } }],
  }).find('lobby')!;

function minter(reuseMs: number, reuseEntries = 100) {
  return new LiveKitTokenMinter({ url: 'wss://lk.example.com', apiKey: KEY, apiSecret: SECRET, ttlSeconds: 60, reuseMs, reuseEntries });
}

describe('LiveKit token reuse', () => {
  it('answers a repeat call within the window with the same token', async () => {
    const m = minter(5_000);
    const channel = lobby(true);
    const first = await m.mint(ALICE, channel);
    const again = await m.mint(ALICE, channel);
    expect(again).toBe(first);
    expect(m.reusable).toBe(1);
  });

  it('mints again for another session, handle or channel definition', async () => {
    const m = minter(5_000);
    const channel = lobby(true);
    const first = await m.mint(ALICE, channel);
    const otherSession = await m.mint({ ...ALICE, sessionId: 'Other-session-id-000000' }, channel);
    expect(otherSession).not.toBe(first);
    const renamed = await m.mint({ ...ALICE, handle: 'alice2.test' }, channel);
    expect((await new TokenVerifier(KEY, SECRET).verify(renamed.token)).name).toBe('alice2.test');
    // A new catalog with narrower grants: the old token must not come back.
    const narrowed = await m.mint(ALICE, lobby(false));
    expect((await new TokenVerifier(KEY, SECRET).verify(narrowed.token)).video?.canPublish).toBe(false);
  });

  it('mints again once the window has passed', async () => {
    const m = minter(1_000);
    const channel = lobby(true);
    const first = await m.mint(ALICE, channel);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const later = await m.mint(ALICE, channel);
    expect(later).not.toBe(first);
    expect(later.expiresAt.getTime()).toBeGreaterThan(first.expiresAt.getTime());
  });

  it('keeps nothing when reuse is off, and at most its cap otherwise', async () => {
    const off = minter(0);
    const channel = lobby(true);
    const a = await off.mint(ALICE, channel);
    expect(await off.mint(ALICE, channel)).not.toBe(a);
    expect(off.reusable).toBe(0);
    const capped = minter(5_000, 3);
    for (let i = 0; i < 10; i++) await capped.mint({ ...ALICE, sessionId: `session-${i}` }, channel);
    expect(capped.reusable).toBe(3);
  });

  it('refuses a window longer than a quarter of the token lifetime', () => {
    expect(() => minter(15_001)).toThrow(RangeError);
  });
});
