// The login link renews the pushed authorization request for later visits,
// but at most AIRLOCK_MAX_PAR_RENEWALS times per login, on SQLite and on
// PostgreSQL. PARs are counted where they land: the real PDS's own table of
// pushed requests. Past the cap the link answers 429 and pushes nothing; the
// login stays pending and a browser that already holds a request finishes it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { decideViaApi, deliverCallback, openAuthorizePage, rawRequest } from '../support/consent.ts';
import { clientsFor } from '../support/grpc.ts';
import { awaitLogin, initiateLogin } from '../support/login.ts';
import { startPds, type TestAccount, type TestPds } from '../support/pds.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';

const RENEWALS = 2;

let pds: TestPds;
let account: TestAccount;
const databases: TestDatabase[] = [];

beforeAll(async () => {
  pds = await startPds();
  account = await pds.createAccount();
});

afterAll(async () => {
  for (const database of databases) await database.drop();
  await pds?.stop();
});

async function startOn(kind: 'SQLite' | 'PostgreSQL'): Promise<InProcessAirlock> {
  const env = { ...pds.airlockEnv(), AIRLOCK_MAX_PAR_RENEWALS: String(RENEWALS), AIRLOCK_LOGIN_RATE_PER_MINUTE: '1000' };
  if (kind === 'SQLite') return startInProcess(env);
  const database = await createTestDatabase();
  databases.push(database);
  return startInProcess({ ...env, AIRLOCK_DATABASE_URL: database.url });
}

describe.each(['SQLite', 'PostgreSQL'] as const)('login link renewals (%s)', (kind) => {
  it(`${RENEWALS} renewals per login, then 429 and no PAR; the login stays pending and completes`, async () => {
    const airlock = await startOn(kind);
    const clients = clientsFor(airlock.grpcTarget);
    try {
      const before = await pds.pushedRequests();
      const started = await initiateLogin(clients.auth, account.handle);
      expect(await pds.pushedRequests()).toBe(before + 1);
      const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
      await stream.next('pending');

      // The first visit uses InitiateLogin's request; the next ones each push their own.
      const first = await rawRequest(started.authorizeUrl);
      expect(first.status).toBe(302);
      expect(await pds.pushedRequests()).toBe(before + 1);
      const second = await rawRequest(started.authorizeUrl);
      expect(second.status).toBe(302);
      expect(second.headers.location).not.toBe(first.headers.location);
      const lastBrowser = await openAuthorizePage(started.authorizeUrl);
      expect(await pds.pushedRequests()).toBe(before + 1 + RENEWALS);

      // 20 more visits, sequential and concurrent: a page, and not one more PAR.
      for (let i = 0; i < 5; i++) {
        const refused = await rawRequest(started.authorizeUrl);
        expect(refused.status).toBe(429);
        expect(refused.headers.location).toBeUndefined();
        expect(refused.headers['content-type']).toBe('text/html; charset=utf-8');
        expect(refused.body).toContain('This sign-in link was opened too many times.');
      }
      const burst = await Promise.all(Array.from({ length: 15 }, () => rawRequest(started.authorizeUrl)));
      expect(burst.map((r) => r.status)).toEqual(Array(15).fill(429));
      expect(await pds.pushedRequests()).toBe(before + 1 + RENEWALS);
      const row = await airlock.database.db.selectFrom('logins').select(['par_renewals', 'status']).executeTakeFirstOrThrow();
      expect(row).toEqual({ par_renewals: RENEWALS, status: 'pending' });

      // The app was told nothing but "browser opened"; the browser that holds a request finishes the login.
      expect(stream.cases()).toEqual(['pending', 'browserOpened']);
      const page = await deliverCallback(await decideViaApi(lastBrowser, account));
      expect(page.status).toBe(200);
      expect((await stream.next('completed')).session!.did).toBe(account.did);
    } finally {
      clients.close();
      await airlock.close();
    }
  });
});

it('a new login starts with fresh renewals', async () => {
  const airlock = await startOn('SQLite');
  const clients = clientsFor(airlock.grpcTarget);
  try {
    const spent = await initiateLogin(clients.auth, account.handle);
    for (let i = 0; i <= RENEWALS; i++) expect((await rawRequest(spent.authorizeUrl)).status).toBe(302);
    expect((await rawRequest(spent.authorizeUrl)).status).toBe(429);
    const fresh = await initiateLogin(clients.auth, account.handle);
    for (let i = 0; i <= RENEWALS; i++) expect((await rawRequest(fresh.authorizeUrl)).status).toBe(302);
  } finally {
    clients.close();
    await airlock.close();
  }
});
