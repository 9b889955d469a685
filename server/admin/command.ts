// `airlock-server admin <group> ...` (npm run admin -- ...): operator
// commands run against the configured database, then exit. Each group lives
// in its own file; this only dispatches.
import type { CommandOutput } from '../storage/migrate-command.ts';
import { runKeysCommand } from './keys.ts';

type Group = (argv: string[], env: NodeJS.ProcessEnv, io: CommandOutput) => Promise<number>;

const GROUPS: Record<string, { run: Group; summary: string }> = {
  keys: { run: runKeysCommand, summary: 'keys list | rotate | rotate-master: signing keys and the master key' },
};

export async function runAdminCommand(argv: string[], env: NodeJS.ProcessEnv, io: CommandOutput): Promise<number> {
  const group = GROUPS[argv[0] ?? ''];
  if (!group) {
    io.err(['Usage: airlock-server admin <command> [--setting value ...]', ...Object.values(GROUPS).map((g) => `  ${g.summary}`)].join('\n'));
    return argv[0] === undefined || argv[0] === '--help' ? 0 : 2;
  }
  return group.run(argv.slice(1), env, io);
}
