// Prints the README's configuration table from server/config/settings.ts;
// with --write, replaces it in README.md between the settings markers.
import { readFileSync, writeFileSync } from 'node:fs';
import { SETTINGS } from '../server/config/settings.ts';

export const START = '<!-- settings:start -->';
export const END = '<!-- settings:end -->';

export function settingsTable(): string {
  const rows = Object.values(SETTINGS).map((spec) => {
    const shown = spec.default === '' ? '' : `\`${spec.default}\``;
    return `| \`${spec.env}\` | \`--${spec.flag}\` | ${shown} | ${spec.description.replaceAll('|', '\\|')} |`;
  });
  return ['| Variable | Flag | Default | Meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

export function withTable(readme: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error('README.md has no settings markers');
  return `${readme.slice(0, start + START.length)}\n${settingsTable()}\n${readme.slice(end)}`;
}

if (import.meta.main) {
  if (process.argv.includes('--write')) {
    const file = new URL('../README.md', import.meta.url);
    writeFileSync(file, withTable(readFileSync(file, 'utf8')));
  } else {
    console.log(settingsTable());
  }
}
