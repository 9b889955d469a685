// Nothing secret of a login reaches the server's logs: not the login id,
// the verifier, the link ref, the OAuth code or state, nor the tokens.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startChild, type ChildAirlock } from '../support/airlock.ts';
import { consentViaApi } from '../support/consent.ts';
import { clientsFor } from '../support/grpc.ts';
import { awaitLogin, initiateLogin } from '../support/login.ts';
import { startPds, type TestAccount, type TestPds } from '../support/pds.ts';
import { tempDir } from '../support/settings.ts';

let pds: TestPds;
let account: TestAccount;
let server: ChildAirlock;
const dataDir = tempDir();

beforeAll(async () => {
  pds = await startPds();
  account = await pds.createAccount();
  server = await startChild({ ...pds.airlockEnv(), AIRLOCK_DATA_DIR: dataDir.path, AIRLOCK_LOG_LEVEL: 'trace' });
});

afterAll(async () => {
  await server?.stop();
  await pds?.stop();
  dataDir.remove();
});

test('a full login (and a replayed callback) logs no secret', async () => {
  const clients = clientsFor(server.grpcTarget);
  try {
    const started = await initiateLogin(clients.auth, account.handle);
    const stream = awaitLogin(clients.auth, started.loginId, started.verifier);
    const { callbackUrl } = await consentViaApi(started.authorizeUrl, account);
    const session = (await stream.next('completed')).session!;
    await consentViaApi(started.authorizeUrl, account).catch(() => {});
    await fetch(callbackUrl).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 300));

    const callback = new URL(callbackUrl);
    const secrets = {
      loginId: started.loginId,
      verifier: started.verifier,
      linkRef: started.authorizeUrl.split('/login/')[1]!,
      code: callback.searchParams.get('code')!,
      state: callback.searchParams.get('state')!,
      accessToken: session.accessToken,
      refreshToken: session.refreshToken,
      password: account.password,
    };
    const logs = [...server.logs.map((l) => JSON.stringify(l)), ...server.stderr].join('\n');
    expect(logs).toContain('login finished');
    for (const [name, value] of Object.entries(secrets)) expect(logs.includes(value), `${name} appears in the logs`).toBe(false);
  } finally {
    clients.close();
  }
});
