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
    ...env,
  }).settings;
}

/** A stored signing key's private JWK (JSON), opened with the master key a test server generated in its data directory. */
export function openPrivateJwk(dataDir: string, row: { kid: string; purpose: string; private_jwk: string }): string {
  return loadMasterKeys({ dataDir, masterKeyFile: '', masterKey: '' }).open(privateKeyContext(row.purpose, row.kid), row.private_jwk);
}
