// proto/gen and proto/gen-es are committed (so installs need no code generation); this test
// regenerates it and fails on any drift from proto/.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/airlock.ts';
import { tempDir } from '../support/settings.ts';

const BUF = path.join(REPO_ROOT, 'node_modules/.bin/buf');
const out = tempDir('airlock-gen-');
afterAll(() => out.remove());

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

describe('generated contract', () => {
  it.each(['proto/gen', 'proto/gen-es'])('%s matches what buf generate writes from proto/', (dir) => {
    if (!existsSync(path.join(out.path, 'proto/gen'))) execFileSync(BUF, ['generate', '-o', out.path], { cwd: REPO_ROOT, stdio: 'pipe' });
    const committed = path.join(REPO_ROOT, dir);
    const fresh = path.join(out.path, dir);
    const committedFiles = filesUnder(committed).filter((f) => f !== 'descriptor.binpb');
    expect(filesUnder(fresh)).toEqual(committedFiles);
    for (const file of committedFiles) {
      expect(readFileSync(path.join(fresh, file), 'utf8'), `${file} is stale: run npm run generate`).toBe(
        readFileSync(path.join(committed, file), 'utf8'),
      );
    }
  });

  it('the reflection descriptor set matches buf build', () => {
    const fresh = path.join(out.path, 'descriptor.binpb');
    execFileSync(BUF, ['build', '-o', fresh], { cwd: REPO_ROOT, stdio: 'pipe' });
    expect(
      readFileSync(fresh).equals(readFileSync(path.join(REPO_ROOT, 'proto/gen/descriptor.binpb'))),
      'descriptor.binpb is stale: run npm run generate',
    ).toBe(true);
  });
});
