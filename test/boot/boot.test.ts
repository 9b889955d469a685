// The server process as an operator runs it: `node server/main.ts` on free
// ports, health over a real socket, bad settings refused with one line.
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthCheckResponse_ServingStatus, type HealthCheckResponse } from '../../proto/gen/grpc/health/v1/health.ts';
import { REPO_ROOT, startChild, type ChildAirlock } from '../support/airlock.ts';
import { call, clientsFor } from '../support/grpc.ts';
import { tempDir } from '../support/settings.ts';

const run = promisify(execFile);
const MAIN = path.join(REPO_ROOT, 'server/main.ts');

/** Runs the server with arguments that must make it refuse to start. */
async function refused(args: string[], env: Record<string, string> = {}) {
  try {
    await run(process.execPath, [MAIN, ...args], {
      env: { ...process.env, AIRLOCK_GRPC_ADDRESS: '127.0.0.1:0', AIRLOCK_HTTP_ADDRESS: '127.0.0.1:0', ...env },
      timeout: 15_000,
    });
  } catch (error) {
    const e = error as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
  throw new Error('the server started');
}

describe('server process', () => {
  const data = tempDir();
  let server: ChildAirlock;
  beforeAll(async () => {
    server = await startChild({ AIRLOCK_DATA_DIR: data.path });
  });
  afterAll(async () => {
    await server.stop();
    data.remove();
  });

  it('serves health SERVING for the server and each Airlock service', async () => {
    const clients = clientsFor(server.grpcTarget);
    for (const service of ['', 'airlock.auth.v1.AuthService', 'airlock.channels.v1.ChannelsService']) {
      const response: HealthCheckResponse = await call(clients.health, clients.health.check, { service });
      expect(response.status, service).toBe(HealthCheckResponse_ServingStatus.SERVING);
    }
    const unknown = await call(clients.health, clients.health.check, { service: 'no.Such' }).catch((e: ServiceError) => e);
    expect((unknown as ServiceError).code).toBe(status.NOT_FOUND);
    clients.close();
  });

  it('logs one line per RPC with method, status and duration', async () => {
    const clients = clientsFor(server.grpcTarget);
    await call(clients.health, clients.health.check, { service: '' });
    clients.close();
    await expect
      .poll(() => server.logs.find((l) => l.msg === 'rpc' && l.method === '/grpc.health.v1.Health/Check'))
      .toMatchObject({
        status: 'OK',
        durationMs: expect.any(Number),
      });
  });

  it('serves the HTTP listener', async () => {
    const response = await fetch(`http://127.0.0.1:${server.httpPort}/healthz`);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    // Development is plain http on loopback: no HSTS that would pin a browser to https.
    expect(response.headers.get('strict-transport-security')).toBeNull();
  });

  it('sends HSTS on every page in production', async () => {
    const dir = tempDir();
    const production = await startChild({
      AIRLOCK_DATA_DIR: dir.path,
      AIRLOCK_MODE: 'production',
      AIRLOCK_PUBLIC_URL: 'https://airlock.example-app.dev',
      AIRLOCK_LIVEKIT_API_KEY: 'prod-key',
      AIRLOCK_LIVEKIT_API_SECRET: 'prod-secret-of-enough-length-for-livekit',
      AIRLOCK_MASTER_KEY: randomBytes(32).toString('base64'),
    });
    try {
      for (const page of ['/healthz', '/.well-known/jwks.json', '/oauth/callback?state=x', '/no-such-page']) {
        const response = await fetch(`http://127.0.0.1:${production.httpPort}${page}`);
        expect(response.headers.get('strict-transport-security'), page).toBe('max-age=63072000; includeSubDomains');
      }
    } finally {
      await production.stop();
      dir.remove();
    }
  });

  it('prints --help and exits 0', async () => {
    const { stdout } = await run(process.execPath, [MAIN, '--help']);
    expect(stdout).toContain('AIRLOCK_GRPC_ADDRESS');
    expect(stdout).toContain('--http-address');
  });
});

describe('bad settings stop the server with one line naming the setting', () => {
  it('an unparsable URL', async () => {
    const { code, stderr } = await refused([], { AIRLOCK_LIVEKIT_URL: 'not a url' });
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('AIRLOCK_LIVEKIT_URL');
  });

  it('an unknown flag', async () => {
    const { code, stderr } = await refused(['--no-such-flag', 'x']);
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a bad duration given as a flag', async () => {
    const { code, stderr } = await refused(['--login-ttl', 'soon']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/AIRLOCK_LOGIN_TTL \(--login-ttl\): "soon" is not a duration/);
  });

  it('a port in use', async () => {
    const blocker = net.createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as net.AddressInfo).port;
    const data = tempDir();
    try {
      const { code, stderr } = await refused([], { AIRLOCK_GRPC_ADDRESS: `127.0.0.1:${port}`, AIRLOCK_DATA_DIR: data.path });
      expect(code).toBe(2);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toContain('AIRLOCK_GRPC_ADDRESS');
    } finally {
      blocker.close();
      data.remove();
    }
  });

  it('an unusable data directory', async () => {
    const data = tempDir();
    const file = path.join(data.path, 'a-file');
    writeFileSync(file, 'not a directory');
    try {
      const { code, stderr } = await refused([], { AIRLOCK_DATA_DIR: file });
      expect(code).toBe(2);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toContain('AIRLOCK_DATA_DIR');
    } finally {
      data.remove();
    }
  });

  it('allow-http in production mode', async () => {
    const { code, stderr } = await refused([], {
      AIRLOCK_MODE: 'production',
      AIRLOCK_ALLOW_HTTP: 'true',
      AIRLOCK_PUBLIC_URL: 'https://airlock.example.com',
      AIRLOCK_LIVEKIT_API_KEY: 'k',
      AIRLOCK_LIVEKIT_API_SECRET: 's'.repeat(32),
    });
    expect(code).toBe(2);
    expect(stderr).toContain('AIRLOCK_ALLOW_HTTP');
  });
});
