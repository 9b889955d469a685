// Re-seals the stored secrets: at start-up the values an earlier version
// stored in clear, and for a master-key rotation every value not sealed
// under the key that seals now. Each row is replaced only if it still holds
// what was read (compare and set), so a replica writing at the same time
// wins and nothing is lost.
import type { Kysely } from 'kysely';
import { isSealed, loginConfirmationContext, privateKeyContext, type Sealer } from './at-rest.ts';
import type { Database } from './schema.ts';

export interface SealOptions {
  /** Only values in clear (start-up); otherwise also values sealed under another key (rotation). */
  onlyPlaintext: boolean;
}

/** Returns how many values were (re)sealed. */
export async function sealStoredSecrets(db: Kysely<Database>, sealer: Sealer, options: SealOptions): Promise<number> {
  const needs = (value: string) => value !== '' && (options.onlyPlaintext ? !isSealed(value) : !sealer.isCurrent(value));
  const reseal = (context: string, value: string) => sealer.seal(context, sealer.open(context, value));
  let count = 0;

  const keys = await db.selectFrom('signing_keys').select(['kid', 'purpose', 'private_jwk']).execute();
  for (const row of keys) {
    if (!needs(row.private_jwk)) continue;
    const context = privateKeyContext(row.purpose, row.kid);
    const result = await db
      .updateTable('signing_keys')
      .set({ private_jwk: reseal(context, row.private_jwk) })
      .where('kid', '=', row.kid)
      .where('private_jwk', '=', row.private_jwk)
      .executeTakeFirst();
    count += Number(result.numUpdatedRows);
  }

  const sessions = await db.selectFrom('oauth_sessions').select(['sub', 'value']).execute();
  for (const row of sessions) {
    if (!needs(row.value)) continue;
    const result = await db
      .updateTable('oauth_sessions')
      .set({ value: reseal(`oauth_sessions:${row.sub}`, row.value) })
      .where('sub', '=', row.sub)
      .where('value', '=', row.value)
      .executeTakeFirst();
    count += Number(result.numUpdatedRows);
  }

  const states = await db.selectFrom('oauth_states').select(['key', 'value']).execute();
  for (const row of states) {
    if (!needs(row.value)) continue;
    const result = await db
      .updateTable('oauth_states')
      .set({ value: reseal(`oauth_states:${row.key}`, row.value) })
      .where('key', '=', row.key)
      .where('value', '=', row.value)
      .executeTakeFirst();
    count += Number(result.numUpdatedRows);
  }

  const logins = await db.selectFrom('logins').select(['id', 'confirmation']).where('confirmation', 'is not', null).execute();
  for (const row of logins) {
    if (!needs(row.confirmation!)) continue;
    const result = await db
      .updateTable('logins')
      .set({ confirmation: reseal(loginConfirmationContext(row.id), row.confirmation!) })
      .where('id', '=', row.id)
      .where('confirmation', '=', row.confirmation)
      .executeTakeFirst();
    count += Number(result.numUpdatedRows);
  }
  return count;
}
