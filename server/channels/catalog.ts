// The channel catalog: which channels exist, which LiveKit room each one is,
// who may join it and with which media permissions. Read once at start from
// a JSON file (format in the README, "Channel catalog"); any mistake stops
// the server with one line naming the entry, never a half-loaded catalog.
import { isAtprotoDid } from '@atproto/did';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { type ConfigError, invalidSetting } from '../config/load.ts';
import { CHANNEL_ID_PATTERN, CHANNEL_ID_RULE } from './channel-id.ts';

/** Who may join: everyone signed in, or exactly these DIDs. */
export type JoinRule = { kind: 'signed-in' } | { kind: 'dids'; dids: ReadonlySet<string> };

export interface MediaPermissions {
  /** Publish audio and video tracks. */
  publish: boolean;
  /** Subscribe to others' tracks. */
  subscribe: boolean;
  /** Publish data messages. */
  publishData: boolean;
}

export interface ChannelDefinition {
  id: string;
  name: string;
  /** The LiveKit room; several channels may share one (e.g. speakers and audience). */
  room: string;
  join: JoinRule;
  permissions: MediaPermissions;
}

export const SIGNED_IN = 'signed-in';

// Control characters in a name or room would end up in clients' UIs and logs.
const printable = (what: string, max: number) =>
  z
    .string()
    .min(1, `${what} must not be empty`)
    .max(max, `${what} must be at most ${max} characters`)
    .regex(/^[^\p{Cc}]*$/u, `${what} must not contain control characters`);

// The DIDs a login can prove, by the OAuth library's own grammar (the same check InitiateLogin uses).
const DID_RULE = 'did:plc:<24 characters of a-z and 2-7> or did:web:<hostname>';
const didEntry = z.string().refine((value) => isAtprotoDid(value), {
  error: (issue) => `${JSON.stringify(String(issue.input).slice(0, 80))} is not a DID a user can sign in with (${DID_RULE})`,
});

const channelSchema = z.strictObject({
  id: z.string().regex(CHANNEL_ID_PATTERN, `must be ${CHANNEL_ID_RULE}`),
  name: printable('name', 100).refine((name) => name.trim() !== '', 'name must not be blank'),
  room: printable('room', 128).optional(),
  join: z.union([z.literal(SIGNED_IN), z.array(didEntry).min(1, 'a DID list must not be empty')], {
    error: (issue) => (issue.code === 'invalid_union' ? `must be "${SIGNED_IN}" or a list of DIDs` : undefined),
  }),
  permissions: z.strictObject({ publish: z.boolean(), subscribe: z.boolean(), publishData: z.boolean() }),
});

const catalogSchema = z.strictObject({
  channels: z.array(channelSchema).min(1, 'the catalog needs at least one channel'),
});

/** The catalog used when no file is configured: one channel everyone signed in may use fully. */
export const DEFAULT_CATALOG = {
  channels: [
    { id: 'lobby', name: 'Lobby', room: 'lobby', join: SIGNED_IN, permissions: { publish: true, subscribe: true, publishData: true } },
  ],
} as const;

export class ChannelCatalog {
  readonly #channels: readonly ChannelDefinition[];
  readonly #byId: ReadonlyMap<string, ChannelDefinition>;

  constructor(channels: readonly ChannelDefinition[]) {
    this.#channels = channels;
    this.#byId = new Map(channels.map((channel) => [channel.id, channel]));
  }

  /** Every channel, in catalog order. */
  all(): readonly ChannelDefinition[] {
    return this.#channels;
  }

  find(id: string): ChannelDefinition | undefined {
    return this.#byId.get(id);
  }
}

/** Validates a parsed catalog document; throws a one-line ConfigError naming the entry. */
export function parseCatalog(document: unknown): ChannelCatalog {
  const result = catalogSchema.safeParse(document);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw catalogError(`${where(issue.path, document)}${issue.message}`);
  }
  const firstIndex = new Map<string, number>();
  const channels = result.data.channels.map((entry, index): ChannelDefinition => {
    const earlier = firstIndex.get(entry.id);
    if (earlier !== undefined) throw catalogError(`channels[${index}] ("${entry.id}"): duplicate id, already used by channels[${earlier}]`);
    firstIndex.set(entry.id, index);
    return {
      id: entry.id,
      name: entry.name,
      room: entry.room ?? entry.id,
      join: entry.join === SIGNED_IN ? { kind: 'signed-in' } : { kind: 'dids', dids: new Set(entry.join) },
      permissions: { ...entry.permissions },
    };
  });
  return new ChannelCatalog(channels);
}

/** The catalog from `file`, or the embedded default when `file` is empty. */
export function loadCatalog(file: string): ChannelCatalog {
  if (file === '') return parseCatalog(DEFAULT_CATALOG);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw catalogError(`cannot read ${file} (${code})`);
  }
  let document: unknown;
  try {
    document = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw catalogError(`${file} is not valid JSON: ${(error as Error).message.split('\n')[0]}`);
  }
  return parseCatalog(document);
}

function catalogError(detail: string): ConfigError {
  return invalidSetting('channelsFile', detail);
}

// "channels[2] (\"ops\"): join[0]: " for an issue inside an entry; the id is
// shown when it is a readable string, so the operator finds the entry.
function where(path: readonly PropertyKey[], document: unknown): string {
  if (path.length === 0) return '';
  const [top, index, ...rest] = path;
  if (top !== 'channels' || typeof index !== 'number') return `${formatPath(path)}: `;
  const entry = (document as { channels: unknown[] }).channels[index] as { id?: unknown } | undefined;
  const id =
    typeof entry?.id === 'string' && entry.id.length <= 64 && /^[\x20-\x7e]*$/.test(entry.id) ? ` (${JSON.stringify(entry.id)})` : '';
  return `channels[${index}]${id}: ${rest.length > 0 ? `${formatPath(rest)}: ` : ''}`;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i > 0 ? '.' : ''}${String(part)}`)).join('');
}
