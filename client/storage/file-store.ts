// The default store: one JSON file in the user's config directory, readable
// by the user only. Every save writes a temporary file and renames it over
// the old one, so a crash leaves either the old or the new state, never a
// torn file.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import envPaths from 'env-paths';
import { SessionStorageError } from '../errors.ts';
import { parseStoredState, type SessionStore, type StoredState } from './session-store.ts';

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/** ~/.config/airlock/session.json on Linux ($XDG_CONFIG_HOME respected), the platform's equivalent elsewhere. */
export function defaultSessionFile(): string {
  return path.join(envPaths('airlock', { suffix: '' }).config, 'session.json');
}

export class FileStore implements SessionStore {
  readonly path: string;

  constructor(filePath: string = defaultSessionFile()) {
    this.path = path.resolve(filePath);
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
