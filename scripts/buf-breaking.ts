// `buf breaking` against the contract's base: main when on another branch,
// the previous commit when on main. Without a base (a first commit, a
// shallow clone) there is nothing to break, and it says so.
import { execFileSync, spawnSync } from 'node:child_process';

const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();

function baseRef(): string | undefined {
  const explicit = process.env.AIRLOCK_BREAKING_BASE;
  const branch = (() => {
    try {
      return git('rev-parse', '--abbrev-ref', 'HEAD');
    } catch {
      return '';
    }
  })();
  const candidate = explicit ?? (branch === 'main' || branch === 'HEAD' ? 'HEAD~1' : 'main');
  try {
    return git('rev-parse', '--verify', '--quiet', `${candidate}^{commit}`);
  } catch {
    return undefined;
  }
}

const base = baseRef();
if (!base) {
  console.log('buf breaking: no base commit to compare with; skipped');
  process.exit(0);
}
try {
  git('cat-file', '-e', `${base}:buf.yaml`);
} catch {
  console.log(`buf breaking: ${base.slice(0, 12)} has no buf.yaml yet; skipped`);
  process.exit(0);
}
const against = `.git#ref=${base},subdir=.`;
const result = spawnSync('npx', ['buf', 'breaking', '--against', against], { stdio: 'inherit' });
if (result.status === 0) console.log(`buf breaking: no breaking change against ${base.slice(0, 12)}`);
process.exit(result.status ?? 1);
