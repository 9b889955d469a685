// Shell blocks of README.md marked `<!-- MARK: NAME -->`, to run verbatim
// (with bash's strict options) against a real server, so the README cannot drift.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './airlock.ts';
import { runTool, type ToolResult } from './tools.ts';

export function readmeBlock(mark: string, name: string): string {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  for (const match of readme.matchAll(/<!-- ([\w-]+): ([\w-]+) -->\n```sh\n([\s\S]*?)\n```/g)) {
    if (match[1] === mark && match[2] === name) return match[3]!;
  }
  throw new Error(`README.md has no ${mark} block named ${name}`);
}

/** Runs the block as a careful reader would: any failing command fails it. */
export function runReadmeBlock(mark: string, name: string, env: Record<string, string>): Promise<ToolResult> {
  return runTool('bash', ['-o', 'errexit', '-o', 'pipefail', '-o', 'nounset', '-c', readmeBlock(mark, name)], { env });
}
