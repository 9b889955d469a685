// What the channels capability does when the server starts: a bad catalog
// stops it with one line before anything is opened, the development LiveKit
// credentials are warned about (and refused in production), and the real
// server process comes up on the embedded default catalog.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadSettings } from '../../server/config/load.ts';
import { REPO_ROOT, startChild, startInProcess, type ChildAirlock } from '../support/airlock.ts';
import { tempDir } from '../support/settings.ts';

const WARN = 40;
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function scratch(): string {
  const dir = tempDir('airlock-channels-start-');
  cleanups.push(() => dir.remove());
  return dir.path;
}

async function child(env: Record<string, string>): Promise<ChildAirlock> {
  const started = await startChild({ AIRLOCK_DATA_DIR: path.join(scratch(), 'data'), ...env });
  cleanups.push(() => started.stop());
  return started;
}

/** Runs the server process to its exit; for starts that must fail. */
async function runToExit(env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const proc = spawn(process.execPath, [path.join(REPO_ROOT, 'server/main.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, AIRLOCK_GRPC_ADDRESS: '127.0.0.1:0', AIRLOCK_HTTP_ADDRESS: '127.0.0.1:0', AIRLOCK_LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
  const [code] = (await once(proc, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stderr, stdout };
}

describe('a bad catalog', () => {
  it('stops the server process with exit 2 and one line naming the entry, before the data directory is created', async () => {
    const dir = scratch();
    const catalog = path.join(dir, 'channels.json');
    writeFileSync(
      catalog,
      JSON.stringify({
        channels: [
          { id: 'lobby', name: 'Lobby', join: 'signed-in', permissions: { publish: true, subscribe: true, publishData: true } },
          { id: 'stage', name: 'Stage', join: 'signed-in', permissions: { publish: true, subscribe: true, publishData: true } },
          { id: 'ops', name: 'Ops', join: ['did:plc:not-a-did'], permissions: { publish: true, subscribe: true, publishData: true } },
        ],
      }),
    );
    const dataDir = path.join(dir, 'data');
    const result = await runToExit({ AIRLOCK_CHANNELS_FILE: catalog, AIRLOCK_DATA_DIR: dataDir });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'airlock: invalid AIRLOCK_CHANNELS_FILE (--channels-file): channels[2] ("ops"): join[0]: "did:plc:not-a-did" is not a DID a user can sign in with (did:plc:<24 characters of a-z and 2-7> or did:web:<hostname>)\n',
    );
    expect(result.stdout).not.toContain('airlock is serving');
    expect(existsSync(dataDir)).toBe(false);
  });

  it('an unreadable catalog file stops an in-process start with a ConfigError', async () => {
    const missing = path.join(scratch(), 'nope.json');
    await expect(startInProcess({ AIRLOCK_CHANNELS_FILE: missing })).rejects.toThrow(
      new ConfigError(`invalid AIRLOCK_CHANNELS_FILE (--channels-file): cannot read ${missing} (ENOENT)`),
    );
  });

  it('a channel token TTL under one second stops the start', async () => {
    await expect(startInProcess({ AIRLOCK_CHANNEL_TOKEN_TTL: '500ms' })).rejects.toBeInstanceOf(ConfigError);
    await expect(startInProcess({ AIRLOCK_CHANNEL_TOKEN_TTL: '500ms' })).rejects.toThrow(
      'invalid AIRLOCK_CHANNEL_TOKEN_TTL (--channel-token-ttl): must be at least 1s',
    );
  });
});

describe('LiveKit credentials', () => {
  it('the development defaults start with a warning that names the settings to change', async () => {
    const server = await child({});
    const warnings = server.logs.filter((entry) => entry.level === WARN && String(entry.msg).includes('LiveKit development credentials'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toContain('AIRLOCK_LIVEKIT_API_KEY');
    expect(warnings[0]!.livekitUrl).toBe('ws://localhost:7880');
    const loaded = server.logs.find((entry) => entry.msg === 'channel catalog loaded');
    expect(loaded).toMatchObject({ channels: 1, catalog: 'embedded default', ttlSeconds: 60 });
  });

  it('real credentials start without the warning and without the secret in any log line', async () => {
    const secret = 'S3cr3t-that-must-never-be-logged-0123456789abcdef';
    const server = await child({ AIRLOCK_LIVEKIT_API_KEY: 'APIprodkey', AIRLOCK_LIVEKIT_API_SECRET: secret, AIRLOCK_LOG_LEVEL: 'trace' });
    expect(server.logs.some((entry) => String(entry.msg).includes('LiveKit development credentials'))).toBe(false);
    expect(server.logs.some((entry) => entry.msg === 'channel catalog loaded')).toBe(true);
    expect(JSON.stringify(server.logs)).not.toContain(secret);
    expect(server.stderr.join('\n')).not.toContain(secret);
  });

  describe('production mode refuses the development credentials', () => {
    const production = {
      AIRLOCK_MODE: 'production',
      AIRLOCK_PUBLIC_URL: 'https://airlock.example.com',
      AIRLOCK_MASTER_KEY: 'A'.repeat(43),
    };
    const refusal =
      'invalid AIRLOCK_LIVEKIT_API_KEY/AIRLOCK_LIVEKIT_API_SECRET: the development LiveKit credentials are refused in production mode';

    it('both defaults', () => {
      expect(() => loadSettings([], production)).toThrow(new ConfigError(refusal));
    });

    it('the dev key with a real secret, or a real key with the dev secret', () => {
      expect(() => loadSettings([], { ...production, AIRLOCK_LIVEKIT_API_SECRET: 'a-real-secret-0123456789abcdef0123' })).toThrow(
        new ConfigError(refusal),
      );
      expect(() => loadSettings([], { ...production, AIRLOCK_LIVEKIT_API_KEY: 'APIprodkey' })).toThrow(new ConfigError(refusal));
      expect(() => loadSettings(['--livekit-api-key', 'APIprodkey'], production)).toThrow(new ConfigError(refusal));
    });

    it('the server process exits 2 with that one line', async () => {
      const result = await runToExit({ ...production, AIRLOCK_DATA_DIR: path.join(scratch(), 'data') });
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(`airlock: ${refusal}\n`);
    });

    it('real credentials pass this check', () => {
      const { settings } = loadSettings([], {
        ...production,
        AIRLOCK_LIVEKIT_API_KEY: 'APIprodkey',
        AIRLOCK_LIVEKIT_API_SECRET: 'a-real-secret-0123456789abcdef0123',
      });
      expect(settings.livekitApiKey).toBe('APIprodkey');
    });
  });
});
