// The SQLite statement cache under Kysely: a query run again reuses its
// prepared statement, results stay right across schema changes, and the cap holds.
import SQLite from 'better-sqlite3';
import { Kysely, sql, SqliteDialect } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { cachingStatements } from '../../server/storage/statement-cache.ts';

interface Db {
  items: { id: number; name: string; note?: string | null };
}

const opened: Kysely<Db>[] = [];
afterEach(async () => {
  for (const db of opened.splice(0)) await db.destroy();
});

function open(max?: number) {
  const sqlite = new SQLite(':memory:');
  let prepared = 0;
  const counting = new Proxy(sqlite, {
    get(target, key) {
      if (key === 'prepare')
        return (text: string) => {
          prepared += 1;
          return target.prepare(text);
        };
      const value = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const database = cachingStatements(counting, max);
  const db = new Kysely<Db>({ dialect: new SqliteDialect({ database }) });
  opened.push(db);
  return { db, database, prepared: () => prepared };
}

describe('the SQLite statement cache', () => {
  it('prepares a query once and runs it again with new parameters', async () => {
    const { db, prepared } = open();
    await sql`create table items (id integer primary key, name text not null)`.execute(db);
    for (let id = 1; id <= 50; id++)
      await db
        .insertInto('items')
        .values({ id, name: `item ${id}` })
        .execute();
    const before = prepared();
    for (let id = 1; id <= 50; id++) {
      const row = await db.selectFrom('items').select('name').where('id', '=', id).executeTakeFirst();
      expect(row?.name).toBe(`item ${id}`);
    }
    expect(prepared() - before).toBe(1);
    // 1 create + 1 insert + 1 select statement, each prepared once.
    expect(prepared()).toBe(3);
  });

  it('answers from the current schema after a column is added', async () => {
    const { db } = open();
    await sql`create table items (id integer primary key, name text not null)`.execute(db);
    await db.insertInto('items').values({ id: 1, name: 'a' }).execute();
    const all = () => db.selectFrom('items').selectAll().execute();
    expect(await all()).toEqual([{ id: 1, name: 'a' }]);
    await sql`alter table items add column note text`.execute(db);
    expect(await all()).toEqual([{ id: 1, name: 'a', note: null }]);
  });

  it('keeps at most its cap of statements', async () => {
    const { db, database } = open(4);
    await sql`create table items (id integer primary key, name text not null)`.execute(db);
    for (let n = 1; n <= 10; n++) await sql.raw(`select ${n} as n`).execute(db);
    expect(database.cached).toBe(4);
  });
});
