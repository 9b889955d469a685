// One user signing in on three devices at once, on PostgreSQL: the three
// OAuth callbacks run concurrently (the PDS's token answers are held until
// all three are in the code exchange, then let go together). Every login
// completes, each Airlock session keeps its own upstream ATProto session
// (the PDS holds one grant per device), and logging out one device leaves
// the others signed in, upstream too.
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from '../../proto/gen/airlock/auth/v1/auth.ts';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { decideViaApi, deliverCallback, openAuthorizePage } from '../support/consent.ts';
import { call, clientsFor, grpcFailure } from '../support/grpc.ts';
import { awaitLogin, initiateLogin } from '../support/login.ts';
import { holdPdsAnswers, tokenRequests } from '../support/pds-hold.ts';
import { startPds, type TestPds } from '../support/pds.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';

let pds: TestPds;
let database: TestDatabase;
let server: InProcessAirlock;
let clients: ReturnType<typeof clientsFor>;

beforeAll(async () => {
  pds = await startPds();
  database = await createTestDatabase();
  server = await startInProcess({ ...pds.airlockEnv(), AIRLOCK_DATABASE_URL: database.url, AIRLOCK_LOGIN_RATE_PER_MINUTE: '1000' });
  clients = clientsFor(server.grpcTarget);
});

afterAll(async () => {
  clients?.close();
  await server?.close();
  await database?.drop();
  await pds?.stop();
});

const refresh = (refreshToken: string) => call(clients.auth, clients.auth.refreshSession, { refreshToken });

describe('one account on three devices at once', () => {
  it.each([1, 2, 3])(
    'round %i: all three concurrent logins complete, each with its own upstream session; one logout leaves the others',
    async () => {
      const account = await pds.createAccount();
      // Three devices start a login each and the user approves all three.
      const devices = [];
      for (let i = 0; i < 3; i += 1) {
        const started = await initiateLogin(clients.auth, account.handle);
        const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
        await stream.next('pending');
        const callbackUrl = await decideViaApi(await openAuthorizePage(started.authorizeUrl), account);
        devices.push({ stream, callbackUrl });
      }
      const hold = holdPdsAnswers(pds, tokenRequests);
      let pages: Array<Awaited<ReturnType<typeof deliverCallback>>>;
      try {
        const delivered = devices.map((d) => deliverCallback(d.callbackUrl));
        await hold.held(3);
        hold.release();
        pages = await Promise.all(delivered);
      } finally {
        hold.dispose();
      }
      for (const page of pages) {
        expect(page.status, page.body).toBe(200);
        expect(page.body).toContain(`Signed in as @${account.handle}.`);
      }
      const sessions: Session[] = [];
      for (const d of devices) sessions.push((await d.stream.next('completed')).session!);
      expect(new Set(sessions.map((s) => s.sessionId)).size).toBe(3);
      for (const s of sessions) expect(s.did).toBe(account.did);

      // One grant per device at the PDS: no callback revoked another's.
      expect(await pds.grantsOf(account.did)).toBe(3);
      // Each refresh checks that device's own upstream session at the PDS.
      const refreshed = await Promise.all(sessions.map((s) => refresh(s.refreshToken)));

      // Device 0 signs out: its grant goes, the others keep theirs and keep refreshing.
      await call(clients.auth, clients.auth.logout, { refreshToken: refreshed[0]!.session!.refreshToken });
      expect(await pds.grantsOf(account.did)).toBe(2);
      for (const r of refreshed.slice(1)) expect((await refresh(r.session!.refreshToken)).session!.did).toBe(account.did);
      const gone = await grpcFailure(refresh(refreshed[0]!.session!.refreshToken));
      expect(gone.code).toBe(status.UNAUTHENTICATED);
      expect(gone.reason).toBe('SESSION_REVOKED');
    },
  );
});
