// Production refuses a plaintext listener that another machine can reach,
// unless a setting states that a proxy in front terminates TLS; and the TLS
// settings that only make sense together are checked at start.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLoopbackHost, loadSettings } from '../../server/config/load.ts';
import { REPO_ROOT, startChild } from '../support/airlock.ts';
import { issue, makeCa, type Pem } from '../support/certificates.ts';
import { TEST_MASTER_KEY, tempDir } from '../support/settings.ts';
import { runTool } from '../support/tools.ts';

const dir = tempDir('airlock-tls-rule-');
let leaf: Pem;

beforeAll(async () => {
  leaf = await issue(await makeCa(dir.path, 'ca'), dir.path, 'server');
});

afterAll(() => dir.remove());

const PRODUCTION: Record<string, string> = {
  AIRLOCK_MODE: 'production',
  AIRLOCK_MASTER_KEY: TEST_MASTER_KEY,
  AIRLOCK_LIVEKIT_API_KEY: 'production-key',
  AIRLOCK_LIVEKIT_API_SECRET: 'production-secret-production-secret',
  AIRLOCK_PUBLIC_URL: 'https://airlock.example-app.dev',
  AIRLOCK_GRPC_ADDRESS: '127.0.0.1:0',
  AIRLOCK_HTTP_ADDRESS: '127.0.0.1:0',
};

function load(env: Record<string, string>) {
  return () => loadSettings([], env);
}

