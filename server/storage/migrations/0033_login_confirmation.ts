import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// The login confirmation page: the code and the initiator's address (sealed
// together under the master key), the hash of the page's CSRF token, and
// when the pushed authorization request was first handed to a browser, and
// a keyed fingerprint of the initiator's network (the per-network pending cap),
// and the hash of the token of the browser that passed the link (the callback checks it).
// One ALTER per column: SQLite cannot add several in one statement.
export const loginConfirmation: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('logins').addColumn('confirmation', 'text').execute();
    await db.schema.alterTable('logins').addColumn('confirm_token_hash', 'text').execute();
    await db.schema.alterTable('logins').addColumn('authorize_url_claimed_at', 'bigint').execute();
    await db.schema.alterTable('logins').addColumn('initiator_network', 'text').execute();
    await db.schema.alterTable('logins').addColumn('browser_token_hash', 'text').execute();
    await db.schema.createIndex('logins_initiator_network').on('logins').column('initiator_network').execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropIndex('logins_initiator_network').ifExists().execute();
    for (const column of ['browser_token_hash', 'initiator_network', 'authorize_url_claimed_at', 'confirm_token_hash', 'confirmation']) {
      await db.schema.alterTable('logins').dropColumn(column).execute();
    }
  },
};
