// Restart survival on the embedded default: a login pending while the
// server process is stopped and started again (same SQLite file) still
// completes, and its app re-attaches and gets the session.
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startChild, type ChildAirlock } from '../support/airlock.ts';
import { decideViaApi, deliverCallback, openAuthorizePage } from '../support/consent.ts';
import { clientsFor } from '../support/grpc.ts';
import { awaitLogin, initiateLogin } from '../support/login.ts';
import { startPds, type TestAccount, type TestPds } from '../support/pds.ts';
import { tempDir } from '../support/settings.ts';

let pds: TestPds;
let account: TestAccount;
const dataDir = tempDir('airlock-restart-');
const children: ChildAirlock[] = [];

beforeAll(async () => {
  pds = await startPds();
  account = await pds.createAccount();
});

afterAll(async () => {
  for (const child of children) await child.stop('SIGKILL');
  await pds?.stop();
  dataDir.remove();
});

test('a login pending across a server restart completes, and the app re-attaches to get it', async () => {
  const env = { ...pds.airlockEnv(), AIRLOCK_DATA_DIR: dataDir.path, AIRLOCK_SHUTDOWN_GRACE: '1s' };
  const first = await startChild(env);
  children.push(first);
  const firstClients = clientsFor(first.grpcTarget);
  const started = await initiateLogin(firstClients.auth, account.handle);
  const stream = awaitLogin(firstClients.auth, started.loginId, started.verifier);
  await stream.next('pending');
  // The user has the PDS page open when the server goes down.
  const authorize = await openAuthorizePage(started.authorizeUrl);
  await stream.next('browserOpened');

  expect(await first.stop('SIGTERM')).toBe(0);
  const dropped = await stream.end;
  expect(dropped.code).toBe(status.UNAVAILABLE);
  firstClients.close();

  // Same data directory, same HTTP port (the OAuth redirect URI names it).
  const second = await startChild({ ...env, AIRLOCK_HTTP_ADDRESS: `127.0.0.1:${first.httpPort}` });
  children.push(second);
  const secondClients = clientsFor(second.grpcTarget);
  try {
    const reattached = awaitLogin(secondClients.auth, started.loginId, started.verifier);
    const pending = await reattached.next('pending');
    expect(pending.expiresAt!.getTime()).toBe(started.expiresAt!.getTime());
    await reattached.next('browserOpened');

    const page = await deliverCallback(await decideViaApi(authorize, account));
    expect(page.status).toBe(200);
    expect(page.body).toContain(`Signed in as @${account.handle}.`);
    const completed = await reattached.next('completed');
    expect(completed.session!.did).toBe(account.did);
    expect((await reattached.end).code).toBe(status.OK);
  } finally {
    secondClients.close();
  }
});
