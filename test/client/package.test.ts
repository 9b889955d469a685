// The client as an app installs it: `npm pack` of client/ (its prepack builds
// dist/), `npm install` of that tarball into a temporary app outside the
// repository (its dependencies from the registry), then, on the oldest Node
// the README supports (22.18, which strips no types under node_modules): a
// script of that app that imports only the installed package signs in against
// a real Airlock server and PDS, with the consent given in real Chromium; the
// installed `airlock` bin reports the session and signs out; and the
// TypeScript compiler checks a file importing the package under both
// moduleResolution nodenext and bundler, strict and without skipLibCheck.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/airlock.ts';
import { consentInBrowser, launchBrowser, type TestBrowser } from '../support/consent.ts';
import { tempDir } from '../support/settings.ts';
import { startLoginWorld, type LoginWorld } from './fixtures.ts';

const OLDEST_NODE_VERSION = /^AIRLOCK_OLDEST_NODE_VERSION_PIN=(.+)$/m.exec(
  readFileSync(path.join(REPO_ROOT, '.ci/tools.env'), 'utf8'),
)![1]!;
const OLDEST_NODE =
  process.env.AIRLOCK_OLDEST_NODE ??
  path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'airlock-node', `node-v${OLDEST_NODE_VERSION}`, 'bin', 'node');
const TSC = path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
/** @types/node for the app's own code, as a Node 22 app would have it. */
const APP_TYPES_NODE = '@types/node@22.20.7';

