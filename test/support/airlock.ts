// Starts a real Airlock server for a test: in this process (fast, lets a
// test reach the domain) or as a child process (for signals, crashes and
// several replicas). Both listen on real sockets.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import readline from 'node:readline';
import { startAirlock, type RunningAirlock } from '../../server/app.ts';
import { createLogger } from '../../server/observability/logger.ts';
import { tempDir, testSettings, withSharedMasterKey } from './settings.ts';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

export interface InProcessAirlock extends RunningAirlock {
  grpcTarget: string;
  dataDir: string;
  close(): Promise<void>;
}

/** Starts Airlock in this process with a fresh data directory unless one is given. */
export async function startInProcess(env: Record<string, string> = {}): Promise<InProcessAirlock> {
  const dir = env.AIRLOCK_DATA_DIR ? undefined : tempDir();
  const settings = testSettings({ AIRLOCK_DATA_DIR: dir?.path ?? env.AIRLOCK_DATA_DIR!, ...env });
  const running = await startAirlock(settings, createLogger(settings));
  return Object.assign(running, {
    grpcTarget: `127.0.0.1:${running.grpcPort}`,
    dataDir: settings.dataDir,
    async close() {
      await running.stop(1_000);
      dir?.remove();
    },
  });
}

export interface ChildAirlock {
  process: ChildProcess;
  grpcPort: number;
  httpPort: number;
  /** The admin listener's port, when AIRLOCK_ADMIN_ADDRESS is set. */
  adminPort?: number;
  grpcTarget: string;
  /** Every JSON log line the child wrote so far. */
  logs: Array<Record<string, unknown>>;
  stderr: string[];
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `node server/main.ts` as a child process and waits until it serves. */
export async function startChild(env: Record<string, string> = {}, args: string[] = []): Promise<ChildAirlock> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'server/main.ts'), ...args], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      AIRLOCK_GRPC_ADDRESS: '127.0.0.1:0',
      AIRLOCK_HTTP_ADDRESS: '127.0.0.1:0',
      AIRLOCK_LOG_FORMAT: 'json',
      AIRLOCK_LOG_LEVEL: 'info',
      ...withSharedMasterKey(env),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const stderr: string[] = [];
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  readline.createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const serving = new Promise<{ grpcPort: number; httpPort: number; adminPort?: number }>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'airlock is serving')
          resolve({
            grpcPort: Number(entry.grpcPort),
            httpPort: Number(entry.httpPort),
            ...(entry.adminPort === undefined ? {} : { adminPort: Number(entry.adminPort) }),
          });
      } catch {
        /* not a log line */
      }
    });
    void exited.then((code) => reject(new Error(`server exited with ${code} before serving: ${stderr.join('\n')}`)));
  });
  const { grpcPort, httpPort, adminPort } = await serving;
  return {
    process: child,
    grpcPort,
    httpPort,
    ...(adminPort === undefined ? {} : { adminPort }),
    grpcTarget: `127.0.0.1:${grpcPort}`,
    logs,
    stderr,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
