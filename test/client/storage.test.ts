// The client's session stores. These tests are local on purpose: they are
// about files, permissions and a keychain bridge. No OS keychain exists on
// this machine, so the secure store below is a fake; that is the one fault
// that cannot be produced for real here (a bridge that resolves to nothing,
// throws, or keeps an old copy), and it is exactly the fault under test.
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SessionStorageError } from '../../client/errors.ts';
import { defaultSessionFile, FileStore } from '../../client/storage/file-store.ts';
import { LayeredStore, type SecureStore } from '../../client/storage/layered-store.ts';
import { MemoryStore } from '../../client/storage/memory-store.ts';
import type { StoredSession, StoredState } from '../../client/storage/session-store.ts';

function session(overrides: Partial<StoredSession> = {}): StoredSession {
  const now = Date.now();
  return {
    serverUrl: 'http://127.0.0.1:50051',
    accessToken: 'access-1',
    accessTokenExpiresAt: new Date(now + 900_000).toISOString(),
    accessTokenReceivedAt: new Date(now).toISOString(),
    refreshToken: 'refresh-1',
    refreshTokenExpiresAt: new Date(now + 30 * 86_400_000).toISOString(),
    did: 'did:plc:alice',
    handle: 'alice.test',
    pdsUrl: 'http://127.0.0.1:2583',
    sessionId: 'sess-1',
    ...overrides,
  };
}

function signedIn(overrides: Partial<StoredSession> = {}): StoredState {
  return { version: 1, loginServerUrl: 'http://127.0.0.1:50051', session: session(overrides) };
}

/** A keychain bridge whose behaviour the test chooses. */
class FakeSecureStore implements SecureStore {
  value: unknown;
  mode: { get: 'ok' | 'undefined' | 'throw'; set: 'ok' | 'noop' | 'throw'; delete: 'ok' | 'throw' } = {
    get: 'ok',
    set: 'ok',
    delete: 'ok',
  };
  async get() {
    if (this.mode.get === 'throw') throw new Error('keychain locked');
    if (this.mode.get === 'undefined') return undefined; // an unregistered bridge command
    return this.value === undefined ? undefined : JSON.stringify(this.value);
  }
  async set(value: StoredState) {
    if (this.mode.set === 'throw') throw new Error('keychain write refused');
    if (this.mode.set === 'noop') return undefined; // "did not throw" is not "stored"
    this.value = structuredClone(value);
  }
  async delete() {
    if (this.mode.delete === 'throw') throw new Error('keychain delete refused');
    this.value = undefined;
  }
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'airlock-client-store-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('FileStore', () => {
  it('round-trips the state and writes it readable by the user only (0600, directory 0700)', async () => {
    const file = path.join(dir, 'nested', 'config', 'session.json');
    const store = new FileStore(file);
    expect(await store.load()).toBeUndefined();
    const state = signedIn();
    await store.save(state);
    expect(await store.load()).toEqual(state);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
  });

  it('keeps 0600 even when the process umask would allow more, and replaces a too-open file', async () => {
    const file = path.join(dir, 'session.json');
    writeFileSync(file, '{}', { mode: 0o644 });
    const previous = process.umask(0o000);
    try {
      await new FileStore(file).save(signedIn());
    } finally {
      process.umask(previous);
    }
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('writes atomically: a save never leaves a temporary file or a torn file behind', async () => {
    const file = path.join(dir, 'session.json');
    const store = new FileStore(file);
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.save(signedIn({ accessToken: `access-${i}` }))));
    expect(readdirSync(dir)).toEqual(['session.json']);
    const loaded = await store.load();
    expect(loaded?.session?.accessToken).toMatch(/^access-\d+$/);
  });

  it('a crash before the rename leaves the previous state intact', async () => {
    const file = path.join(dir, 'session.json');
    const store = new FileStore(file);
    await store.save(signedIn({ accessToken: 'old' }));
    // What a crash mid-write leaves: a half-written temporary file next to the real one.
    writeFileSync(`${file}.deadbeef.tmp`, '{"version":1,"session":{"serverUrl":"http://', { mode: 0o600 });
    expect((await store.load())?.session?.accessToken).toBe('old');
  });

  it('clear removes server URL and tokens together, and is idempotent', async () => {
    const file = path.join(dir, 'session.json');
    const store = new FileStore(file);
    await store.save(signedIn());
    await store.clear();
    await store.clear();
    expect(await store.load()).toBeUndefined();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a corrupt or foreign file is a typed storage error, never a session', async () => {
    const file = path.join(dir, 'session.json');
    writeFileSync(file, 'not json');
    await expect(new FileStore(file).load()).rejects.toBeInstanceOf(SessionStorageError);
    writeFileSync(file, JSON.stringify({ version: 1, session: { serverUrl: 'x' } }));
    await expect(new FileStore(file).load()).rejects.toBeInstanceOf(SessionStorageError);
  });

  it('a storage error message names the file but never a token', async () => {
    const file = path.join(dir, 'session.json');
    writeFileSync(file, JSON.stringify({ ...signedIn(), version: 99 }));
    const error = await new FileStore(file).load().catch((e: Error) => e);
    expect(String(error)).toContain(file);
    expect(String(error)).not.toContain('refresh-1');
  });

