// Several devices per user, against a real LiveKit. Two sessions of one DID
// (two logins of the same account) join one room:
// - AIRLOCK_LIVEKIT_IDENTITY=did (the default): the identity is the DID, and
//   LiveKit keeps one participant per identity, so the second join replaces
//   the first (DUPLICATE_IDENTITY). Revoking the replaced session leaves the
//   newer device alone.
// - AIRLOCK_LIVEKIT_IDENTITY=session: identities are <did>#<session suffix>,
//   both stay connected, and revoking one session removes only its device.
// In both modes the verified DID, handle and session are attributes the
// participant cannot change.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from '../../proto/gen/airlock/auth/v1/auth.ts';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { call, clientsFor } from '../support/grpc.ts';
import { freeTcpPort, startLiveKit, type TestLiveKit } from '../support/livekit.ts';
import { loginViaApi } from '../support/login.ts';
import { startParticipantBrowser, type ParticipantBrowser } from '../support/participant.ts';
import { startPds, type TestAccount, type TestPds } from '../support/pds.ts';
import { joinAs, presenceRow, until } from '../support/rooms.ts';

interface Deployment {
  livekit: TestLiveKit;
  airlock: InProcessAirlock;
  clients: ReturnType<typeof clientsFor>;
}

let pds: TestPds;
let browser: ParticipantBrowser;
const deployments: Record<'did' | 'session', Deployment> = {} as never;

async function deploy(mode: 'did' | 'session'): Promise<Deployment> {
  const httpPort = await freeTcpPort();
  const livekit = await startLiveKit({ webhookUrls: [`http://127.0.0.1:${httpPort}/livekit/webhook`] });
  const airlock = await startInProcess({
    ...pds.airlockEnv(),
    ...livekit.airlockEnv(),
    AIRLOCK_HTTP_ADDRESS: `127.0.0.1:${httpPort}`,
    AIRLOCK_LIVEKIT_IDENTITY: mode,
  });
  return { livekit, airlock, clients: clientsFor(airlock.grpcTarget) };
}

beforeAll(async () => {
  pds = await startPds();
  deployments.did = await deploy('did');
  deployments.session = await deploy('session');
  browser = await startParticipantBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  for (const d of Object.values(deployments)) {
    d.clients.close();
    await d.airlock.close();
    await d.livekit.stop();
  }
  await pds?.stop();
});

async function twoSessions(d: Deployment): Promise<{ account: TestAccount; first: Session; second: Session }> {
  const account = await pds.createAccount();
  return { account, first: await loginViaApi(d.airlock, account), second: await loginViaApi(d.airlock, account) };
}

function attributesOf(account: TestAccount, session: Session) {
  return { 'airlock.did': account.did, 'airlock.handle': account.handle, 'airlock.session': session.sessionId, 'airlock.channel': 'lobby' };
}

describe('two sessions of one DID in one room', () => {
  it('identity = DID (default): the second device replaces the first; revoking the replaced session leaves the second', async () => {
    const d = deployments.did;
    const { account, first, second } = await twoSessions(d);
    const one = await joinAs(browser, d.clients, first, 'lobby', d.airlock);
    const two = await joinAs(browser, d.clients, second, 'lobby', d.airlock);
    expect(one.minted.identity).toBe(account.did);
    expect(two.minted.identity).toBe(account.did);
    expect(await one.participant.waitDisconnected(10_000)).not.toBeNull();
    expect((await one.participant.events()).find((e) => e.type === 'disconnected')?.reason).toBe('2'); // DUPLICATE_IDENTITY
    const [only, ...rest] = await d.livekit.rooms.listParticipants('lobby');
    expect(rest).toEqual([]);
    expect(only).toMatchObject({ sid: two.sid, identity: account.did, name: account.handle, attributes: attributesOf(account, second) });
    await until(async () => (await presenceRow(d.airlock, one.sid)) === undefined, 'participant_left of the replaced device');

    await call(d.clients.auth, d.clients.auth.logout, { refreshToken: '' }, { bearer: first.accessToken });
    // Give a wrong removal every chance to happen, then check the newer device is still there.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await two.participant.state()).toBe('connected');
    expect((await d.livekit.rooms.listParticipants('lobby')).map((p) => p.sid)).toEqual([two.sid]);

    await call(d.clients.auth, d.clients.auth.logout, { refreshToken: '' }, { bearer: second.accessToken });
    expect(await two.participant.waitDisconnected(10_000)).not.toBeNull();
    for (const p of [one, two]) await p.participant.page.close();
  });

  it('identity per session: both devices stay connected, each with its own session attributes; revoking one removes only it', async () => {
    const d = deployments.session;
    const { account, first, second } = await twoSessions(d);
    const one = await joinAs(browser, d.clients, first, 'lobby', d.airlock);
    const two = await joinAs(browser, d.clients, second, 'lobby', d.airlock);
    expect(one.minted.identity).toBe(`${account.did}#${first.sessionId.slice(0, 8)}`);
    expect(two.minted.identity).toBe(`${account.did}#${second.sessionId.slice(0, 8)}`);
    const listed = await d.livekit.rooms.listParticipants('lobby');
    expect(listed.map((p) => p.identity).sort()).toEqual([one.minted.identity, two.minted.identity].sort());
    expect(listed.find((p) => p.sid === one.sid)).toMatchObject({ name: account.handle, attributes: attributesOf(account, first) });
    expect(listed.find((p) => p.sid === two.sid)).toMatchObject({ name: account.handle, attributes: attributesOf(account, second) });
    expect(await one.participant.state()).toBe('connected');

    await call(d.clients.auth, d.clients.auth.logout, { refreshToken: '' }, { bearer: first.accessToken });
    expect(await one.participant.waitDisconnected(10_000)).not.toBeNull();
    expect(await two.participant.state()).toBe('connected');
    expect((await d.livekit.rooms.listParticipants('lobby')).map((p) => p.sid)).toEqual([two.sid]);
    for (const p of [one, two]) await p.participant.page.close();
  });

  it.each(['did', 'session'] as const)('(%s mode) the participant cannot rewrite its verified attributes or name', async (mode) => {
    const d = deployments[mode];
    const account = await pds.createAccount();
    const session = await loginViaApi(d.airlock, account);
    const joined = await joinAs(browser, d.clients, session, 'lobby', d.airlock);
    const outcome = await joined.participant.tryRewrite(
      { 'airlock.did': 'did:plc:forgedforgedforgedforged', 'airlock.session': 'forged' },
      'forged.example',
    );
    console.log(`${mode} mode, client rewrite attempts: ${JSON.stringify(outcome)}`);
    expect(outcome.attributes).not.toBe('ok');
    expect(outcome.name).not.toBe('ok');
    const info = (await d.livekit.rooms.listParticipants('lobby')).find((p) => p.sid === joined.sid)!;
    expect(info.attributes).toEqual(attributesOf(account, session));
    expect(info.name).toBe(account.handle);
    await joined.participant.leave();
    await joined.participant.page.close();
  });
});
