// A login stream dropped by a server restart is re-attached and the login
// completes. The server is a real child process (node server/main.ts),
// stopped and started again on the same data directory and ports while the
// client is waiting, once gracefully (SIGTERM: streams end UNAVAILABLE) and
// once as a crash (SIGKILL: the connection just drops).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AirlockClient, type LoginProgress } from '../../client/airlock-client.ts';
import { MemoryStore } from '../../client/storage/memory-store.ts';
import { startChild, type ChildAirlock } from '../support/airlock.ts';
import { startPds, type TestPds } from '../support/pds.ts';
import { tempDir } from '../support/settings.ts';
import { approve } from './fixtures.ts';

let pds: TestPds;

beforeAll(async () => {
  pds = await startPds();
});

afterAll(async () => {
  await pds?.stop();
});

function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (check()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(poll, 20);
    };
    poll();
  });
}

describe('awaitLogin across a server restart', () => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`re-attaches after the server is stopped with ${signal} and started again, and the login completes`, async () => {
      const dir = tempDir('airlock-client-restart-');
      const env = { ...pds.airlockEnv(), AIRLOCK_DATA_DIR: dir.path, AIRLOCK_SHUTDOWN_GRACE: '1s' };
      let server: ChildAirlock | undefined;
      const client = new AirlockClient({ store: new MemoryStore(), backoff: { initialMs: 100, maxMs: 400 } });
      try {
        server = await startChild(env);
        // The restarted server must be reachable where the first one was: same ports.
        const fixed = {
          ...env,
          AIRLOCK_GRPC_ADDRESS: `127.0.0.1:${server.grpcPort}`,
          AIRLOCK_HTTP_ADDRESS: `127.0.0.1:${server.httpPort}`,
        };
        const account = await pds.createAccount();
        const started = await client.startLogin(`http://${server.grpcTarget}`, account.handle);

        const events: LoginProgress[] = [];
        const count = (type: LoginProgress['type']) => events.filter((e) => e.type === type).length;
        const done = client.awaitLogin(started.loginId, { onProgress: (p) => events.push(p) });
        done.catch(() => {}); // observed below
        await until(() => count('pending') === 1, 'the first pending event');

        await server.stop(signal);
        // The client notices and keeps trying while nothing listens.
        await until(() => count('reconnecting') >= 2, 'failed re-attaches while the server is down');

        server = await startChild(fixed);
        await until(() => count('pending') >= 2, 'the re-attached stream');

        await approve(started.authorizeUrl, account);
        const session = await done;
        expect(session).toMatchObject({ did: account.did, handle: account.handle });
        expect((await client.whoAmI()).did).toBe(account.did);
        const reconnecting = events.filter((e) => e.type === 'reconnecting');
        expect(reconnecting.length).toBeGreaterThanOrEqual(2);
      } finally {
        client.close();
        await server?.stop();
        dir.remove();
      }
    });
  }
});
