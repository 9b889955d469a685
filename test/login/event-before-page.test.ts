// The app hears first: the stream's completed (or failed) event reaches the
// app before the browser has the callback's page, so the app can take over
// the screen while the user still looks at the browser. Checked as an order
// of arrival at two real clients of a server in its own process, in several
// rounds, never as a time.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startChild, type ChildAirlock } from '../support/airlock.ts';
import { decideViaApi, deliverCallback, openAuthorizePage } from '../support/consent.ts';
import { clientsFor } from '../support/grpc.ts';
import { awaitLogin, initiateLogin } from '../support/login.ts';
import { startPds, type TestAccount, type TestPds } from '../support/pds.ts';
import { tempDir } from '../support/settings.ts';

let pds: TestPds;
let account: TestAccount;
let server: ChildAirlock;
let clients: ReturnType<typeof clientsFor>;
const dataDir = tempDir();

beforeAll(async () => {
  pds = await startPds();
  account = await pds.createAccount();
  server = await startChild({ ...pds.airlockEnv(), AIRLOCK_DATA_DIR: dataDir.path, AIRLOCK_LOGIN_RATE_PER_MINUTE: '1000' });
  clients = clientsFor(server.grpcTarget);
});

afterAll(async () => {
  clients?.close();
  await server?.stop();
  await pds?.stop();
  dataDir.remove();
});

async function orderOf(decision: 'approve' | 'deny', streams: number): Promise<string[]> {
  const started = await initiateLogin(clients.auth, account.handle);
  const order: string[] = [];
  const watching = Array.from({ length: streams }, (_, i) => {
    const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
    stream.call.on('data', (e: { event?: { $case: string } }) => {
      if (e.event?.$case === 'completed' || e.event?.$case === 'failed') order.push(`stream ${i}: ${e.event.$case}`);
    });
    return stream;
  });
  await Promise.all(watching.map((s) => s.next('pending')));
  const callbackUrl = await decideViaApi(await openAuthorizePage(started.authorizeUrl), account, decision);
  const page = await deliverCallback(callbackUrl);
  order.push(`page ${page.status}`);
  await Promise.all(watching.map((s) => s.end));
  return order;
}

test('every stream of the login has its completed event before the browser has the whole callback page', async () => {
  for (let round = 0; round < 5; round++) {
    const order = await orderOf('approve', 2);
    // Both streams before the page; between the two streams no order is promised (each unseals the result on its own).
    expect(order.slice(0, 2).sort()).toEqual(['stream 0: completed', 'stream 1: completed']);
    expect(order[2]).toBe('page 200');
  }
});

test('a denied login: the failed event comes before the page too', async () => {
  for (let round = 0; round < 3; round++) {
    const order = await orderOf('deny', 1);
    expect(order[0]).toBe('stream 0: failed');
    expect(order[1]).toMatch(/^page \d+$/);
  }
});
