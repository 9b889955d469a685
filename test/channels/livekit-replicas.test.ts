// Revocation reaches the room from any replica: two Airlock replicas on one
// real PostgreSQL database, LiveKit's webhooks reaching replica A only, and
// the revocation made on replica B. B finds the participant in the shared
// presence table and removes it through LiveKit's RoomService. The periodic
// presence check is set to 10 minutes on both, so only B's own reaction to
// its revocation can explain a removal within seconds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { call, clientsFor } from '../support/grpc.ts';
import { freeTcpPort, startLiveKit, type TestLiveKit } from '../support/livekit.ts';
import { loginViaApi } from '../support/login.ts';
import { startParticipantBrowser, type ParticipantBrowser } from '../support/participant.ts';
import { startPds, type TestPds } from '../support/pds.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { joinAs, presenceRow, until } from '../support/rooms.ts';

let pds: TestPds;
let database: TestDatabase;
let livekit: TestLiveKit;
let a: InProcessAirlock;
let b: InProcessAirlock;
let clientsA: ReturnType<typeof clientsFor>;
let clientsB: ReturnType<typeof clientsFor>;
let browser: ParticipantBrowser;

beforeAll(async () => {
  pds = await startPds();
  database = await createTestDatabase();
  const httpPortA = await freeTcpPort();
  livekit = await startLiveKit({ webhookUrls: [`http://127.0.0.1:${httpPortA}/livekit/webhook`] });
  const env = {
    ...pds.airlockEnv(),
    ...livekit.airlockEnv(),
    AIRLOCK_DATABASE_URL: database.url,
    AIRLOCK_REVOCATION_CACHE_TTL: '10m',
    AIRLOCK_PRESENCE_CHECK_INTERVAL: '10m',
  };
  a = await startInProcess({ ...env, AIRLOCK_HTTP_ADDRESS: `127.0.0.1:${httpPortA}` });
  b = await startInProcess({ ...env, AIRLOCK_PUBLIC_URL: a.publicUrl });
  clientsA = clientsFor(a.grpcTarget);
  clientsB = clientsFor(b.grpcTarget);
  browser = await startParticipantBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  clientsA?.close();
  clientsB?.close();
  await a?.close();
  await b?.close();
  await livekit?.stop();
  await database?.drop();
  await pds?.stop();
});

describe('revocation on another replica than the one that received the webhook', () => {
  it('Logout on replica B removes the participant whose join replica A recorded', async () => {
    const session = await loginViaApi(a, await pds.createAccount());
    const { participant, sid } = await joinAs(browser, clientsA, session, 'lobby', a);
    expect(await presenceRow(b, sid)).toBeDefined();
    const start = Date.now();
    await call(clientsB.auth, clientsB.auth.logout, { refreshToken: '' }, { bearer: session.accessToken });
    const at = await participant.waitDisconnected(10_000);
    expect(at, 'not removed within 10 s').not.toBeNull();
    console.log(`logout on replica B to removal: ${at! - start} ms`);
    expect((await livekit.rooms.listParticipants('lobby')).map((p) => p.sid)).not.toContain(sid);
    await until(async () => (await presenceRow(a, sid)) === undefined, 'the presence row to go');
    await participant.page.close();
  });

  it('refresh-token reuse detected on replica B removes the participant', async () => {
    const session = await loginViaApi(a, await pds.createAccount());
    const { participant, sid } = await joinAs(browser, clientsA, session, 'lobby', a);
    await call(clientsA.auth, clientsA.auth.refreshSession, { refreshToken: session.refreshToken });
    const start = Date.now();
    await call(clientsB.auth, clientsB.auth.refreshSession, { refreshToken: session.refreshToken }).catch(() => undefined);
    const at = await participant.waitDisconnected(10_000);
    expect(at, 'not removed within 10 s').not.toBeNull();
    console.log(`reuse on replica B to removal: ${at! - start} ms`);
    expect((await livekit.rooms.listParticipants('lobby')).map((p) => p.sid)).not.toContain(sid);
    await participant.page.close();
  });
});