  it('defaults to the user config directory from env-paths ($XDG_CONFIG_HOME)', () => {
    const saved = process.env.XDG_CONFIG_HOME;
    process.env.XDG_CONFIG_HOME = dir;
    try {
      expect(defaultSessionFile()).toBe(path.join(dir, 'airlock', 'session.json'));
    } finally {
      if (saved === undefined) delete process.env.XDG_CONFIG_HOME;
      else process.env.XDG_CONFIG_HOME = saved;
    }
  });
});

describe('LayeredStore (durable file first, secure store best effort)', () => {
  const make = () => {
    const durable = new FileStore(path.join(dir, 'session.json'));
    const secure = new FakeSecureStore();
    const misses: string[] = [];
    const store = new LayeredStore(durable, secure, { onSecureStoreMiss: (op, why) => misses.push(`${op}:${why}`) });
    return { durable, secure, store, misses };
  };

  it('a secure store whose set silently does nothing and whose get returns undefined is a miss: the durable copy is used', async () => {
    const { store, secure, durable, misses } = make();
    secure.mode = { get: 'undefined', set: 'noop', delete: 'ok' };
    await store.save(signedIn());
    expect((await durable.load())?.session?.refreshToken).toBe('refresh-1');
    // As after an app reload: a new store over the same file and bridge.
    const reloaded = new LayeredStore(durable, secure);
    expect((await reloaded.load())?.session?.refreshToken).toBe('refresh-1');
    await store.load();
    expect(misses).toContain('get:empty');
  });

  it('a secure store that throws on every call is a miss, never a failure of save, load or clear', async () => {
    const { store, secure, misses } = make();
    secure.mode = { get: 'throw', set: 'throw', delete: 'throw' };
    await store.save(signedIn());
    expect((await store.load())?.session?.accessToken).toBe('access-1');
    await store.clear();
    expect(await store.load()).toBeUndefined();
    expect(misses).toEqual(expect.arrayContaining(['set:threw', 'get:threw', 'delete:threw']));
  });

  it('a crash between the two writes (durable written, secure not) never serves the stale secure copy', async () => {
    const { store, secure, durable } = make();
    await store.save(signedIn({ refreshToken: 'refresh-1' }));
    expect((secure.value as StoredState).session?.refreshToken).toBe('refresh-1');
    // The refresh rotated the token; the process dies after the durable write:
    // simulated by a secure write that fails, so the keychain keeps refresh-1.
    secure.mode.set = 'throw';
    await store.save(signedIn({ refreshToken: 'refresh-2' }));
    expect((secure.value as StoredState).session?.refreshToken).toBe('refresh-1');
    secure.mode.set = 'ok';
    const afterRestart = new LayeredStore(durable, secure);
    // Presenting rotated refresh-1 would revoke the whole session on the server.
    expect((await afterRestart.load())?.session?.refreshToken).toBe('refresh-2');
    // ... and the stale secure copy has been repaired.
    expect((secure.value as StoredState).session?.refreshToken).toBe('refresh-2');
  });

  it('a secure store holding a stale value of the same shape is a miss', async () => {
    const { store, secure } = make();
    await store.save(signedIn({ accessToken: 'current' }));
    secure.value = { ...signedIn({ accessToken: 'stale' }), generation: 'an-older-write' };
    expect((await store.load())?.session?.accessToken).toBe('current');
  });

  it('a secure store returning garbage is a miss', async () => {
    const { store, secure, misses } = make();
    await store.save(signedIn());
    secure.value = { version: 1, session: { accessToken: 'no server url' } };
    expect((await store.load())?.session?.accessToken).toBe('access-1');
    expect(misses).toContain('get:invalid');
  });

  it('a secure copy that outlived a logout cannot resurrect the session', async () => {
    const { store, secure } = make();
    await store.save(signedIn());
    secure.mode.delete = 'throw';
    await store.clear();
    expect(secure.value).toBeDefined(); // the keychain still holds it...
    secure.mode.delete = 'ok';
    expect(await store.load()).toBeUndefined(); // ...but there is no session,
    expect(secure.value).toBeUndefined(); // and the leftover is removed.
  });

  it('the durable write failing fails the save (it is never reported as success)', async () => {
    const blocker = path.join(dir, 'not-a-dir');
    writeFileSync(blocker, '');
    const secure = new FakeSecureStore();
    const store = new LayeredStore(new FileStore(path.join(blocker, 'session.json')), secure);
    await expect(store.save(signedIn())).rejects.toBeInstanceOf(SessionStorageError);
    expect(secure.value).toBeUndefined(); // durable first: nothing was written anywhere
  });

  it('uses the secure copy when it provably matches the durable one', async () => {
    const { store, secure } = make();
    await store.save(signedIn());
    const generation = (secure.value as StoredState).generation;
    expect(generation).toMatch(/^[0-9a-f-]{36}$/);
    const loaded = await store.load();
    expect(loaded?.generation).toBe(generation);
  });
});

describe('MemoryStore', () => {
  it('round-trips copies, not shared objects', async () => {
    const store = new MemoryStore();
    const state = signedIn();
    await store.save(state);
    state.session!.accessToken = 'mutated';
    expect((await store.load())?.session?.accessToken).toBe('access-1');
    await store.clear();
    expect(await store.load()).toBeUndefined();
  });
});
