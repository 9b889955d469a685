// The `airlock` CLI end to end, in a real terminal (tmux), against a real
// Airlock server and a real local PDS: login (with --no-browser; the user's
// part is played through the PDS's API with the URL the CLI printed),
// whoami, channels, token lobby, logout, --json, exit codes, one-line
// errors and Ctrl-C, `status` (before, during and after a login) and
// `login --qr`, whose QR code is read back off the screen with a QR decoder.
// The CLI runs through its shebang, as `npx airlock` would.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import jsQRModule from 'jsqr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/airlock.ts';
import { decideViaApi, deliverCallback, openAuthorizePage } from '../support/consent.ts';
import type { TestAccount } from '../support/pds.ts';
import { tempDir } from '../support/settings.ts';
import { cliLabel } from '../../client/cli/program.ts';
import { startLoginWorld, type LoginWorld } from './fixtures.ts';

const CLI = path.join(REPO_ROOT, 'client/cli/main.ts');

// jsqr is CommonJS typed as an ES module: Node hands its function over as the default export itself.
const jsQR = jsQRModule as unknown as typeof jsQRModule.default;

let world: LoginWorld;
let home: ReturnType<typeof tempDir>;
let tmux: Tmux;
let cliEnv: Record<string, string>;

class Tmux {
  readonly socket: string;
  #step = 0;

  constructor(socket: string, env: Record<string, string>) {
    this.socket = socket;
    const envArgs = Object.entries(env).flatMap(([key, value]) => ['-e', `${key}=${value}`]);
    this.#tmux(['new-session', '-d', '-s', 'cli', '-x', '250', '-y', '50', ...envArgs, 'bash --norc --noprofile']);
    this.#tmux(['set-option', '-g', 'history-limit', '10000']);
  }

