// Time limits against a real LiveKit: a session that reaches its absolute end
// while its participant is in a room is removed by the presence check, and a
// LiveKit token past its lifetime is refused at join. This Airlock mints
// 1-second channel tokens and ends sessions 30 s after sign-in.
//
// livekit-server accepts a token up to 60 s after its exp (its verifier's
// leeway, livekit/protocol auth/verifier.go), so "expired" here means more
// than a minute past exp; the short channel TTL gates only the first join.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GetChannelTokenResponse } from '../../proto/gen/airlock/channels/v1/channels.ts';
import type { Session } from '../../proto/gen/airlock/auth/v1/auth.ts';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { call, clientsFor } from '../support/grpc.ts';
import { freeTcpPort, startLiveKit, type TestLiveKit } from '../support/livekit.ts';
import { loginViaApi } from '../support/login.ts';
import { startParticipantBrowser, type ParticipantBrowser } from '../support/participant.ts';
import { startPds, type TestPds } from '../support/pds.ts';

const SESSION_MAX_TTL_MS = 30_000;
const LIVEKIT_LEEWAY_MS = 60_000;

let pds: TestPds;
let livekit: TestLiveKit;
let airlock: InProcessAirlock;
let browser: ParticipantBrowser;
let clients: ReturnType<typeof clientsFor>;
let earlyToken: GetChannelTokenResponse;

beforeAll(async () => {
  pds = await startPds();
  const httpPort = await freeTcpPort();
  livekit = await startLiveKit({ webhookUrls: [`http://127.0.0.1:${httpPort}/livekit/webhook`] });
  airlock = await startInProcess({
    ...pds.airlockEnv(),
    ...livekit.airlockEnv(),
    AIRLOCK_HTTP_ADDRESS: `127.0.0.1:${httpPort}`,
    AIRLOCK_CHANNEL_TOKEN_TTL: '1s',
    AIRLOCK_SESSION_MAX_TTL: `${SESSION_MAX_TTL_MS}ms`,
  });
  clients = clientsFor(airlock.grpcTarget);
  browser = await startParticipantBrowser();
  // Minted now, used by the last test once it is past LiveKit's leeway.
  earlyToken = await tokenFor(await loginViaApi(airlock, await pds.createAccount()), 'lobby');
}, 120_000);

afterAll(async () => {
  await browser?.close();
  clients?.close();
  await airlock?.close();
  await livekit?.stop();
  await pds?.stop();
});

function tokenFor(session: Session, channelId: string) {
  return call(clients.channels, clients.channels.getChannelToken, { channelId }, { bearer: session.accessToken });
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('time limits in the room', () => {
  it('a participant whose session reaches its end is removed by the presence check', async () => {
    const account = await pds.createAccount();
    const session = await loginViaApi(airlock, account);
    const { absolute_expires_at: endsAt } = await airlock.database.db
      .selectFrom('sessions')
      .select('absolute_expires_at')
      .where('id', '=', session.sessionId)
      .executeTakeFirstOrThrow();
    const minted = await tokenFor(session, 'lobby');
    const participant = await browser.newParticipant();
    const result = await participant.join(minted.livekitUrl, minted.token);
    expect(result, JSON.stringify(result)).toMatchObject({ ok: true });
    await until(
      async () =>
        (await airlock.database.db
          .selectFrom('livekit_participants')
          .select('participant_sid')
          .where('participant_sid', '=', result.sid!)
          .executeTakeFirst()) !== undefined,
      'the join to be recorded',
    );
    // Still there before its end (unless the machine was too slow to get here in time).
    if (Date.now() < endsAt - 1_000) expect((await livekit.rooms.listParticipants('lobby')).map((p) => p.identity)).toContain(account.did);
    const disconnectedAt = await participant.waitDisconnected(SESSION_MAX_TTL_MS + 15_000);
    expect(disconnectedAt, 'the participant was not removed after its session ended').not.toBeNull();
    expect(disconnectedAt!).toBeGreaterThanOrEqual(endsAt);
    console.log(`session end to removal: ${disconnectedAt! - endsAt} ms (presence check every 1 s)`);
    expect((await participant.events()).find((e) => e.type === 'disconnected')?.reason).toBe('4'); // PARTICIPANT_REMOVED
    expect((await livekit.rooms.listParticipants('lobby')).map((p) => p.identity)).not.toContain(account.did);
    await participant.page.close();
  }, 90_000);

  it("a token past its lifetime (and past LiveKit's 60 s leeway) is refused at join", async () => {
    const expiredSince = earlyToken.expiresAt!.getTime() + LIVEKIT_LEEWAY_MS + 2_000;
    if (Date.now() < expiredSince) await new Promise((resolve) => setTimeout(resolve, expiredSince - Date.now()));
    const participant = await browser.newParticipant();
    const result = await participant.join(earlyToken.livekitUrl, earlyToken.token);
    expect(result.ok, JSON.stringify(result)).toBe(false);
    expect(result.error).toMatch(/token|unauthori[sz]ed|401/i);
    expect(await livekit.rooms.listParticipants('lobby')).toEqual([]);
    await participant.page.close();
  }, 120_000);
});
