#!/usr/bin/env node
// `npm run sandbox`: the whole login, offline. Starts a local PLC directory
// and PDS (@atproto/dev-env) with a test account, and Airlock wired to them
// in development mode, then prints what to do. Ctrl-C stops everything and
// removes the sandbox's files. Flags and AIRLOCK_* variables still apply
// (e.g. --grpc-address 127.0.0.1:50052).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestNetworkNoAppView } from '@atproto/dev-env';
import { startAirlock, type RunningAirlock } from '../server/app.ts';
import { ConfigError, loadSettings } from '../server/config/load.ts';
import { createLogger } from '../server/observability/logger.ts';

const HANDLE = process.env.SANDBOX_HANDLE ?? 'alice.test';
const PASSWORD = process.env.SANDBOX_PASSWORD ?? `sandbox-${randomBytes(6).toString('hex')}`;

async function main(): Promise<number> {
  // dev-env keeps its databases and blobs under os.tmpdir(): give it its own.
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'airlock-sandbox-'));
  const cleanups: Array<() => Promise<void> | void> = [() => rmSync(scratch, { recursive: true, force: true })];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
  };

  let airlock: RunningAirlock;
  let network: TestNetworkNoAppView;
  try {
    const tmpdir = process.env.TMPDIR;
    process.env.TMPDIR = scratch;
    try {
      network = await TestNetworkNoAppView.create({});
    } finally {
      if (tmpdir === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = tmpdir;
    }
    cleanups.push(() => network.close());
    await network.pds.getAgent().createAccount({ handle: HANDLE, email: `${HANDLE.replace(/\W/g, '-')}@example.com`, password: PASSWORD });

    const { settings, help } = loadSettings(process.argv.slice(2), {
      AIRLOCK_LOG_FORMAT: 'pretty',
      AIRLOCK_DATA_DIR: path.join(scratch, 'airlock-data'),
      ...process.env,
      // What makes it a sandbox: these always point at the local network.
      AIRLOCK_MODE: 'development',
      AIRLOCK_ALLOW_HTTP: 'true',
      AIRLOCK_PLC_URL: network.plc.url,
      AIRLOCK_HANDLE_RESOLVER_URL: network.pds.url,
    });
    if (help) {
      process.stdout.write('Usage: npm run sandbox [-- --setting value ...]  (see `npm start -- --help` for settings)\n');
      await stop();
      return 0;
    }
    airlock = await startAirlock(settings, createLogger(settings));
    cleanups.push(() => airlock.stop(1_000));
  } catch (error) {
    await stop();
    if (error instanceof ConfigError) {
      process.stderr.write(`sandbox: ${error.message}\n`);
      return 2;
    }
    throw error;
  }

  const grpc = `127.0.0.1:${airlock.grpcPort}`;
  process.stdout.write(`
Airlock sandbox is running (everything local, nothing leaves this machine).

  PDS + authorization server  ${network.pds.url}
  PLC directory               ${network.plc.url}
  Airlock gRPC                ${grpc}
  Airlock HTTP                ${airlock.publicUrl}

  Test account                ${HANDLE}
  Password                    ${PASSWORD}

Try it:
  1. In another terminal, sign in with the CLI (it opens your browser):
       npx airlock login ${HANDLE} --server http://${grpc}
  2. At the PDS page, enter the password above and press "Authorize".
  3. The browser shows "Signed in as @${HANDLE}." and the CLI prints the session:
       npx airlock whoami
       npx airlock channels
  Or from your own app: InitiateLogin on ${grpc} with identifier "${HANDLE}", open
  the authorize_url it returns, and hold AwaitLogin open.

Press Ctrl-C to stop; the sandbox's data is removed.
`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = () => {
      if (stopping) return;
      stopping = true;
      process.stdout.write('\nStopping the sandbox...\n');
      stop().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`sandbox: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