let world: LoginWorld;
let browser: TestBrowser;
let app: ReturnType<typeof tempDir>;
let tarball: string;
/** The app's environment: the oldest Node first on PATH, so the bin's `#!/usr/bin/env node` runs on it too. */
let appEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  if (!existsSync(OLDEST_NODE)) throw new Error(`Node ${OLDEST_NODE_VERSION} not found at ${OLDEST_NODE}: run source .ci/prereqs.sh`);
  app = tempDir('airlock-client-app-');
  expect(path.relative(REPO_ROOT, app.path).startsWith('..')).toBe(true);
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', app.path], { cwd: path.join(REPO_ROOT, 'client'), encoding: 'utf8' }),
  ) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = path.join(app.path, packed[0]!.filename);
  writeFileSync(path.join(app.path, 'package.json'), JSON.stringify({ name: 'example-app', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--save-exact', tarball, APP_TYPES_NODE], { cwd: app.path, stdio: 'pipe' });
  appEnv = {
    PATH: `${path.dirname(OLDEST_NODE)}:${process.env.PATH ?? ''}`,
    HOME: app.path,
    XDG_CONFIG_HOME: path.join(app.path, 'config'),
    LANG: 'C.UTF-8',
  };
  world = await startLoginWorld();
  browser = await launchBrowser();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await world?.stop();
  app?.remove();
});

/** Runs a command in the app, asynchronously: the server under test runs in this process and must keep answering. */
async function inApp(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args, { cwd: app.path, env: appEnv, encoding: 'utf8' });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('@airlock/client as a packed, installed package', () => {
  it('ships built JavaScript, declarations and the generated contract, and depends on no server package', () => {
    const installed = path.join(app.path, 'node_modules/@airlock/client');
    const manifest = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as {
      private?: boolean;
      engines: { node: string };
      dependencies: Record<string, string>;
    };
    expect(manifest.private).toBeUndefined();
    expect(manifest.engines.node).toBe('>=22.18');
    const dependencies = Object.keys(manifest.dependencies);
    expect(dependencies).toContain('@grpc/grpc-js');
    for (const serverOnly of ['@atproto/oauth-client-node', 'better-sqlite3', 'pg', 'kysely', 'pino', 'livekit-server-sdk', 'jose']) {
      expect(dependencies).not.toContain(serverOnly);
    }
    for (const file of [
      'dist/client/index.js',
      'dist/client/index.d.ts',
      'dist/client/cli/main.js',
      'dist/proto/gen/airlock/auth/v1/auth.js',
      // Imported at runtime by the core (enums) and by the Connect transport.
      'dist/proto/gen-es/airlock/auth/v1/auth_pb.js',
      'dist/client/browser.js',
      'dist/client/browser.d.ts',
    ]) {
      expect(existsSync(path.join(installed, file)), file).toBe(true);
    }
    const shipped = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    expect(shipped.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))).toEqual([]);
    expect(shipped.some((file) => file.includes('/server/'))).toBe(false);
  });

  it(`signs in on Node ${OLDEST_NODE_VERSION} with only the installed package, consent in Chromium; the installed airlock bin reports and signs out`, async () => {
    const account = await world.pds.createAccount();
    const sessionFile = path.join(app.path, 'session.json');
    writeFileSync(
      path.join(app.path, 'sign-in.mjs'),
      `import { AirlockClient, FileStore } from '@airlock/client';
const [serverUrl, handle, sessionFile] = process.argv.slice(2);
const say = (event) => process.stdout.write(JSON.stringify(event) + '\\n');
const client = new AirlockClient({ serverUrl, store: new FileStore(sessionFile) });
try {
  const session = await client.login(handle, { openUrl: (url) => say({ type: 'open', url }) });
  const me = await client.whoAmI();
  const token = await client.getChannelToken('lobby');
  say({ type: 'signed-in', node: process.version, did: session.did, whoAmI: me.did, room: token.room, identity: token.identity });
} finally {
  client.close();
}
`,
    );
    const child = spawn(OLDEST_NODE, ['sign-in.mjs', world.serverUrl, account.handle, sessionFile], { cwd: app.path, env: appEnv });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const events: Array<Record<string, string>> = [];
    for await (const line of createInterface({ input: child.stdout })) {
      const event = JSON.parse(line) as Record<string, string>;
      events.push(event);
      if (event.type === 'open') {
        const page = await browser.context.newPage();
        await consentInBrowser(page, event.url!, account);
        await page.close();
      }
    }
    expect(await exited, stderr).toBe(0);
    expect(events.at(-1)).toEqual({
      type: 'signed-in',
      node: `v${OLDEST_NODE_VERSION}`,
      did: account.did,
      whoAmI: account.did,
      room: 'lobby',
      identity: account.did,
    });

    const bin = path.join(app.path, 'node_modules/.bin/airlock');
    const help = await inApp(bin, ['--help']);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: airlock /m);
    expect(help.stdout).toMatch(/^ {2}status /m);

    const status = await inApp(bin, ['status', '--json', '--session-file', sessionFile]);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      signedIn: true,
      server: { url: world.serverUrl },
      session: { did: account.did, handle: account.handle },
    });

    // A loaded test machine may need longer than the default 3 s to answer the revoke.
    const logout = await inApp(bin, ['logout', '--session-file', sessionFile, '--timeout', '30']);
    expect(logout, logout.stderr).toMatchObject({ code: 0, stdout: 'Signed out.\n' });
    expect((await inApp(bin, ['status', '--session-file', sessionFile])).code).toBe(3);
  }, 180_000);

  it('type-checks in the app under moduleResolution nodenext and bundler (strict, no skipLibCheck)', async () => {
    writeFileSync(
      path.join(app.path, 'check.ts'),
      `import { AirlockClient, FileStore, keychainLayeredStore, LayeredStore, MemoryStore, SignedOutError, type SessionInfo, type SecureStore } from '@airlock/client';
import { BrowserStore, createBrowserClient } from '@airlock/client/browser';

const client = new AirlockClient({ serverUrl: 'http://127.0.0.1:50051', appId: 'com.example.chat' });
const session: SessionInfo | undefined = await client.getSession();
const refreshBy: number | undefined = session?.refreshTokenExpiresAt.getTime();
const unsubscribe: () => void = client.onSessionChange((change) => console.log(change.type));
const keychain: SecureStore = { get: async () => undefined, set: async () => {}, delete: async () => {} };
const layered = new LayeredStore(new FileStore('session.json'), keychain);
const memory = new MemoryStore();
const keychained = new AirlockClient({ store: keychainLayeredStore({ appId: 'com.example.chat' }) });
console.log(refreshBy, unsubscribe, layered, memory, keychained, new SignedOutError('NOT_SIGNED_IN', 'x').code);
// The browser entry (Connect / gRPC-Web, localStorage) under its own export.
const inBrowser = createBrowserClient({ serverUrl: 'https://airlock.example.com', protocol: 'grpc-web' });
const browserSession: SessionInfo | undefined = await inBrowser.getSession();
console.log(browserSession, new BrowserStore({ key: 'com.example.chat' }));
// The declarations are real types, not any: each of these must be an error.
// @ts-expect-error getSession resolves to SessionInfo | undefined, not a string
const wrong: string = await client.getSession();
// @ts-expect-error no such method
client.signInWithoutBrowser();
console.log(wrong);
`,
    );
    const common = { strict: true, skipLibCheck: false, noEmit: true, target: 'ES2022', types: ['node'] };
    const configs = {
      'tsconfig.nodenext.json': { ...common, module: 'nodenext', moduleResolution: 'nodenext' },
      'tsconfig.bundler.json': { ...common, module: 'esnext', moduleResolution: 'bundler' },
    };
    for (const [file, compilerOptions] of Object.entries(configs)) {
      writeFileSync(path.join(app.path, file), JSON.stringify({ compilerOptions, files: ['check.ts'] }));
      const result = await inApp(OLDEST_NODE, [TSC, '-p', file]);
      expect(result.code, `${file}:\n${result.stdout}${result.stderr}`).toBe(0);
    }
    // And a type error does fail the check.
    writeFileSync(
      path.join(app.path, 'check.ts'),
      `import { AirlockClient } from '@airlock/client';\nconst port: number = new AirlockClient().store;\n`,
    );
    const broken = await inApp(OLDEST_NODE, [TSC, '-p', 'tsconfig.nodenext.json', '--skipLibCheck']); // the libraries were checked above
    expect(broken.code).not.toBe(0);
    expect(broken.stdout).toMatch(/check\.ts\(2,7\): error TS2322/);
  }, 300_000); // three full compiles (no skipLibCheck) on a shared two-core machine
});
