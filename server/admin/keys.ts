// `admin keys ...`: the keys an operator manages.
//   list            the access-token signing keys (and the OAuth client key) with their
//                   activation, retirement and expiry, and the master key each is sealed under
//   rotate          a new signing key, published now, signing after --publish-ahead (default 5m);
//                   the old keys verify until every token they signed has expired
//   rotate-master   re-encrypts every stored secret under the first master key configured
//                   (AIRLOCK_MASTER_KEY_FILE / AIRLOCK_MASTER_KEY); the others must still be listed
//                   after it so the values sealed under them can be read
import ms from 'ms';
import { ConfigError, loadSettings } from '../config/load.ts';
import type { Settings } from '../config/settings.ts';
import { loadMasterKeys } from '../storage/at-rest.ts';
import { openDatabase } from '../storage/database.ts';
import type { CommandOutput } from '../storage/migrate-command.ts';
import { sealStoredSecrets } from '../storage/seal-stored-secrets.ts';
import { SigningKeyRing } from '../tokens/signing-keys.ts';

const DEFAULT_PUBLISH_AHEAD_MS = 5 * 60_000;

export async function runKeysCommand(argv: string[], env: NodeJS.ProcessEnv, io: CommandOutput): Promise<number> {
  const [action, ...rest] = argv;
  let publishAheadMs = DEFAULT_PUBLISH_AHEAD_MS;
  const aheadAt = rest.indexOf('--publish-ahead');
  if (aheadAt >= 0) {
    const parsed = ms((rest[aheadAt + 1] ?? '') as ms.StringValue);
    if (typeof parsed !== 'number' || !Number.isFinite(parsed) || parsed < 0) {
      io.err('airlock: --publish-ahead needs a duration (e.g. 5m)');
      return 2;
    }
    publishAheadMs = parsed;
    rest.splice(aheadAt, 2);
  }
  if (action !== 'list' && action !== 'rotate' && action !== 'rotate-master') {
    io.err('Usage: airlock-server admin keys list | rotate [--publish-ahead 5m] | rotate-master [--setting value ...]');
    return 2;
  }
  let settings: Settings;
  let sealer: ReturnType<typeof loadMasterKeys>;
  try {
    settings = loadSettings(rest, env).settings;
    sealer = loadMasterKeys(settings);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(`airlock: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const database = openDatabase(settings);
  try {
    if (action === 'rotate-master') {
      const count = await sealStoredSecrets(database.db, sealer, { onlyPlaintext: false });
      io.out(`re-encrypted ${count} stored secret(s) under master key ${sealer.currentKeyId}`);
      return 0;
    }
    if (action === 'rotate') {
      const ring = await SigningKeyRing.open({ db: database.db, settings, sealer });
      const key = await ring.rotate(publishAheadMs);
      io.out(`new signing key ${key.kid}: published now, signs from ${new Date(key.activatesAt).toISOString()}`);
      return 0;
    }
    const rows = await database.db.selectFrom('signing_keys').selectAll().orderBy('purpose').orderBy('activates_at').execute();
    const when = (t: number | null) => (t === null ? '-' : new Date(Number(t)).toISOString());
    io.out('purpose\tkid\talg\tactivates\tretires\texpires\tsealed-under');
    for (const row of rows) {
      const under = row.private_jwk === '' ? 'key-file' : row.private_jwk.startsWith('enc1.') ? row.private_jwk.split('.')[1] : 'CLEAR';
      io.out([row.purpose, row.kid, row.alg, when(row.activates_at), when(row.retires_at), when(row.expires_at), under].join('\t'));
    }
    return 0;
  } catch (error) {
    io.err(`airlock: admin keys ${action} failed: ${(error as Error).message}`);
    return 1;
  } finally {
    await database.close();
  }
}
