// Reads settings from flags (first) and environment variables, validates them
// and checks the combinations that only make sense together.
import { parseArgs } from 'node:util';
import ipaddr from 'ipaddr.js';
import { SETTINGS, type ListenerName, type Settings } from './settings.ts';

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
  checkTls(settings);
  if (settings.mode !== 'production') return;
  checkNoPlaintextExposed(settings);
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

/** Whether this listener serves TLS with these settings. */
export function servesTls(settings: Settings, listener: ListenerName): boolean {
  return settings.tlsCertFile !== '' && settings.tlsListeners.has(listener);
}

/** Whether this listener asks for, and requires, a client certificate signed by the client CA. */
export function requiresClientCertificate(settings: Settings, listener: ListenerName): boolean {
  return servesTls(settings, listener) && settings.tlsClientCaFile !== '' && settings.tlsClientAuthListeners.has(listener);
}

const ADDRESS_SETTING = { grpc: 'grpcAddress', http: 'httpAddress', admin: 'adminAddress' } as const;

function checkTls(settings: Settings): void {
  if ((settings.tlsCertFile === '') !== (settings.tlsKeyFile === '')) {
    throw invalidSetting(['tlsCertFile', 'tlsKeyFile'], 'set both the certificate and its private key, or neither');
  }
  if (settings.tlsClientCaFile && !settings.tlsCertFile) {
    throw invalidSetting('tlsClientCaFile', 'client certificates need TLS: set AIRLOCK_TLS_CERT_FILE and AIRLOCK_TLS_KEY_FILE too');
  }
  if (settings.tlsCertFile && settings.tlsListeners.size === 0) {
    throw invalidSetting('tlsListeners', 'names no listener, so the certificate would serve nothing');
  }
  if (settings.tlsClientCaFile) {
    for (const listener of settings.tlsClientAuthListeners) {
      if (!settings.tlsListeners.has(listener)) {
        throw invalidSetting(
          'tlsClientAuthListeners',
          `${listener} requires client certificates but does not serve TLS (AIRLOCK_TLS_LISTENERS)`,
        );
      }
    }
  }
  // Browsers are sent to the public URL: it must speak what the HTTP listener speaks.
  if (servesTls(settings, 'http') && !settings.publicUrl?.startsWith('https://')) {
    throw invalidSetting(
      'publicUrl',
      'the HTTP listener serves TLS: set the https URL browsers reach it at (e.g. https://airlock.example.com)',
    );
  }
}

/** A loopback address cannot be reached from another machine, so plaintext there stays on this host. */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  if (!ipaddr.isValid(host)) return false;
  const ip = ipaddr.process(host);
  return ip.range() === 'loopback';
}

function checkNoPlaintextExposed(settings: Settings): void {
  if (settings.tlsTerminatedByProxy) return;
  for (const listener of ['grpc', 'http', 'admin'] as const) {
    const address = settings[ADDRESS_SETTING[listener]];
    if (!address || servesTls(settings, listener) || isLoopbackHost(address.host)) continue;
    throw invalidSetting(
      ADDRESS_SETTING[listener],
      `production mode refuses a plaintext ${listener} listener on ${address.host}, a non-loopback address: set AIRLOCK_TLS_CERT_FILE and AIRLOCK_TLS_KEY_FILE, or AIRLOCK_TLS_TERMINATED_BY_PROXY=true when a proxy in front terminates TLS`,
    );
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
