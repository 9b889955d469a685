// The channels capability in the domain: which channels a caller sees, and
// the errors GetChannelToken maps to INVALID_ARGUMENT, NOT_FOUND and
// PERMISSION_DENIED.
import { TokenVerifier } from 'livekit-server-sdk';
import { describe, expect, it } from 'vitest';
import { parseCatalog } from '../../server/channels/catalog.ts';
import { ChannelAccess } from '../../server/channels/channel-access.ts';
import { LiveKitTokenMinter } from '../../server/channels/livekit-tokens.ts';
import { InvalidArgumentError, NotFoundError, PermissionDeniedError } from '../../server/errors.ts';

const ALICE = { did: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz', handle: 'alice.test', sessionId: 'alice-session-0123456789' };
const BOB = { did: 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb', handle: 'bob.test', sessionId: 'bob-session-0123456789' };
const all = { publish: true, subscribe: true, publishData: true };
const access = new ChannelAccess(
  parseCatalog({
    channels: [
      { id: 'lobby', name: 'Lobby', join: 'signed-in', permissions: all },
      { id: 'alice-only', name: 'Alice', join: [ALICE.did], permissions: all },
      { id: 'bob-only', name: 'Bob', join: [BOB.did], permissions: all },
      { id: 'both', name: 'Both', join: [BOB.did, ALICE.did], permissions: { ...all, publish: false } },
    ],
  }),
  new LiveKitTokenMinter({ url: 'ws://localhost:7880', apiKey: 'k', apiSecret: 's', ttlSeconds: 60 }),
);

describe('ChannelAccess', () => {
  it('lists the channels each caller may join, in catalog order', () => {
    expect(access.joinable(ALICE).map((c) => c.id)).toEqual(['lobby', 'alice-only', 'both']);
    expect(access.joinable(BOB).map((c) => c.id)).toEqual(['lobby', 'bob-only', 'both']);
    expect(access.joinable({ did: 'did:web:carol.example' }).map((c) => c.id)).toEqual(['lobby']);
  });

  it('compares DIDs exactly', () => {
    expect(access.joinable({ did: ALICE.did.toUpperCase() }).map((c) => c.id)).toEqual(['lobby']);
  });

  it('mints for an open channel and for a channel restricted to the caller', async () => {
    for (const id of ['lobby', 'alice-only', 'both']) {
      const minted = await access.tokenFor(ALICE, id);
      expect(minted.identity).toBe(ALICE.did);
      expect((await new TokenVerifier('k', 's').verify(minted.token)).sub).toBe(ALICE.did);
    }
  });

  it('refuses a channel restricted to someone else', async () => {
    await expect(access.tokenFor(ALICE, 'bob-only')).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(access.tokenFor(ALICE, 'bob-only')).rejects.toThrow('you may not join channel "bob-only"');
  });

  it('does not find an unknown channel', async () => {
    await expect(access.tokenFor(ALICE, 'nowhere')).rejects.toBeInstanceOf(NotFoundError);
    await expect(access.tokenFor(ALICE, 'nowhere')).rejects.toThrow('no channel "nowhere"');
  });

  it('rejects a malformed id without echoing it', async () => {
    for (const id of ['', 'Lobby', '-lobby', 'a'.repeat(65), '../lobby', 'lobby\n', 'x'.repeat(10_000)]) {
      const error = await access.tokenFor(ALICE, id).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toBe(
        'channel_id must be 1 to 64 characters of a-z, 0-9, "-" and "_", starting with a letter or digit',
      );
    }
  });
});
