// The platform metrics over a real scrape: the NOTIFY lag between two real
// replicas on one real PostgreSQL after a cross-replica login, and the
// LiveKit room-service calls against a real livekit-server, then their
// failures once that server is stopped.
import { createHash, randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { AccessToken } from 'livekit-server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChild, type ChildAirlock } from '../support/airlock.ts';
import { decideViaApi, deliverCallback, openAuthorizePage } from '../support/consent.ts';
import { startLiveKit, type TestLiveKit } from '../support/livekit.ts';
import { awaitLogin, initiateLogin } from '../support/login.ts';
import { startPds, type TestPds } from '../support/pds.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { histogramCount, sampleValue, scrapeMetrics } from '../support/prometheus.ts';
import { routePublicUrl, startReplica, viaReplica, type Replica } from '../support/replicas.ts';
import { until } from '../support/rooms.ts';

describe('NOTIFY lag between replicas on PostgreSQL', () => {
  let pds: TestPds;
  let database: TestDatabase;
  let a: Replica;
  let b: Replica;
  let unroute: () => void;

  beforeAll(async () => {
    pds = await startPds();
    database = await createTestDatabase();
    const env = { ...pds.airlockEnv(), AIRLOCK_ADMIN_ADDRESS: '127.0.0.1:0' };
    a = await startReplica('a', database.url, env);
    b = await startReplica('b', database.url, env);
    unroute = routePublicUrl(() => a);
  });

  afterAll(async () => {
    unroute?.();
    for (const r of [a, b]) await r?.close().catch(() => {});
    await pds?.stop();
    await database?.drop();
  });

  it('is observed by the replica holding the stream when another replica completes the login', async () => {
    const account = await pds.createAccount();
    const lagSeries = { channel: 'airlock_login_events' };
    const before = histogramCount((await scrapeMetrics(b.adminPort!)).text, 'airlock_notify_lag_seconds', lagSeries);

    const started = await initiateLogin(a.clients.auth, account.handle);
    const stream = awaitLogin(b.clients.auth, started.loginId, started.verifier);
    await stream.next('pending');
    const authorize = await openAuthorizePage(viaReplica(started.authorizeUrl, a));
    const callbackUrl = await decideViaApi(authorize, account);
    expect((await deliverCallback(viaReplica(callbackUrl, a))).status).toBe(200);
    await stream.next('completed');
    expect((await stream.end).code).toBe(status.OK);

    // B received A's NOTIFYs (browser opened, finished): each is one observation of the lag.
    const { text, families } = await scrapeMetrics(b.adminPort!);
    expect(families.get('airlock_notify_lag_seconds')?.type).toBe('HISTOGRAM');
    expect(histogramCount(text, 'airlock_notify_lag_seconds', lagSeries) - before).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/^airlock_notify_lag_seconds_bucket\{le="\+Inf",channel="airlock_login_events"\} \d+$/m);
  });
});

describe('LiveKit room-service calls', () => {
  let livekit: TestLiveKit;
  let airlock: ChildAirlock;

  beforeAll(async () => {
    livekit = await startLiveKit();
    airlock = await startChild({ ...livekit.airlockEnv(), AIRLOCK_ADMIN_ADDRESS: '127.0.0.1:0' });
  });

  afterAll(async () => {
    await airlock?.stop();
    await livekit?.stop();
  });

  // A participant_joined webhook signed with the LiveKit key, as LiveKit sends it, for a session that does not exist:
  // Airlock asks LiveKit's room service about the participant at once, to remove it.
  async function joinOfDeadSession(): Promise<void> {
    const body = JSON.stringify({
      event: 'participant_joined',
      id: `EV_${randomBytes(6).toString('hex')}`,
      createdAt: String(Math.floor(Date.now() / 1000)),
      room: { name: 'lobby', sid: 'RM_metrics' },
      participant: {
        sid: `PA_${randomBytes(6).toString('hex')}`,
        identity: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz',
        attributes: {
          'airlock.did': 'did:plc:ewvi7nxzyoun6zhxrhs64oiz',
          'airlock.handle': 'alice.test',
          'airlock.session': 'no-such-session',
          'airlock.channel': 'lobby',
        },
      },
    });
    const token = new AccessToken(livekit.apiKey, livekit.apiSecret, { ttl: '5m' });
    token.sha256 = createHash('sha256').update(body).digest('base64');
    const response = await fetch(`http://127.0.0.1:${airlock.httpPort}/livekit/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/webhook+json', authorization: await token.toJwt() },
      body,
    });
    expect(response.status).toBe(200);
  }

  const calls = { operation: 'get_participant' };

  it('counts a call that LiveKit answers (the participant is not there) and no failure', async () => {
    const before = (await scrapeMetrics(airlock.adminPort!)).families;
    await joinOfDeadSession();
    await until(
      async () =>
        sampleValue((await scrapeMetrics(airlock.adminPort!)).families, 'airlock_livekit_room_service_calls_total', calls) >
        sampleValue(before, 'airlock_livekit_room_service_calls_total', calls),
      'a get_participant call to be counted',
    );
    const after = (await scrapeMetrics(airlock.adminPort!)).families;
    expect(sampleValue(after, 'airlock_livekit_room_service_failures_total', calls)).toBe(
      sampleValue(before, 'airlock_livekit_room_service_failures_total', calls),
    );
  });

  it('counts a failure by operation once the LiveKit server is stopped', async () => {
    await livekit.stop();
    const before = (await scrapeMetrics(airlock.adminPort!)).families;
    await joinOfDeadSession();
    await until(
      async () =>
        sampleValue((await scrapeMetrics(airlock.adminPort!)).families, 'airlock_livekit_room_service_failures_total', calls) >
        sampleValue(before, 'airlock_livekit_room_service_failures_total', calls),
      'a get_participant failure to be counted',
    );
    const after = (await scrapeMetrics(airlock.adminPort!)).families;
    expect(sampleValue(after, 'airlock_livekit_room_service_calls_total', calls)).toBeGreaterThan(
      sampleValue(before, 'airlock_livekit_room_service_calls_total', calls),
    );
  });
});
