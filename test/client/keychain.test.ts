// The OS keychain store against a real Secret Service (GNOME Keyring on a
// private D-Bus session bus, test/support/secret-service.ts), layered behind
// the session file as the durable-first rule requires; `secret-tool`
// (libsecret) is the independent peer that reads and tampers with what the
// client stored. The absent keychain is real too: a process with no session bus.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keychainLayeredStore } from '../../client/storage/keychain-store.ts';
import type { StoredState } from '../../client/storage/session-store.ts';
import { REPO_ROOT } from '../support/airlock.ts';
import { startSecretService, type SecretService } from '../support/secret-service.ts';
import { tempDir } from '../support/settings.ts';
import { startLoginWorld, type LoginWorld } from './fixtures.ts';

const SERVICE = 'airlock-test';

let secrets: SecretService;
let world: LoginWorld;
let dir: ReturnType<typeof tempDir>;

beforeAll(async () => {
  secrets = await startSecretService();
  // Before the first keychain call: the native module connects to this bus.
  process.env.DBUS_SESSION_BUS_ADDRESS = secrets.busAddress;
  world = await startLoginWorld();
  dir = tempDir('airlock-keychain-');
});

afterAll(async () => {
  await world?.stop();
  await secrets?.stop();
  dir?.remove();
});

function layered(account: string, misses: string[] = []) {
  const file = path.join(dir.path, `${account}.json`);
  const store = keychainLayeredStore({
    file,
    keychain: { service: SERVICE, account },
    events: { onSecureStoreMiss: (operation, why) => misses.push(`${operation}:${why}`) },
  });
  return { file, store, misses, durable: () => JSON.parse(readFileSync(file, 'utf8')) as StoredState };
}

const A_STATE: StoredState = {
  version: 1,
  loginServerUrl: 'http://127.0.0.1:50051',
  session: {
    serverUrl: 'http://127.0.0.1:50051',
    accessToken: 'access-token-value',
    accessTokenExpiresAt: '2030-01-01T00:15:00.000Z',
    accessTokenReceivedAt: '2030-01-01T00:00:00.000Z',
    refreshToken: 'refresh-token-value',
    refreshTokenExpiresAt: '2030-01-31T00:00:00.000Z',
    did: 'did:plc:keychaintest',
    handle: 'keychain.test',
    pdsUrl: 'http://localhost:2583',
    sessionId: 'session-1',
  },
};

describe('KeychainStore behind the session file, on a real Secret Service', () => {
  it('a real sign-in writes the file and an identical copy to the keychain; logout removes both', async () => {
    const { file, store, misses, durable } = layered('signed-in');
    const { client, account } = await world.signedInClient({ store });
    expect(durable().session?.did).toBe(account.did);
    expect(JSON.parse((await secrets.lookup(SERVICE, 'signed-in'))!)).toEqual(durable());
    expect((await client.whoAmI()).did).toBe(account.did);
    expect(misses).toEqual([]);

    await client.logout();
    expect(existsSync(file)).toBe(false);
    expect(await secrets.lookup(SERVICE, 'signed-in')).toBeUndefined();
  });

  it('a copy that is missing, garbage or stale is a miss: the file decides and the copy is repaired', async () => {
    const { file, store, misses, durable } = layered('tampered');
    await store.save(A_STATE);
    const saved = durable();
    expect(saved).toMatchObject(A_STATE);
    expect(JSON.parse((await secrets.lookup(SERVICE, 'tampered'))!)).toEqual(saved);

    await secrets.clear(SERVICE, 'tampered'); // the keychain answers "no value"
    expect(await store.load()).toEqual(saved);
    await secrets.store(SERVICE, 'tampered', 'not json');
    expect(await store.load()).toEqual(saved);
    await secrets.store(SERVICE, 'tampered', JSON.stringify({ ...saved, generation: 'an-older-write' }));
    expect(await store.load()).toEqual(saved);
    expect(misses).toEqual(['get:empty', 'get:invalid', 'get:stale']);
    expect(JSON.parse((await secrets.lookup(SERVICE, 'tampered'))!)).toEqual(saved); // repaired each time

    // The file gone (another process signed out and its keychain delete failed): no resurrection.
    rmSync(file);
    expect(await store.load()).toBeUndefined();
    expect(await secrets.lookup(SERVICE, 'tampered')).toBeUndefined();
  });

  it('without a session bus every keychain call fails, and the file carries the session alone', async () => {
    const file = path.join(dir.path, 'no-bus.json');
    const script = `
      import { keychainLayeredStore } from ${JSON.stringify(pathToFileURL(path.join(REPO_ROOT, 'client/storage/keychain-store.ts')).href)};
      const misses = [];
      const store = keychainLayeredStore({
        file: ${JSON.stringify(file)},
        keychain: { service: ${JSON.stringify(SERVICE)}, account: 'no-bus' },
        events: { onSecureStoreMiss: (operation, why, error) => misses.push(operation + ':' + why + ':' + (error ? 'error' : '')) },
      });
      const state = ${JSON.stringify(A_STATE)};
      await store.save(state);
      const loaded = await store.load();
      await store.clear();
      console.log(JSON.stringify({ loaded, misses }));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      env: { PATH: process.env.PATH ?? '', HOME: dir.path, DBUS_SESSION_BUS_ADDRESS: `unix:path=${path.join(dir.path, 'no-such-bus')}` },
      encoding: 'utf8',
    });
    const result = JSON.parse(stdout) as { loaded: StoredState; misses: string[] };
    expect(result.loaded).toMatchObject(A_STATE);
    expect(result.misses).toEqual(['set:threw:error', 'get:threw:error', 'set:threw:error', 'delete:threw:error']);
    expect(existsSync(file)).toBe(false);
  });
});
