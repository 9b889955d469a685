// The refresh-reuse grace across two Airlock processes on one PostgreSQL
// database: a RefreshSession retried on the other replica at the same moment
// must not hand out a dead refresh token. Both answers carry the same
// successor (the very session the first created), and it keeps working.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from '../../proto/gen/airlock/auth/v1/auth.ts';
import { decideViaApi, deliverCallback, openAuthorizePage } from '../support/consent.ts';
import { call } from '../support/grpc.ts';
import { awaitLogin, initiateLogin } from '../support/login.ts';
import { startPds, type TestPds } from '../support/pds.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { routePublicUrl, startReplica, viaReplica, type Replica } from '../support/replicas.ts';

let pds: TestPds;
let database: TestDatabase;
let a: Replica;
let b: Replica;
let unroute: () => void;

beforeAll(async () => {
  pds = await startPds();
  database = await createTestDatabase();
  const env = { ...pds.airlockEnv(), AIRLOCK_REFRESH_REUSE_GRACE: '3s' };
  [a, b] = (await Promise.all(['a', 'b'].map((name) => startReplica(name, database.url, env)))) as [Replica, Replica];
  unroute = routePublicUrl(() => a);
});

afterAll(async () => {
  unroute?.();
  for (const r of [a, b]) await r?.close().catch(() => {});
  await pds?.stop();
  await database?.drop();
});

async function signIn(): Promise<Session> {
  const account = await pds.createAccount();
  const started = await initiateLogin(a.clients.auth, account.handle);
  const stream = awaitLogin(a.clients.auth, started.loginId, started.verifier);
  await stream.next('pending');
  const callbackUrl = await decideViaApi(await openAuthorizePage(viaReplica(started.authorizeUrl, a)), account);
  expect((await deliverCallback(viaReplica(callbackUrl, a))).status).toBe(200);
  return (await stream.next('completed')).session!;
}

const refresh = (replica: Replica, refreshToken: string) =>
  call(replica.clients.auth, replica.clients.auth.refreshSession, { refreshToken });

describe('refresh-reuse grace on two replicas', () => {
  it('two concurrent refreshes of one token on A and B both answer the same live refresh token, round after round', async () => {
    const session = await signIn();
    let token = session.refreshToken;
    for (let round = 0; round < 20; round += 1) {
      const [onA, onB] = await Promise.all([refresh(a, token), refresh(b, token)]);
      expect(onA.session!.sessionId, `round ${round}`).toBe(session.sessionId);
      expect(onB.session!.sessionId, `round ${round}`).toBe(session.sessionId);
      expect(onB.session!.refreshToken, `round ${round}`).toBe(onA.session!.refreshToken);
      expect(onA.session!.refreshToken).not.toBe(token);
      // Both access tokens work; the next round continues from either answer.
      for (const answer of [onA, onB]) {
        expect((await call(a.clients.auth, a.clients.auth.whoAmI, {}, { bearer: answer.session!.accessToken })).sessionId).toBe(
          session.sessionId,
        );
      }
      token = (round % 2 === 0 ? onA : onB).session!.refreshToken;
    }
    // The last successor works too, and nothing was revoked along the way.
    expect((await refresh(b, token)).session!.sessionId).toBe(session.sessionId);
    expect([...a.logs, ...b.logs].some((l) => l.msg === 'session revoked')).toBe(false);
  });
});