  #tmux(args: string[]): string {
    return execFileSync('tmux', ['-S', this.socket, ...args], { encoding: 'utf8' });
  }

  /** The whole pane, wrapped lines joined. */
  screen(): string {
    return this.#tmux(['capture-pane', '-p', '-J', '-S', '-', '-t', 'cli']);
  }

  type(text: string): void {
    this.#tmux(['send-keys', '-t', 'cli', '-l', text]);
    this.#tmux(['send-keys', '-t', 'cli', 'Enter']);
  }

  ctrlC(): void {
    this.#tmux(['send-keys', '-t', 'cli', 'C-c']);
  }

  /** Runs a command line; returns a handle to wait for its output and exit code. */
  run(commandLine: string) {
    const step = ++this.#step;
    const begin = `<<step ${step}>>`;
    const end = `<<end ${step}:`;
    this.type(`clear; tmux -S ${this.socket} clear-history; echo '${begin}'; ${commandLine}; echo "${end}$?>>"`);
    const output = () => {
      const text = this.screen();
      const from = text.lastIndexOf(`${begin}\n`);
      return from < 0 ? '' : text.slice(from + begin.length + 1);
    };
    return {
      output,
      waitFor: (pattern: RegExp, timeoutMs = 30_000) =>
        waitFor(() => pattern.exec(output()), `${pattern} after \`${commandLine}\``, timeoutMs, output),
      done: async (timeoutMs = 30_000) => {
        const match = await waitFor(
          () => new RegExp(`${escapeRegExp(end)}(\\d+)>>`).exec(output()),
          `exit of \`${commandLine}\``,
          timeoutMs,
          output,
        );
        const text = output();
        return { code: Number(match[1]), text: text.slice(0, text.indexOf(end)).trimEnd() };
      },
    };
  }

  kill(): void {
    try {
      this.#tmux(['kill-server']);
    } catch {
      /* already gone */
    }
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function waitFor<T>(check: () => T | null | undefined, what: string, timeoutMs: number, screen: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the terminal shows:\n${screen()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

beforeAll(async () => {
  world = await startLoginWorld();
  home = tempDir('airlock-cli-home-');
  cliEnv = {
    PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`,
    HOME: home.path,
    // The default session file lives under the user's config directory.
    XDG_CONFIG_HOME: path.join(home.path, 'config'),
    AIRLOCK_SERVER: world.serverUrl,
    HISTFILE: '/dev/null', // bash must not write into the temporary home while it is removed
    TERM: 'xterm-256color',
    LANG: 'C.UTF-8',
    // The revoke's default 3 s is for people; a loaded test machine may need longer to answer.
    AIRLOCK_LOGOUT_TIMEOUT: '30',
  };
  tmux = new Tmux(path.join(home.path, 'tmux.sock'), cliEnv);
  tmux.type(`cd ${REPO_ROOT}`);
});

afterAll(async () => {
  tmux?.kill();
  home?.remove();
  await world?.stop();
});

/** Plays the user in the browser for a URL the CLI printed; resolves once the callback page loaded. */
async function userSignsIn(url: string, account: TestAccount, onPageOpened?: () => Promise<void>) {
  const page = await openAuthorizePage(url);
  await onPageOpened?.();
  const callback = await decideViaApi(page, account);
  expect((await deliverCallback(callback)).status).toBe(200);
}

const URL_PATTERN = /(http:\/\/127\.0\.0\.1:\d+\/\S+)/;

describe('airlock CLI in a terminal', () => {
  it('login, whoami, channels, token lobby, logout', async () => {
    const account = await world.pds.createAccount();
    const sessionFile = path.join(home.path, 'config', 'airlock', 'session.json');

    const login = tmux.run(`${CLI} login ${account.handle} --no-browser`);
    const [, url] = await login.waitFor(URL_PATTERN);
    await login.waitFor(/Waiting for you to sign in in the browser \(expires in \d+m\d\ds\)/); // the live spinner
    await userSignsIn(url!, account, async () => {
      await login.waitFor(/Browser opened the sign-in page; waiting for you to approve/);
    });
    const loggedIn = await login.done();
    expect(loggedIn.code).toBe(0);
    expect(loggedIn.text).toContain('Open this URL in your browser to sign in:');
    expect(loggedIn.text).toMatch(/^Your code: [A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}$/m);
    expect(loggedIn.text).toContain(`Signed in as @${account.handle} (${account.did})`);
    expect(statSync(sessionFile).mode & 0o777).toBe(0o600);
    // The session is listed as the CLI on this host.
    expect((await world.server.auth.sessions.listLive(account.did)).map((s) => s.clientLabel)).toEqual([cliLabel(os.hostname())]);

    const whoami = await tmux.run(`${CLI} whoami`).done();
    expect(whoami).toEqual({ code: 0, text: `@${account.handle} (${account.did}) at ${world.serverUrl}` });

    const channels = await tmux.run(`${CLI} channels`).done();
    expect(channels.code).toBe(0);
    expect(channels.text).toMatch(/^lobby\s+Lobby\s+\(publish, subscribe, data\)$/m);

    const token = await tmux.run(`${CLI} token lobby`).done();
    expect(token.code).toBe(0);
    expect(token.text).toMatch(/^Room:\s+lobby$/m);
    expect(token.text).toContain(`Identity: ${account.did}`);
    expect(token.text).toMatch(/^Token:\s+eyJ[\w-]+\.[\w-]+\.[\w-]+$/m);

    const json = await tmux.run(`${CLI} whoami --json`).done();
    expect(json.code).toBe(0);
    expect(JSON.parse(json.text)).toMatchObject({ did: account.did, handle: account.handle, serverUrl: world.serverUrl });

    const logout = await tmux.run(`${CLI} logout`).done();
    expect(logout).toEqual({ code: 0, text: 'Signed out.' });
    expect(() => statSync(sessionFile)).toThrow(/ENOENT/);

    const after = await tmux.run(`${CLI} whoami`).done();
    expect(after).toEqual({ code: 3, text: 'airlock: not signed in (run `airlock login <handle>`)' });
  });

  it('Ctrl-C during login cancels cleanly with exit code 130', async () => {
    const account = await world.pds.createAccount();
    const login = tmux.run(`${CLI} login ${account.handle} --no-browser`);
    await login.waitFor(/Waiting for you to sign in/);
    const pressed = Date.now();
    tmux.ctrlC();
    const result = await login.done(5_000);
    expect(Date.now() - pressed).toBeLessThan(3_000);
    expect(result.code).toBe(130);
    expect(result.text.split('\n').at(-1)).toBe('airlock: cancelled');
  });

  it('errors are one line with a documented exit code', async () => {
    const unreachable = await tmux.run(`${CLI} login alice.test --server http://127.0.0.1:9 --no-browser`).done();
    expect(unreachable.code).toBe(4);
    expect(unreachable.text).toMatch(/^airlock: cannot reach the server: .*ECONNREFUSED.*$/);
    expect(unreachable.text.split('\n')).toHaveLength(1);

    const usage = await tmux.run(`${CLI} token`).done();
    expect(usage.code).toBe(2);
    const badTimeout = await tmux.run(`${CLI} logout --timeout 0`).done();
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.text).toContain('give seconds, more than 0 and at most 600');

    const json = await tmux.run(`${CLI} channels --json`).done();
    expect(json.code).toBe(3);
    expect(JSON.parse(json.text)).toEqual({ error: { code: 'SIGNED_OUT', message: 'not signed in', exitCode: 3 } });
  });

  it('login --json prints one JSON object per event for scripts', async () => {
    const account = await world.pds.createAccount();
    const login = tmux.run(`${CLI} login ${account.handle} --no-browser --json`);
    const [line] = await login.waitFor(/^\{"type":"login-started".*\}$/m);
    const started = JSON.parse(line) as { authorizeUrl: string; serverUrl: string; confirmationCode: string };
    expect(started.serverUrl).toBe(world.serverUrl);
    expect(started.confirmationCode).toMatch(/^[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}$/);
    await userSignsIn(started.authorizeUrl, account);
    const result = await login.done();
    expect(result.code).toBe(0);
    const signedIn = JSON.parse(result.text.split('\n').at(-1)!) as Record<string, unknown>;
    expect(signedIn).toMatchObject({ type: 'signed-in', did: account.did, handle: account.handle });
    // The tokens stay in the session file; the terminal never shows them.
    const stored = JSON.parse(readFileSync(path.join(home.path, 'config', 'airlock', 'session.json'), 'utf8')) as {
      session: { accessToken: string; refreshToken: string };
    };
    expect(result.text).not.toContain(stored.session.accessToken);
    expect(result.text).not.toContain(stored.session.refreshToken);
    expect((await tmux.run(`${CLI} logout --json`).done()).text).toBe('{"type":"signed-out","hadSession":true,"revoked":true}');
  });

  it('status before, during and after a login started with --qr, whose QR code reads back as the link', async () => {
    const account = await world.pds.createAccount();
    const before = await tmux.run(`${CLI} status`).done();
    expect(before.code).toBe(3);
    expect(before.text).toMatch(/^Server: +http:\/\/127\.0\.0\.1:\d+ \((env|last-login)\)$/m);
    expect(before.text).toContain('Signed in as:  nobody (run `airlock login <handle>`)');

    const login = tmux.run(`${CLI} login ${account.handle} --no-browser --qr`);
    const [, url] = await login.waitFor(URL_PATTERN);
    await login.waitFor(/Waiting for you to sign in/);
    expect(decodeTerminalQr(login.output())).toBe(url);

    // Another terminal sees the login in progress (the CLI process, not tmux: the pane is busy).
    const during = JSON.parse(statusJson().stdout) as { signedIn: boolean; loginInProgress: Record<string, unknown> | null };
    expect(during.signedIn).toBe(false);
    expect(during.loginInProgress).toMatchObject({ identifier: account.handle, serverUrl: world.serverUrl });

    await userSignsIn(url!, account);
    expect((await login.done()).code).toBe(0);

    const after = await tmux.run(`${CLI} status`).done();
    expect(after.code).toBe(0);
    expect(after.text).toContain(`Server:        ${world.serverUrl}\n`);
    expect(after.text).toContain(`Signed in as:  @${account.handle} (${account.did})`);
    expect(after.text).toMatch(/^Access token: +expires \d{4}-\d\d-\d\dT[\d:.]+Z \(in \d+m\d\ds\)$/m);
    expect(after.text).toMatch(/^Refresh token: expires \d{4}-\d\d-\d\dT[\d:.]+Z \(in \d+[dhms]/m);
    expect(after.text).not.toMatch(/^Login:/m);

    const json = statusJson();
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as {
      signedIn: boolean;
      server: unknown;
      session: Record<string, unknown>;
      loginInProgress: unknown;
    };
    expect(report).toMatchObject({ signedIn: true, server: { url: world.serverUrl, source: 'session' }, loginInProgress: null });
    expect(report.session).toMatchObject({ did: account.did, handle: account.handle, accessTokenExpired: false });
    expect(Date.parse(report.session.refreshTokenExpiresAt as string)).toBeGreaterThan(
      Date.parse(report.session.accessTokenExpiresAt as string),
    );
    // Only what is needed to say who and until when: no token is ever printed.
    const stored = readFileSync(path.join(home.path, 'config', 'airlock', 'session.json'), 'utf8');
    const { accessToken, refreshToken } = (JSON.parse(stored) as { session: { accessToken: string; refreshToken: string } }).session;
    expect(json.stdout).not.toContain(accessToken);
    expect(json.stdout).not.toContain(refreshToken);
    expect(after.text).not.toContain(refreshToken);

    expect((await tmux.run(`${CLI} logout`).done()).code).toBe(0);
  });
});

function statusJson(): { code: number; stdout: string } {
  try {
    return { code: 0, stdout: execFileSync(CLI, ['status', '--json'], { env: cliEnv, encoding: 'utf8' }) };
  } catch (error) {
    const failed = error as { status: number; stdout: string };
    return { code: failed.status, stdout: failed.stdout };
  }
}

/**
 * Reads the QR code the CLI printed: half-block characters, two modules
 * each, light modules drawn in the foreground. Rasterised with a quiet zone
 * and handed to a real QR decoder (jsQR).
 */
function decodeTerminalQr(screen: string): string | undefined {
  const lines = screen.split('\n');
  const start = lines.findIndex((line) => line.startsWith('Or scan it with your phone:'));
  expect(start, 'the QR block heading').toBeGreaterThanOrEqual(0);
  const block: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (/^[█▀▄ ]+$/.test(line) && /[█▀▄]/.test(line)) block.push(line);
    else if (block.length > 0) break;
  }
  const dark: boolean[][] = [];
  for (const line of block) {
    const cells = [...line];
    dark.push(cells.map((c) => c === ' ' || c === '▄'));
    dark.push(cells.map((c) => c === ' ' || c === '▀'));
  }
  dark.shift(); // the upper half of the top border is the terminal's background, not the code
  const quiet = 4;
  const scale = 6;
  const modules = Math.max(...dark.map((row) => row.length)) + 2 * quiet;
  const height = (dark.length + 2 * quiet) * scale;
  const width = modules * scale;
  const pixels = new Uint8ClampedArray(width * height * 4).fill(255);
  dark.forEach((row, y) => {
    row.forEach((isDark, x) => {
      if (!isDark) return;
      for (let dy = 0; dy < scale; dy++) {
        for (let dx = 0; dx < scale; dx++) {
          const at = (((y + quiet) * scale + dy) * width + (x + quiet) * scale + dx) * 4;
          pixels.fill(0, at, at + 3);
        }
      }
    });
  });
  return jsQR(pixels, width, height)?.data;
}
