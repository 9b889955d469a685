// The channel catalog: the embedded default, the documented file format, and
// one-line start-up errors naming the offending entry.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCatalog, parseCatalog } from '../../server/channels/catalog.ts';
import { ConfigError } from '../../server/config/load.ts';
import { tempDir } from '../support/settings.ts';

const ALICE = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const BOB = 'did:web:bob.example.com';
const PREFIX = 'invalid AIRLOCK_CHANNELS_FILE (--channels-file): ';
const all = { publish: true, subscribe: true, publishData: true };

const dir = tempDir('airlock-catalog-');
afterAll(() => dir.remove());
let files = 0;
function file(content: string): string {
  const name = path.join(dir.path, `catalog-${files++}.json`);
  writeFileSync(name, content);
  return name;
}

function errorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).not.toContain('\n');
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const validEntries = [
  { id: 'lobby', name: 'Lobby', room: 'lobby', join: 'signed-in', permissions: all },
  {
    id: 'stage',
    name: 'Stage',
    room: 'stage-room',
    join: [ALICE, BOB],
    permissions: { publish: true, subscribe: true, publishData: false },
  },
  {
    id: 'stage-audience',
    name: 'Stage (audience)',
    room: 'stage-room',
    join: 'signed-in',
    permissions: { publish: false, subscribe: true, publishData: false },
  },
  { id: 'ops_2', name: 'Ops', join: [ALICE], permissions: { publish: false, subscribe: false, publishData: true } },
];

describe('the embedded default', () => {
  it('is one open channel, lobby, with every media permission', () => {
    const catalog = loadCatalog('');
    expect(catalog.all()).toEqual([{ id: 'lobby', name: 'Lobby', room: 'lobby', join: { kind: 'signed-in' }, permissions: all }]);
  });
});

describe('a catalog file', () => {
  it('loads every documented field, in order, with room defaulting to the id', () => {
    const catalog = loadCatalog(file(JSON.stringify({ channels: validEntries }, null, 2)));
    expect(catalog.all().map((c) => c.id)).toEqual(['lobby', 'stage', 'stage-audience', 'ops_2']);
    expect(catalog.find('stage')).toEqual({
      id: 'stage',
      name: 'Stage',
      room: 'stage-room',
      join: { kind: 'dids', dids: new Set([ALICE, BOB]) },
      permissions: { publish: true, subscribe: true, publishData: false },
    });
    expect(catalog.find('stage-audience')?.room).toBe('stage-room');
    expect(catalog.find('ops_2')?.room).toBe('ops_2');
    expect(catalog.find('nope')).toBeUndefined();
  });

  it('the example shipped in server/channels/channels.example.json loads', () => {
    const catalog = loadCatalog(path.join(import.meta.dirname, '../../server/channels/channels.example.json'));
    expect(catalog.all().map((c) => [c.id, c.room])).toEqual([
      ['lobby', 'lobby'],
      ['stage', 'stage'],
      ['stage-audience', 'stage'],
    ]);
  });

  it('accepts a UTF-8 byte order mark', () => {
    expect(loadCatalog(file(`\uFEFF${JSON.stringify({ channels: [validEntries[0]] })}`)).all()).toHaveLength(1);
  });

  it('accepts the 64-character maximum id and did:web with a port', () => {
    const id = `a${'b'.repeat(63)}`;
    const catalog = parseCatalog({ channels: [{ id, name: 'Long', join: ['did:web:localhost%3A2583'], permissions: all }] });
    expect(catalog.find(id)?.join).toEqual({ kind: 'dids', dids: new Set(['did:web:localhost%3A2583']) });
  });
});

