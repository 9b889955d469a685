// Several processes on one session file (issue 16): they refresh the same
// token at the same moment. Without the cross-process lock each refreshes
// the token it read, the server counts the second as reuse and revokes the
// session for all. With it, one refreshes and the others re-read after
// taking the lock and use the rotated token.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSessionFile, FileStore } from '../../client/storage/file-store.ts';
import { REPO_ROOT } from '../support/airlock.ts';
import { tempDir } from '../support/settings.ts';
import type { SessionChange } from '../../client/airlock-client.ts';
import { approve, startLoginWorld, type LoginWorld } from './fixtures.ts';

let world: LoginWorld;
const dir = tempDir('airlock-cross-process-');

beforeAll(async () => {
  world = await startLoginWorld({ AIRLOCK_ACCESS_TOKEN_TTL: '4s', AIRLOCK_CLOCK_TOLERANCE: '0s' });
});

afterAll(async () => {
  await world?.stop();
  dir.remove();
});

interface Child {
  process: ChildProcessWithoutNullStreams;
  next(): Promise<string>;
}

function startChild(file: string): Child {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'test/support/whoami-child.ts'), file], { cwd: REPO_ROOT });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    process: child,
    async next() {
      const { value, done } = await lines.next();
      if (done) throw new Error('the child process ended early');
      return value;
    },
  };
}

describe('two processes, one session file', () => {
  it('refreshing at the same moment in several processes signs nobody out', async () => {
    const file = path.join(dir.path, 'session.json');
    const { account } = await world.signedInClient({ store: new FileStore(file) });
    const children = [startChild(file), startChild(file), startChild(file)];
    try {
      for (const child of children) expect(await child.next()).toBe('ready');
      for (let round = 0; round < 2; round++) {
        // Wait until the access token needs a refresh (it lives 4 s; refreshed at half its life).
        await new Promise((resolve) => setTimeout(resolve, 2_500));
        for (const child of children) child.process.stdin.write('go\n');
        const answers = await Promise.all(
          children.map(async (child) => JSON.parse(await child.next()) as { ok: boolean; did?: string; error?: string }),
        );
        for (const answer of answers) expect(answer).toEqual({ ok: true, did: account.did });
      }
      expect(statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      for (const child of children) child.process.kill();
    }
  }, 60_000);
});

describe('session-change events', () => {
  it('tell the app of sign-in, refresh and sign-out (and why)', async () => {
    const client = world.newClient();
    const changes: SessionChange[] = [];
    client.onSessionChange((change) => changes.push(change));
    const account = await world.pds.createAccount();
    const session = await client.login(account.handle, { openUrl: (url) => approve(url, account) });
    expect(changes).toEqual([{ type: 'signed-in', session }]);
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // the 4 s access token now needs a refresh
    await client.whoAmI();
    expect(changes[1]).toMatchObject({ type: 'refreshed', session: { sessionId: session.sessionId, did: account.did } });
    await client.logout();
    expect(changes.at(-1)).toEqual({ type: 'signed-out', reason: 'LOGOUT' });
    expect(changes).toHaveLength(3);
  });
});

describe('default store path', () => {
  it('each app id gets its own session file; the CLI keeps the plain one', () => {
    const cli = defaultSessionFile();
    const app = defaultSessionFile('com.example.chat');
    expect(path.basename(cli)).toBe('session.json');
    expect(app).toBe(path.join(path.dirname(cli), 'apps', 'com.example.chat', 'session.json'));
    expect(defaultSessionFile('org.other')).not.toBe(app);
    expect(() => defaultSessionFile('../escape')).toThrow(/invalid app id/);
  });
});
