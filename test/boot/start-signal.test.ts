// A stop signal while the server is still starting ends it at once with the
// shell's code (128 + signal), not by the OS default: the handler is there
// from the start, so the same handler drains once it serves. Start is held
// at the database by a real socket that accepts and never answers.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/airlock.ts';
import { TEST_MASTER_KEY, tempDir } from '../support/settings.ts';

const dir = tempDir('airlock-start-signal-');
const silent = net.createServer(() => {
  /* accepts, never speaks PostgreSQL */
});
let port = 0;

beforeAll(async () => {
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  port = (silent.address() as net.AddressInfo).port;
});

afterAll(async () => {
  silent.close();
  dir.remove();
});

it('exits 143 on a SIGTERM that arrives while starting', async () => {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'server/main.ts')], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      AIRLOCK_GRPC_ADDRESS: '127.0.0.1:0',
      AIRLOCK_HTTP_ADDRESS: '127.0.0.1:0',
      AIRLOCK_LOG_FORMAT: 'json',
      AIRLOCK_DATA_DIR: dir.path,
      AIRLOCK_MASTER_KEY: TEST_MASTER_KEY,
      AIRLOCK_DATABASE_URL: `postgres://airlock@127.0.0.1:${port}/airlock`,
      AIRLOCK_DATABASE_CONNECT_TIMEOUT: '10m',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const lines: string[] = [];
  // The first log line of start: the process is past its settings and inside startAirlock, waiting for the database.
  await new Promise<void>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      if (line.includes('"msg":"channel catalog loaded"')) resolve();
    });
    void exited.then(() => reject(new Error(`exited before starting: ${lines.join('\n')}`)));
  });
  child.kill('SIGTERM');
  const [code, signal] = await exited;
  expect({ code, signal }).toEqual({ code: 143, signal: null });
  expect(lines.some((line) => line.includes('airlock is serving'))).toBe(false);
});
