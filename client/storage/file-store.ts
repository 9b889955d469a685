// The default store: one JSON file in the user's config directory, readable
// by the user only. Every save writes a temporary file and renames it over
// the old one, so a crash leaves either the old or the new state, never a
// torn file.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import envPaths from 'env-paths';
import lockfile from 'proper-lockfile';
import { SessionStorageError } from '../errors.ts';
import { parseStoredState, type SessionStore, type StoredState } from './session-store.ts';

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/**
 * ~/.config/airlock/session.json on Linux ($XDG_CONFIG_HOME respected), the
 * platform's equivalent elsewhere: the CLI's. An app passes its own app id
 * and gets ~/.config/airlock/apps/<appId>/session.json, so two apps (or an
 * app and the CLI) never share a session by accident.
 */
export function defaultSessionFile(appId?: string): string {
  const base = envPaths('airlock', { suffix: '' }).config;
  if (appId === undefined) return path.join(base, 'session.json');
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(appId) || appId.includes('..')) {
    throw new SessionStorageError(`invalid app id ${JSON.stringify(appId)}: use letters, digits, '.', '_' and '-' (e.g. com.example.chat)`);
  }
  return path.join(base, 'apps', appId, 'session.json');
}

/** A lock not refreshed for this long is taken as left by a crashed process. */
export const LOCK_STALE_MS = 10_000;

export class FileStore implements SessionStore {
  readonly path: string;

  constructor(filePath: string = defaultSessionFile()) {
    this.path = path.resolve(filePath);
  }

  /**
   * The cross-process lock: a `<file>.lock` directory (proper-lockfile:
   * mkdir is atomic on every file system; the holder refreshes its mtime,
   * and one older than LOCK_STALE_MS is taken over). The Rust client takes
   * the same directory lock.
   */
  async lock(): Promise<() => Promise<void>> {
    try {
      await mkdir(path.dirname(this.path), { recursive: true, mode: DIR_MODE });
      return await lockfile.lock(this.path, {
        realpath: false,
        stale: LOCK_STALE_MS,
        retries: { retries: 1_000, factor: 1.2, minTimeout: 10, maxTimeout: 100 },
        onCompromised: () => {
          /* another process took it over as stale; the next write re-reads anyway */
        },
      });
    } catch (error) {
      throw new SessionStorageError(`cannot lock the session file ${this.path}: ${(error as Error).message}`);
    }
  }

  async load(): Promise<StoredState | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new SessionStorageError(`cannot read the session file ${this.path}: ${(error as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new SessionStorageError(`the session file ${this.path} is not valid JSON; sign out to reset it`);
    }
    const state = parseStoredState(json);
    if (!state) throw new SessionStorageError(`the session file ${this.path} has an unknown format; sign out to reset it`);
    return state;
  }

  async save(state: StoredState): Promise<void> {
    const dir = path.dirname(this.path);
    const temp = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await mkdir(dir, { recursive: true, mode: DIR_MODE });
      // 'wx': never follow or reuse an existing file; the mode is set at creation.
      const handle = await open(temp, 'wx', FILE_MODE);
      try {
        await handle.chmod(FILE_MODE); // not widened by an unusual umask either
        await handle.writeFile(`${JSON.stringify(state, null, 2)}\n`, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, this.path);
      await syncDirectory(dir);
    } catch (error) {
      await unlink(temp).catch(() => {});
      throw new SessionStorageError(`cannot write the session file ${this.path}: ${(error as Error).message}`);
    }
  }

  async clear(): Promise<void> {
    try {
      await unlink(this.path);
      await syncDirectory(path.dirname(this.path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new SessionStorageError(`cannot remove the session file ${this.path}: ${(error as Error).message}`);
    }
  }
}

// Makes the rename itself durable; not supported on every platform (Windows).
async function syncDirectory(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    /* best effort */
  } finally {
    await handle?.close();
  }
}
