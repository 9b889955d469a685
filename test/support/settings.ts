// Settings for a server under test: free ports, its own data directory,
// quiet logs. Overrides use the same names as server settings.
import { loadMasterKeys, privateKeyContext } from '../../server/storage/at-rest.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadSettings } from '../../server/config/load.ts';
import type { Settings } from '../../server/config/settings.ts';

export function tempDir(prefix = 'airlock-test-'): { path: string; remove(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { path: dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Settings as the server would load them from these environment variables. */
export function testSettings(env: Record<string, string> = {}): Settings {
  return loadSettings([], {
    AIRLOCK_GRPC_ADDRESS: '127.0.0.1:0',
    AIRLOCK_HTTP_ADDRESS: '127.0.0.1:0',
    AIRLOCK_LOG_LEVEL: process.env.AIRLOCK_TEST_LOG_LEVEL ?? 'silent',
    AIRLOCK_LOG_FORMAT: 'json',
    ...withSharedMasterKey(env),
  }).settings;
}

/** Test-only master key (32 bytes, base64) shared by replicas of one PostgreSQL database. */
export const TEST_MASTER_KEY = 'dGVzdC1vbmx5LW1hc3Rlci1rZXktMzItYnl0ZXMhISE=';

/** Replicas on one PostgreSQL database must share a master key: each data directory would otherwise generate its own. */
export function withSharedMasterKey(env: Record<string, string>): Record<string, string> {
  if (!env.AIRLOCK_DATABASE_URL || env.AIRLOCK_MASTER_KEY || env.AIRLOCK_MASTER_KEY_FILE) return env;
  return { AIRLOCK_MASTER_KEY: TEST_MASTER_KEY, ...env };
}

/** A stored signing key's private JWK (JSON), opened with the master key a test server generated in its data directory. */
export function openPrivateJwk(dataDir: string, row: { kid: string; purpose: string; private_jwk: string }): string {
  return loadMasterKeys({ dataDir, masterKeyFile: '', masterKey: '' }).open(privateKeyContext(row.purpose, row.kid), row.private_jwk);
}
