import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// The login link (/login/<ref>) and the upstream authorization request behind
// it, and the public key that seals a completed login's tokens at rest.
// One ALTER per column: SQLite cannot add several in one statement.
export const loginLinks: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('logins').addColumn('link_ref_hash', 'text').execute();
    await db.schema.alterTable('logins').addColumn('authorize_url', 'text').execute();
    await db.schema.alterTable('logins').addColumn('authorize_url_at', 'bigint').execute();
    await db.schema.alterTable('logins').addColumn('result_key', 'text').execute();
    await db.schema.createIndex('logins_link_ref_hash').on('logins').column('link_ref_hash').unique().execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropIndex('logins_link_ref_hash').ifExists().execute();
    for (const column of ['result_key', 'authorize_url_at', 'authorize_url', 'link_ref_hash']) {
      await db.schema.alterTable('logins').dropColumn(column).execute();
    }
  },
};
