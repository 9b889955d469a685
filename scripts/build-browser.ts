// Bundles the browser build of the client (client/browser.ts) into one ESM
// file for web pages and webviews: `npm run build:browser [-- OUTDIR]`
// (default dist/browser). Refuses a bundle that pulls in node:* or grpc-js,
// which no browser can run.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { build, type Metafile } from 'esbuild';

export const BROWSER_ENTRY = path.resolve(import.meta.dirname, '../client/browser.ts');

/** Inputs a browser cannot load; an empty list is the only acceptable answer. */
export function forbiddenInputs(metafile: Metafile): string[] {
  return Object.keys(metafile.inputs).filter((input) =>
    /^node:|(^|\/)node_modules\/@grpc\/|(^|\/)node_modules\/proper-lockfile\//.test(input),
  );
}

export async function buildBrowserClient(outDir: string): Promise<{ file: string; metafile: Metafile }> {
  const file = path.join(outDir, 'airlock-client.js');
  const result = await build({
    entryPoints: [BROWSER_ENTRY],
    outfile: file,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    sourcemap: true,
    metafile: true,
    logLevel: 'silent',
  });
  const forbidden = forbiddenInputs(result.metafile);
  if (forbidden.length > 0) throw new Error(`the browser build must not include ${forbidden.join(', ')}`);
  writeFileSync(path.join(outDir, 'meta.json'), JSON.stringify(result.metafile));
  return { file, metafile: result.metafile };
}

if (import.meta.main) {
  const outDir = path.resolve(process.argv[2] ?? path.resolve(import.meta.dirname, '../dist/browser'));
  const { file } = await buildBrowserClient(outDir);
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}
