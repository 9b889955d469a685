// `npm run sandbox` works as printed: a local PDS with a test account and
// Airlock wired to it; a real login with the printed credentials succeeds;
// Ctrl-C stops it cleanly.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { expect, test } from 'vitest';
import { REPO_ROOT } from '../support/airlock.ts';
import { loginViaApi } from '../support/login.ts';

test('the sandbox starts, prints how to sign in, a real login works, and SIGINT stops it', async () => {
  const child = spawn(
    process.execPath,
    [path.join(REPO_ROOT, 'scripts/sandbox.ts'), '--grpc-address', '127.0.0.1:0', '--http-address', '127.0.0.1:0'],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, AIRLOCK_LOG_FORMAT: 'json', AIRLOCK_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit');
  try {
    const started = Date.now();
    while (!stdout.includes('Press Ctrl-C to stop')) {
      if (child.exitCode !== null) throw new Error(`sandbox exited: ${stderr}`);
      if (Date.now() - started > 60_000) throw new Error(`sandbox did not start: ${stdout}\n${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const grpcTarget = /Airlock gRPC\s+(\S+)/.exec(stdout)![1]!;
    const handle = /Test account\s+(\S+)/.exec(stdout)![1]!;
    const password = /Password\s+(\S+)/.exec(stdout)![1]!;
    expect(stdout).toContain(`npx airlock login ${handle} --server http://${grpcTarget}`);

    const session = await loginViaApi({ grpcTarget }, { handle, password, did: '', email: '' }, {});
    expect(session.handle).toBe(handle);
    expect(session.did).toMatch(/^did:plc:/);
  } finally {
    child.kill('SIGINT');
    const [code] = await exited;
    expect(code).toBe(0);
  }
  expect(stdout).toContain('Stopping the sandbox');
}, 90_000);
