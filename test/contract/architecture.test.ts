// The import rules of docs/architecture.md, checked: the domain knows
// nothing of gRPC or HTTP, and the client shares nothing with the server but
// the generated contract.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/airlock.ts';

function importsUnder(folder: string): Array<{ file: string; specifier: string }> {
  const root = path.join(REPO_ROOT, folder);
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .flatMap((entry) => {
      const file = path.join(entry.parentPath, entry.name);
      const source = readFileSync(file, 'utf8');
      return [...source.matchAll(/\bfrom\s+'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g)].map((m) => ({
        file: path.relative(REPO_ROOT, file),
        specifier: m[1] ?? m[2]!,
      }));
    });
}

const DOMAIN = ['server/login', 'server/oauth', 'server/tokens', 'server/sessions', 'server/channels', 'server/storage'];

describe('architecture', () => {
  it.each(DOMAIN)('%s imports neither gRPC, HTTP nor the transports', (folder) => {
    const offending = importsUnder(folder).filter(
      ({ specifier }) => specifier.startsWith('@grpc/') || specifier === 'node:http' || specifier === 'node:http2' || specifier.includes('/transport/'),
    );
    expect(offending).toEqual([]);
  });

  it('client/ imports the generated contract but no server code', () => {
    const imports = importsUnder('client');
    expect(imports.filter(({ specifier }) => /(^|\/)server\//.test(specifier))).toEqual([]);
    expect(imports.some(({ specifier }) => specifier.includes('proto/gen/'))).toBe(true);
  });
});
