// A real Secret Service for keychain tests: a private D-Bus session bus
// (dbus-run-session) with GNOME Keyring's secrets component, its login
// keyring created and unlocked in a throwaway data directory, and
// libsecret's `secret-tool` as an independent peer to look at what was
// stored. All three come from Debian (dbus, gnome-keyring, libsecret-tools;
// .ci/prereqs.sh installs them).
//
// The keyring is unlocked with a throwaway password: with an empty one,
// gnome-keyring asks a prompter (gcr-prompter) to confirm an unencrypted
// keyring, which needs a display, so no "login" collection is created.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from './settings.ts';
import { runTool } from './tools.ts';

export interface SecretService {
  /** DBUS_SESSION_BUS_ADDRESS of the private bus. */
  busAddress: string;
  /** The secret stored under (service, username), as secret-tool reads it; undefined when there is none. */
  lookup(service: string, username: string): Promise<string | undefined>;
  /** Stores a secret under (service, username), as another program would. */
  store(service: string, username: string, secret: string): Promise<void>;
  /** Removes the secret under (service, username). */
  clear(service: string, username: string): Promise<void>;
  stop(): Promise<void>;
}

const HOW_TO_INSTALL = 'apt-get install -y dbus gnome-keyring libsecret-tools (source .ci/prereqs.sh does)';

export async function startSecretService(): Promise<SecretService> {
  for (const tool of ['/usr/bin/dbus-run-session', '/usr/bin/gnome-keyring-daemon', '/usr/bin/secret-tool']) {
    if (!existsSync(tool)) throw new Error(`${tool} not found: ${HOW_TO_INSTALL}`);
  }
  const home = tempDir('airlock-keyring-');
  const script = [
    'printf throwaway-keyring-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null',
    'echo "bus=$DBUS_SESSION_BUS_ADDRESS"',
    'exec sleep infinity',
  ].join('\n');
  // Its own process group, so stop() ends the bus, its daemon and the keyring with it.
  const session = spawn('dbus-run-session', ['--', 'bash', '-c', script], {
    env: { PATH: process.env.PATH ?? '', HOME: home.path, XDG_DATA_HOME: path.join(home.path, 'share'), LANG: 'C.UTF-8' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stderr = '';
  session.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const busAddress = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    session.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /^bus=(.+)$/m.exec(stdout);
      if (match) resolve(match[1]!);
    });
    session.on('exit', (code) => reject(new Error(`dbus-run-session exited (${code}) before the keyring was up: ${stderr}`)));
  });
  const env = { DBUS_SESSION_BUS_ADDRESS: busAddress };
  const secretTool = (args: string[], input?: string) =>
    input === undefined ? runTool('secret-tool', args, { env }) : runWithInput('secret-tool', args, env, input);
  return {
    busAddress,
    async lookup(service, username) {
      const result = await secretTool(['lookup', 'service', service, 'username', username]);
      if (result.code === 0) return result.stdout;
      if (result.code === 1 && result.stderr === '') return undefined; // nothing stored
      throw new Error(`secret-tool lookup failed (${result.code}): ${result.stderr}`);
    },
    async store(service, username, secret) {
      const result = await secretTool(['store', '--label', `${service}/${username}`, 'service', service, 'username', username], secret);
      if (result.code !== 0) throw new Error(`secret-tool store failed (${result.code}): ${result.stderr}`);
    },
    async clear(service, username) {
      const result = await secretTool(['clear', 'service', service, 'username', username]);
      if (result.code !== 0) throw new Error(`secret-tool clear failed (${result.code}): ${result.stderr}`);
    },
    async stop() {
      const exited = new Promise((resolve) => session.once('exit', resolve));
      try {
        process.kill(-session.pid!, 'SIGTERM');
      } catch {
        /* already gone */
      }
      if (session.exitCode === null && session.signalCode === null) await exited;
      home.remove();
    },
  };
}

function runWithInput(command: string, args: string[], env: Record<string, string>, input: string) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}
