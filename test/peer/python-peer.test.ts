// The contract works for a client that shares no code with us: Python's
// C-core gRPC with stubs generated from proto/ by grpc_tools.protoc.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { tempDir } from '../support/settings.ts';

// Debian's interpreter: the python3 first on PATH may not see Debian's grpcio.
const PYTHON = '/usr/bin/python3';
const WKT_PROTOS = '/usr/lib/python3/dist-packages/grpc_tools/_proto';

let airlock: InProcessAirlock;
const stubs = tempDir('airlock-pystubs-');

beforeAll(async () => {
  airlock = await startInProcess();
  // health.proto under a path outside grpc/, so its module cannot shadow the grpc package.
  const peerProtos = path.join(stubs.path, 'protos');
  mkdirSync(path.join(peerProtos, 'peer_health'), { recursive: true });
  copyFileSync(path.join(REPO_ROOT, 'proto/grpc/health/v1/health.proto'), path.join(peerProtos, 'peer_health/health.proto'));
  // Debian's grpc_tools bundles protoc 3.5, which predates proto3 `optional`
  // (InitiateLoginRequest.client_label). Without the label the field is an
  // ordinary proto3 string: the same tag and wire type, so the stubs speak the
  // same bytes; only explicit presence, which the server does not rely on, is lost.
  for (const file of ['airlock/auth/v1/auth.proto', 'airlock/channels/v1/channels.proto']) {
    mkdirSync(path.join(peerProtos, path.dirname(file)), { recursive: true });
    const source = readFileSync(path.join(REPO_ROOT, 'proto', file), 'utf8');
    writeFileSync(path.join(peerProtos, file), source.replace(/^(\s*)optional (\w+ \w+ = \d+;)/gm, '$1$2'));
  }
  const out = path.join(stubs.path, 'out');
  mkdirSync(out);
  execFileSync(PYTHON, [
    '-m',
    'grpc_tools.protoc',
    `-I${peerProtos}`,
    `-I${path.join(REPO_ROOT, 'proto')}`,
    `-I${WKT_PROTOS}`,
    `--python_out=${out}`,
    `--grpc_python_out=${out}`,
    'airlock/auth/v1/auth.proto',
    'airlock/channels/v1/channels.proto',
    'peer_health/health.proto',
  ]);
  for (const pkg of ['airlock', 'airlock/auth', 'airlock/auth/v1', 'airlock/channels', 'airlock/channels/v1', 'peer_health']) {
    writeFileSync(path.join(out, pkg, '__init__.py'), '');
  }
});

afterAll(async () => {
  await airlock?.close();
  stubs.remove();
});

describe('a Python C-core peer', () => {
  it('generates stubs from proto/, checks health and calls AuthService', async () => {
    // Asynchronously: the server under test runs in this process's event loop.
    const { stdout: output } = await promisify(execFile)(
      PYTHON,
      [path.join(REPO_ROOT, 'test/peer/python_peer.py'), airlock.grpcTarget, path.join(stubs.path, 'out')],
      {
        encoding: 'utf8',
      },
    );
    const result = JSON.parse(output.trim()) as Record<string, string>;
    expect(result.health).toBe('SERVING');
    // Unknown login: the stream answers NOT_FOUND, a status only a real handler gives.
    expect(result.await_login).toBe('NOT_FOUND');
    expect(result.initiate_login).toBe('INVALID_ARGUMENT');
  });
});
