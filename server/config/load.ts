// Reads settings from flags (first) and environment variables, validates them
// and checks the combinations that only make sense together.
import { parseArgs } from 'node:util';
import { SETTINGS, type Settings } from './settings.ts';

/** A setting that cannot be used; the message is one line naming it. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Key = keyof typeof SETTINGS;
const KEYS = Object.keys(SETTINGS) as Key[];

/** The one way to say a setting is unusable: "invalid ENV (--flag): detail", or several settings at once. */
export function invalidSetting(keys: Key | Key[], detail: string): ConfigError {
  const specs = (Array.isArray(keys) ? keys : [keys]).map((key) => SETTINGS[key]);
  const named = specs.length === 1 ? `${specs[0]!.env} (--${specs[0]!.flag})` : specs.map((spec) => spec.env).join('/');
  return new ConfigError(`invalid ${named}: ${detail}`);
}

export interface LoadedConfig {
  settings: Settings;
  help: boolean;
}

export function loadSettings(argv: string[], env: NodeJS.ProcessEnv): LoadedConfig {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const key of KEYS) options[SETTINGS[key].flag] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new ConfigError(`${(error as Error).message.split('\n')[0]} (see --help)`);
  }
  if (values.help) return { settings: undefined as unknown as Settings, help: true };

  const settings: Record<string, unknown> = {};
  for (const key of KEYS) {
    const spec = SETTINGS[key];
    const flagValue = values[spec.flag];
    const raw = typeof flagValue === 'string' ? flagValue : (env[spec.env] ?? spec.default);
    const result = spec.schema.safeParse(raw);
    if (!result.success) {
      const reason = 'secret' in spec && spec.secret ? 'is not valid' : (result.error.issues[0]?.message ?? 'is not valid');
      throw invalidSetting(key, reason);
    }
    settings[key] = result.data;
  }
  const typed = settings as Settings;
  checkCombinations(typed);
  return { settings: typed, help: false };
}

function checkCombinations(settings: Settings): void {
  // One connection may be held by a bootstrap lock while the locked work runs on another.
  if (settings.databaseUrl && settings.databasePoolSize < 2) {
    throw invalidSetting('databasePoolSize', 'PostgreSQL needs at least 2 connections per replica');
  }
  if (settings.mode !== 'production') return;
  if (settings.allowHttp) {
    throw invalidSetting('allowHttp', 'http is allowed only in development mode');
  }
  if (settings.livekitApiKey === SETTINGS.livekitApiKey.default || settings.livekitApiSecret === SETTINGS.livekitApiSecret.default) {
    throw invalidSetting(['livekitApiKey', 'livekitApiSecret'], 'the development LiveKit credentials are refused in production mode');
  }
  if (!settings.masterKeyFile && !settings.masterKey) {
    throw invalidSetting(
      ['masterKeyFile', 'masterKey'],
      'production mode needs an explicit master key (a key generated next to the database would be copied with it)',
    );
  }
  if (!settings.publicUrl?.startsWith('https://')) {
    throw invalidSetting('publicUrl', 'production mode needs a public https URL');
  }
  for (const key of ['plcUrl', 'handleResolverUrl'] as const) {
    const value = settings[key];
    if (value && !value.startsWith('https://')) {
      throw invalidSetting(key, 'production mode needs https');
    }
  }
}

export function helpText(): string {
  const lines = [
    'Usage: airlock-server [--setting value ...]',
    '       airlock-server migrate [status] [--setting value ...]  (apply or list schema migrations, then exit)',
    '',
    'Every setting is also read from its environment variable; a flag wins over the variable.',
    '',
  ];
  for (const key of KEYS) {
    const spec = SETTINGS[key];
    const shownDefault = spec.default === '' ? '' : ` (default: ${spec.default})`;
    lines.push(`  --${spec.flag}  ${spec.env}${shownDefault}`, `      ${spec.description}`);
  }
  lines.push('  --help', '      print this help');
  return lines.join('\n');
}
