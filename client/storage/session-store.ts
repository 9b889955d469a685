// What the client persists, and the interface every store implements.
// The server URL and the tokens of a session live in ONE record
// (StoredSession), written and removed together: there is no state in which
// tokens exist without the server that issued them, or the reverse.
import { z } from 'zod';

export const STORED_STATE_VERSION = 1;

const isoDate = z.string().refine((text) => !Number.isNaN(Date.parse(text)), 'not an ISO date');

export const storedSessionSchema = z.object({
  serverUrl: z.string().min(1),
  accessToken: z.string().min(1),
  accessTokenExpiresAt: isoDate,
  /** When this client received the access token (drives the proactive refresh). */
  accessTokenReceivedAt: isoDate,
  refreshToken: z.string().min(1),
  refreshTokenExpiresAt: isoDate,
  did: z.string().min(1),
  handle: z.string(),
  pdsUrl: z.string(),
  sessionId: z.string().min(1),
});

export const storedStateSchema = z.object({
  version: z.literal(STORED_STATE_VERSION),
  /**
   * The server the latest login was started against; written before the
   * browser opens so it survives a crash mid-login. Not a session.
   */
  loginServerUrl: z.string().min(1).optional(),
  /** Present exactly when signed in; carries its own server URL. */
  session: storedSessionSchema.optional(),
  /**
   * Random id of this write, set by LayeredStore so a copy in a secondary
   * store can be recognised as current or stale.
   */
  generation: z.string().optional(),
});

export type StoredSession = z.infer<typeof storedSessionSchema>;
export type StoredState = z.infer<typeof storedStateSchema>;

export interface SessionStore {
  /** The stored state, or undefined when nothing is stored. Throws SessionStorageError when unreadable. */
  load(): Promise<StoredState | undefined>;
  /** Replaces the whole state atomically. */
  save(state: StoredState): Promise<void>;
  /** Removes the whole state atomically. */
  clear(): Promise<void>;
  /**
   * Optional cross-process lock: resolves once this process holds it, with
   * the function that releases it. The client holds it around every
   * read-modify-write of the state and through a refresh, and re-reads
   * after taking it. Stores only one process uses need none.
   */
  lock?(): Promise<() => Promise<void>>;
}

/** Parses what a store read back; anything that is not a valid state is undefined. */
export function parseStoredState(value: unknown): StoredState | undefined {
  const result = storedStateSchema.safeParse(value);
  return result.success ? result.data : undefined;
}
