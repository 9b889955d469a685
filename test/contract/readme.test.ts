// The README's configuration table is the settings list: regenerate it with
// `node scripts/settings-table.ts --write` when a setting changes.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { withTable } from '../../scripts/settings-table.ts';
import { REPO_ROOT } from '../support/airlock.ts';

describe('README', () => {
  it('documents every setting exactly as the server declares it', () => {
    const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    expect(readme, 'run: node scripts/settings-table.ts --write').toBe(withTable(readme));
  });
});