describe('a bad catalog stops the server with one line naming the entry', () => {
  it('unreadable file', () => {
    const missing = path.join(dir.path, 'missing.json');
    expect(errorOf(() => loadCatalog(missing)).message).toBe(`${PREFIX}cannot read ${missing} (ENOENT)`);
    expect(errorOf(() => loadCatalog(dir.path)).message).toBe(`${PREFIX}cannot read ${dir.path} (EISDIR)`);
  });

  it('bad JSON', () => {
    const name = file('{ "channels": [ { "id": "lobby", } ] }');
    expect(errorOf(() => loadCatalog(name)).message).toMatch(new RegExp(`^${escapeRegExp(`${PREFIX}${name} is not valid JSON: `)}.+`));
  });

  it('duplicate id', () => {
    const entries = [validEntries[0], validEntries[1], { ...validEntries[3], id: 'stage' }];
    expect(errorOf(() => parseCatalog({ channels: entries })).message).toBe(
      `${PREFIX}channels[2] ("stage"): duplicate id, already used by channels[1]`,
    );
  });

  it('bad DID', () => {
    const entries = [validEntries[0], validEntries[1], { ...validEntries[3], id: 'ops', join: [ALICE, 'did:plc:NOTBASE32'] }];
    expect(errorOf(() => parseCatalog({ channels: entries })).message).toBe(
      `${PREFIX}channels[2] ("ops"): join[1]: "did:plc:NOTBASE32" is not a DID a user can sign in with (did:plc:<24 characters of a-z and 2-7> or did:web:<hostname>)`,
    );
    for (const bad of [
      'alice.test',
      'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK',
      'did:web:',
      'did:web:example.com/path',
      `${ALICE} `,
    ]) {
      expect(errorOf(() => parseCatalog({ channels: [{ ...validEntries[3], join: [bad] }] })).message).toContain('is not a DID');
    }
  });

  it('unknown key in an entry, in permissions, and at the top', () => {
    expect(errorOf(() => parseCatalog({ channels: [validEntries[0], { ...validEntries[1], admin: true }] })).message).toBe(
      `${PREFIX}channels[1] ("stage"): Unrecognized key: "admin"`,
    );
    const roomAdmin = { ...validEntries[1], permissions: { ...all, roomAdmin: true } };
    expect(errorOf(() => parseCatalog({ channels: [roomAdmin] })).message).toBe(
      `${PREFIX}channels[0] ("stage"): permissions: Unrecognized key: "roomAdmin"`,
    );
    expect(errorOf(() => parseCatalog({ channels: [validEntries[0]], version: 2 })).message).toBe(`${PREFIX}Unrecognized key: "version"`);
  });

  it('malformed id, without the id in the entry name when it is unreadable', () => {
    expect(errorOf(() => parseCatalog({ channels: [{ ...validEntries[0], id: 'Ops' }] })).message).toBe(
      `${PREFIX}channels[0] ("Ops"): id: must be 1 to 64 characters of a-z, 0-9, "-" and "_", starting with a letter or digit`,
    );
    for (const id of ['', '-ops', '_ops', 'a'.repeat(65), 'ops room', 'ops.1']) {
      expect(errorOf(() => parseCatalog({ channels: [{ ...validEntries[0], id }] })).message).toContain('id: must be 1 to 64 characters');
    }
    expect(errorOf(() => parseCatalog({ channels: [{ ...validEntries[0], id: 7 }] })).message).toBe(
      `${PREFIX}channels[0]: id: Invalid input: expected string, received number`,
    );
  });

  it('join that is neither "signed-in" nor a DID list, or an empty list', () => {
    expect(errorOf(() => parseCatalog({ channels: [{ ...validEntries[0], join: 'everyone' }] })).message).toBe(
      `${PREFIX}channels[0] ("lobby"): join: must be "signed-in" or a list of DIDs`,
    );
    expect(errorOf(() => parseCatalog({ channels: [{ ...validEntries[0], join: [] }] })).message).toBe(
      `${PREFIX}channels[0] ("lobby"): join: a DID list must not be empty`,
    );
  });

  it('missing or non-boolean permissions', () => {
    const { permissions: _omitted, ...noPermissions } = validEntries[0]!;
    expect(errorOf(() => parseCatalog({ channels: [noPermissions] })).message).toBe(
      `${PREFIX}channels[0] ("lobby"): permissions: Invalid input: expected object, received undefined`,
    );
    expect(errorOf(() => parseCatalog({ channels: [{ ...validEntries[0], permissions: { ...all, publish: 'yes' } }] })).message).toBe(
      `${PREFIX}channels[0] ("lobby"): permissions.publish: Invalid input: expected boolean, received string`,
    );
    expect(
      errorOf(() => parseCatalog({ channels: [{ ...validEntries[0], permissions: { publish: true, subscribe: true } }] })).message,
    ).toBe(`${PREFIX}channels[0] ("lobby"): permissions.publishData: Invalid input: expected boolean, received undefined`);
  });

  it('blank name, control characters, over-long room', () => {
    expect(errorOf(() => parseCatalog({ channels: [{ ...validEntries[0], name: '  ' }] })).message).toBe(
      `${PREFIX}channels[0] ("lobby"): name: name must not be blank`,
    );
    expect(errorOf(() => parseCatalog({ channels: [{ ...validEntries[0], name: 'Lob\u0007by' }] })).message).toBe(
      `${PREFIX}channels[0] ("lobby"): name: name must not contain control characters`,
    );
    expect(errorOf(() => parseCatalog({ channels: [{ ...validEntries[0], room: 'r'.repeat(129) }] })).message).toBe(
      `${PREFIX}channels[0] ("lobby"): room: room must be at most 128 characters`,
    );
  });

  it('no channels, or not a catalog at all', () => {
    expect(errorOf(() => parseCatalog({ channels: [] })).message).toBe(`${PREFIX}channels: the catalog needs at least one channel`);
    expect(errorOf(() => parseCatalog([validEntries[0]])).message).toBe(`${PREFIX}Invalid input: expected object, received array`);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
