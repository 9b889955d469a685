// The import rules of docs/architecture.md, checked against the code: the
// "May import" table is read from the doc itself, so the two cannot drift.
// The domain knows nothing of gRPC or HTTP, the client shares nothing with the
// server but the generated contract, and no two folders import each other,
// even through a third.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/airlock.ts';

interface Import {
  file: string;
  specifier: string;
}

function importsUnder(folder: string): Import[] {
  const root = path.join(REPO_ROOT, folder);
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.parentPath.includes('node_modules'))
    .flatMap((entry) => {
      const file = path.join(entry.parentPath, entry.name);
      const source = readFileSync(file, 'utf8');
      return [...source.matchAll(/\bfrom\s+'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g)].map((m) => ({
        file: path.relative(REPO_ROOT, file),
        specifier: m[1] ?? m[2]!,
      }));
    });
}

/** The folder ("unit") a repository path belongs to, named as the doc's table names it. */
function unitOf(repoPath: string): string {
  const parts = repoPath.split('/');
  if (parts[0] === 'proto') return 'proto/gen';
  if (parts[0] === 'client' && parts[1] === 'rust') return 'client/rust';
  if (parts[0] !== 'server') return parts[0]!;
  if (parts[1] === 'transport') return `transport/${parts[2]}`;
  if (parts.length === 2) return parts[1]!.replace(/\.ts$/, '');
  return parts[1]!;
}

/** The doc's table: unit → the units it may import ('*' for anything). */
function mayImportTable(doc: string): Map<string, Set<string> | '*'> {
  const table = new Map<string, Set<string> | '*'>();
  for (const row of doc.matchAll(/^\| `([^`]+)` \|[^\n]*\| ([^|\n]+) \|$/gm)) {
    const unit = unitOf(row[1]!.replace(/\/$/, '/x'));
    const allowed = row[2]!.trim();
    table.set(unit, allowed === '`*`' ? '*' : new Set([...allowed.matchAll(/`([^`]+)`/g)].map((m) => m[1]!)));
  }
  return table;
}

/** Edges between units for the relative imports of these files. */
function unitEdges(imports: Import[]): Array<{ from: string; to: string; file: string; specifier: string }> {
  return imports
    .filter(({ specifier }) => specifier.startsWith('.'))
    .map(({ file, specifier }) => {
      const target = path.relative(REPO_ROOT, path.resolve(REPO_ROOT, path.dirname(file), specifier));
      return { from: unitOf(file), to: unitOf(target), file, specifier };
    })
    .filter(({ from, to }) => from !== to);
}

/** Every cycle in a directed graph, each as the list of its units. */
function findCycles(edges: Array<{ from: string; to: string }>): string[][] {
  const next = new Map<string, Set<string>>();
  for (const { from, to } of edges) next.set(from, (next.get(from) ?? new Set()).add(to));
  const cycles: string[][] = [];
  const seen = new Set<string>();
  const visit = (unit: string, trail: string[]) => {
    const at = trail.indexOf(unit);
    if (at >= 0) {
      const cycle = trail.slice(at);
      const key = [...cycle].sort().join(',');
      if (!seen.has(key)) {
        seen.add(key);
        cycles.push([...cycle, unit]);
      }
      return;
    }
    for (const to of next.get(unit) ?? []) visit(to, [...trail, unit]);
  };
  for (const unit of next.keys()) visit(unit, []);
  return cycles;
}

const doc = readFileSync(path.join(REPO_ROOT, 'docs/architecture.md'), 'utf8');
const table = mayImportTable(doc);
const DOMAIN = [
  'server/login',
  'server/oauth',
  'server/tokens',
  'server/sessions',
  'server/channels',
  'server/storage',
  'server/coordination',
];
const serverEdges = unitEdges([...importsUnder('server'), ...importsUnder('client')]);

describe('architecture', () => {
  it('the doc names every folder of server/ in its table', () => {
    const units = new Set(importsUnder('server').map(({ file }) => unitOf(file)));
    const missing = [...units].filter((unit) => !table.has(unit));
    expect(missing, 'add a row for each to docs/architecture.md').toEqual([]);
    expect(table.get('login')).toBeInstanceOf(Set);
  });

  it('every import between folders is one the "May import" table allows', () => {
    const forbidden = serverEdges
      .filter(({ from, to }) => {
        const allowed = table.get(from);
        return allowed !== '*' && !allowed?.has(to);
      })
      .map(({ file, specifier }) => `${file} imports ${specifier}`);
    expect(forbidden).toEqual([]);
  });

  it('no folder imports another that imports it back, directly or through others', () => {
    expect(findCycles(serverEdges)).toEqual([]);
  });

  it('finds a cycle when there is one (the checker itself works)', () => {
    expect(
      findCycles([
        { from: 'a', to: 'b' },
        { from: 'b', to: 'c' },
        { from: 'c', to: 'a' },
        { from: 'c', to: 'd' },
      ]),
    ).toEqual([['a', 'b', 'c', 'a']]);
    expect(unitOf('server/transport/grpc/server.ts')).toBe('transport/grpc');
    expect(unitOf('server/errors.ts')).toBe('errors');
    expect(unitOf('proto/gen/airlock/auth/v1/auth.ts')).toBe('proto/gen');
  });

  it.each(DOMAIN)('%s imports neither gRPC, HTTP nor the transports', (folder) => {
    const offending = importsUnder(folder).filter(
      ({ specifier }) =>
        specifier.startsWith('@grpc/') || specifier === 'node:http' || specifier === 'node:http2' || specifier.includes('/transport/'),
    );
    expect(offending).toEqual([]);
  });

  it('client/ imports the generated contract but no server code', () => {
    const imports = importsUnder('client');
    expect(imports.filter(({ specifier }) => /(^|\/)server\//.test(specifier))).toEqual([]);
    expect(imports.some(({ specifier }) => specifier.includes('proto/gen/'))).toBe(true);
  });
});