describe('production and plaintext', () => {
  it('refuses to start a real server with a plaintext gRPC listener on a non-loopback address, naming the setting and the way out', async () => {
    const result = await runTool(process.execPath, [path.join(REPO_ROOT, 'server/main.ts')], {
      env: { ...PRODUCTION, AIRLOCK_GRPC_ADDRESS: '0.0.0.0:0', AIRLOCK_DATA_DIR: path.join(dir.path, 'refused') },
      timeoutMs: 30_000,
    });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      'airlock: invalid AIRLOCK_GRPC_ADDRESS (--grpc-address): production mode refuses a plaintext grpc listener on 0.0.0.0, a non-loopback address: set AIRLOCK_TLS_CERT_FILE and AIRLOCK_TLS_KEY_FILE, or AIRLOCK_TLS_TERMINATED_BY_PROXY=true when a proxy in front terminates TLS',
    );
  });

  it('starts a real production server on a non-loopback address when its listeners serve TLS', async () => {
    const server = await startChild({
      ...PRODUCTION,
      AIRLOCK_GRPC_ADDRESS: '0.0.0.0:0',
      AIRLOCK_HTTP_ADDRESS: '0.0.0.0:0',
      AIRLOCK_TLS_CERT_FILE: leaf.certFile,
      AIRLOCK_TLS_KEY_FILE: leaf.keyFile,
      AIRLOCK_DATA_DIR: path.join(dir.path, 'served'),
    });
    try {
      const serving = server.logs.find((line) => line.msg === 'airlock is serving');
      expect(serving).toMatchObject({ mode: 'production', tls: { listeners: ['grpc', 'http'], serialNumber: leaf.serialNumber } });
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('checks every listener, and accepts plaintext on loopback or behind a TLS-terminating proxy', () => {
    expect(load({ ...PRODUCTION, AIRLOCK_HTTP_ADDRESS: '10.0.0.5:8080' })).toThrow(
      /^invalid AIRLOCK_HTTP_ADDRESS \(--http-address\): production mode refuses a plaintext http listener on 10\.0\.0\.5/,
    );
    expect(load({ ...PRODUCTION, AIRLOCK_ADMIN_ADDRESS: '[::]:9464' })).toThrow(
      /^invalid AIRLOCK_ADMIN_ADDRESS .*plaintext admin listener on ::/,
    );
    // TLS on gRPC only: the HTTP listener on a public address is still plaintext.
    expect(
      load({
        ...PRODUCTION,
        AIRLOCK_HTTP_ADDRESS: '0.0.0.0:8080',
        AIRLOCK_TLS_CERT_FILE: leaf.certFile,
        AIRLOCK_TLS_KEY_FILE: leaf.keyFile,
        AIRLOCK_TLS_LISTENERS: 'grpc',
      }),
    ).toThrow(/plaintext http listener/);
    expect(
      load({
        ...PRODUCTION,
        AIRLOCK_GRPC_ADDRESS: '0.0.0.0:50051',
        AIRLOCK_HTTP_ADDRESS: '0.0.0.0:8080',
        AIRLOCK_TLS_TERMINATED_BY_PROXY: 'true',
      }),
    ).not.toThrow();
    expect(load({ ...PRODUCTION, AIRLOCK_GRPC_ADDRESS: '[::1]:50051', AIRLOCK_HTTP_ADDRESS: 'localhost:8080' })).not.toThrow();
    // Development allows it (a developer's LAN).
    expect(load({ AIRLOCK_GRPC_ADDRESS: '0.0.0.0:50051' })).not.toThrow();
  });

  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.0.0.1', false],
    ['airlock.internal', false],
  ])('isLoopbackHost(%s) is %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});

describe('TLS settings that go together', () => {
  const tls = () => ({ AIRLOCK_TLS_CERT_FILE: leaf.certFile, AIRLOCK_TLS_KEY_FILE: leaf.keyFile });

  it('wants the certificate and its key together', () => {
    expect(load({ AIRLOCK_TLS_CERT_FILE: leaf.certFile })).toThrow(
      'invalid AIRLOCK_TLS_CERT_FILE/AIRLOCK_TLS_KEY_FILE: set both the certificate and its private key, or neither',
    );
  });

  it('wants TLS for a client CA, and TLS on every listener that requires client certificates', () => {
    expect(load({ AIRLOCK_TLS_CLIENT_CA_FILE: leaf.certFile })).toThrow(
      /^invalid AIRLOCK_TLS_CLIENT_CA_FILE .*client certificates need TLS/,
    );
    expect(
      load({
        ...tls(),
        AIRLOCK_TLS_LISTENERS: 'grpc',
        AIRLOCK_TLS_CLIENT_CA_FILE: leaf.certFile,
        AIRLOCK_TLS_CLIENT_AUTH_LISTENERS: 'grpc,admin',
      }),
    ).toThrow(/^invalid AIRLOCK_TLS_CLIENT_AUTH_LISTENERS .*admin requires client certificates but does not serve TLS/);
    expect(load({ ...tls(), AIRLOCK_TLS_LISTENERS: 'grpc,ftp' })).toThrow(/"ftp" is not a listener/);
  });

  it('wants an https public URL when the HTTP listener serves TLS (browsers are sent there)', () => {
    expect(load(tls())).toThrow(/^invalid AIRLOCK_PUBLIC_URL .*the HTTP listener serves TLS/);
    expect(load({ ...tls(), AIRLOCK_PUBLIC_URL: 'http://airlock.example.com' })).toThrow(/the HTTP listener serves TLS/);
    expect(load({ ...tls(), AIRLOCK_TLS_LISTENERS: 'grpc' })).not.toThrow();
  });

  it('refuses to start a real server whose certificate does not load, naming the file', async () => {
    const result = await runTool(process.execPath, [path.join(REPO_ROOT, 'server/main.ts')], {
      env: {
        AIRLOCK_GRPC_ADDRESS: '127.0.0.1:0',
        AIRLOCK_HTTP_ADDRESS: '127.0.0.1:0',
        AIRLOCK_TLS_CERT_FILE: leaf.certFile,
        AIRLOCK_TLS_KEY_FILE: path.join(dir.path, 'ca.key'),
        AIRLOCK_TLS_LISTENERS: 'grpc',
        AIRLOCK_DATA_DIR: path.join(dir.path, 'mismatch'),
      },
      timeoutMs: 30_000,
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `airlock: invalid AIRLOCK_TLS_KEY_FILE (--tls-key-file): ${path.join(dir.path, 'ca.key')} is not the private key of the certificate`,
    );
  });
});
