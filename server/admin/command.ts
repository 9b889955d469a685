// `airlock-server admin ...` (npm run admin -- ...): operator commands that
// need only database access. This file only dispatches; each topic lives in
// its own file and registers one entry in TOPICS.
import { ConfigError, loadSettings } from '../config/load.ts';
import type { Settings } from '../config/settings.ts';
import { openDatabase, type OpenDatabase } from '../storage/database.ts';
import { runAuditCommand } from './audit.ts';
import { runKeysCommand } from './keys.ts';
import { runSessionsCommand } from './sessions.ts';

export interface AdminIo {
  out(line: string): void;
  err(line: string): void;
}

export interface AdminContext {
  /** The topic's own words and flags (settings flags removed). */
  args: ParsedArgs;
  database: OpenDatabase;
  settings: Settings;
  io: AdminIo;
  /** Who runs the command, for the audit log: AIRLOCK_ADMIN_OPERATOR, else $USER. */
  operator: string;
}

export interface ParsedArgs {
  words: string[];
  flags: Map<string, string | true>;
}

type Topic = { usage: string[]; flags: string[]; run(ctx: AdminContext): Promise<number> };

const TOPICS: Record<string, Topic> = {
  sessions: {
    usage: ['sessions list --did DID [--json]', 'sessions revoke --did DID | --session ID [--json]'],
    flags: ['did', 'session', 'json'],
    run: runSessionsCommand,
  },
  audit: { usage: ['audit [--did DID] [--limit N] [--json]'], flags: ['did', 'limit', 'json'], run: runAuditCommand },
};

// Groups that parse their own arguments and open what they need (the master key too).
const GROUPS: Record<string, { usage: string; run: (argv: string[], env: NodeJS.ProcessEnv, io: AdminIo) => Promise<number> }> = {
  keys: { usage: 'keys list | rotate [--publish-ahead 5m] | rotate-master', run: runKeysCommand },
};

function usage(): string {
  const lines = [...Object.values(TOPICS).flatMap((t) => t.usage), ...Object.values(GROUPS).map((g) => g.usage)];
  return [
    'Usage: airlock-server admin <command> [--setting value ...]',
    '',
    ...lines.map((u) => `  ${u}`),
    '',
    'Settings (database, data directory) are those of the server.',
  ].join('\n');
}

/** Splits the topic's own flags from server settings flags (passed on to loadSettings). */
export function parseArgs(argv: string[], own: string[]): { parsed: ParsedArgs; rest: string[] } {
  const words: string[] = [];
  const flags = new Map<string, string | true>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (match && own.includes(match[1]!)) {
      if (match[1] === 'json') flags.set('json', true);
      else if (match[2] !== undefined) flags.set(match[1]!, match[2]);
      else if (i + 1 < argv.length) flags.set(match[1]!, argv[++i]!);
      else throw new ConfigError(`--${match[1]} needs a value`);
    } else if (arg.startsWith('-')) {
      rest.push(arg);
      if (!arg.includes('=') && i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) rest.push(argv[++i]!);
    } else words.push(arg);
  }
  return { parsed: { words, flags }, rest };
}

export async function runAdminCommand(argv: string[], env: NodeJS.ProcessEnv, io: AdminIo): Promise<number> {
  const group = argv[0] ? GROUPS[argv[0]] : undefined;
  if (group && !argv.includes('--help')) return group.run(argv.slice(1), env, io);
  const topic = argv[0] ? TOPICS[argv[0]] : undefined;
  const asked = argv.length === 0 || argv.includes('--help') || argv.includes('-h');
  if (asked) {
    io.out(usage());
    return 0;
  }
  if (!topic) {
    io.err(`airlock: unknown admin command "${argv[0]}"\n${usage()}`);
    return 2;
  }
  let parsed: ParsedArgs;
  let settings: Settings;
  try {
    const split = parseArgs(argv.slice(1), topic.flags);
    parsed = split.parsed;
    settings = loadSettings(split.rest, env).settings;
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(`airlock: ${error.message}`);
      return 2;
    }
    throw error;
  }
  let database: OpenDatabase;
  try {
    database = openDatabase(settings);
  } catch (error) {
    io.err(`airlock: ${(error as Error).message}`);
    return 2;
  }
  try {
    const operator = env.AIRLOCK_ADMIN_OPERATOR || env.USER || 'unknown';
    return await topic.run({ args: parsed, database, settings, io, operator });
  } catch (error) {
    io.err(`airlock: ${(error as Error).message}`);
    return 1;
  } finally {
    await database.close();
  }
}

/** Columns padded to their widest cell. */
export function table(headers: string[], rows: string[][]): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}
