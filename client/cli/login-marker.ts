// The CLI's login in progress, for `airlock status` in another terminal: a
// small file beside the session file while `airlock login` waits. It holds
// no secret (the login verifier stays in the waiting process) and is removed
// when that command ends; a marker whose process is gone or whose login
// expired is ignored, so a killed CLI leaves nothing that misleads.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { z } from 'zod';

const markerSchema = z.object({
  serverUrl: z.string(),
  identifier: z.string(),
  startedAt: z.string(),
  expiresAt: z.string(),
  pid: z.number().int().positive(),
});

export type LoginInProgress = z.infer<typeof markerSchema>;

export function loginMarkerPath(sessionFile: string): string {
  return `${sessionFile}.login.json`;
}

/** Records the login this process is waiting for; returns the function that removes the record. */
export async function recordLoginInProgress(sessionFile: string, login: Omit<LoginInProgress, 'pid'>): Promise<() => Promise<void>> {
  const file = loginMarkerPath(sessionFile);
  const marker: LoginInProgress = { ...login, pid: process.pid };
  try {
    await writeFile(file, `${JSON.stringify(marker)}\n`, { mode: 0o600 });
  } catch {
    return async () => {}; // status is a convenience: the login itself must not fail for it
  }
  return () => rm(file, { force: true }).catch(() => {});
}

/** The login a live CLI process is waiting for, if any. */
export async function readLoginInProgress(sessionFile: string, now = Date.now()): Promise<LoginInProgress | undefined> {
  let raw: string;
  try {
    raw = await readFile(loginMarkerPath(sessionFile), 'utf8');
  } catch {
    return undefined;
  }
  let parsed: ReturnType<typeof markerSchema.safeParse>;
  try {
    parsed = markerSchema.safeParse(JSON.parse(raw));
  } catch {
    return undefined;
  }
  if (!parsed.success) return undefined;
  const marker = parsed.data;
  if (Date.parse(marker.expiresAt) <= now || !processIsAlive(marker.pid)) return undefined;
  return marker;
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}
