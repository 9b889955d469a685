// The `airlock` command line, on top of the client library.
import os from 'node:os';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import open from 'open';
import ora, { type Ora } from 'ora';
import { AirlockClient, type LoginProgress } from '../airlock-client.ts';
import { AirlockClientError, SignedOutError } from '../errors.ts';
import { defaultSessionFile, FileStore } from '../storage/file-store.ts';
import { EXIT, exitCodeFor } from './exit-codes.ts';
import { recordLoginInProgress } from './login-marker.ts';
import { terminalQr } from './qr.ts';
import { formatStatus, statusReport } from './status.ts';

export const DEFAULT_SERVER = 'http://127.0.0.1:50051';

export interface CliIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
}

interface GlobalOptions {
  json?: boolean;
  sessionFile?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/**
 * How the CLI's sessions are listed (ListSessions, `admin sessions list`):
 * "airlock-cli on <host>", kept printable and within the server's default
 * limit of 64 characters.
 */
export function cliLabel(hostname: string): string {
  const host = hostname.replace(/[\p{C}\p{Z}]+/gu, '') || 'unknown host';
  return [...`airlock-cli on ${host}`].slice(0, 64).join('');
}

/** Runs the CLI; resolves with the exit code. Never throws. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let client: AirlockClient | undefined;
  let json = argv.includes('--json');
  /** Set by a command whose report is not a failure but still tells scripts something (status: not signed in). */
  let exitCode: number = EXIT.OK;
  const sessionFileOf = (options: GlobalOptions) =>
    new FileStore(options.sessionFile || io.env.AIRLOCK_SESSION_FILE || defaultSessionFile()).path;
  const getClient = (options: GlobalOptions) => {
    json = Boolean(options.json);
    client ??= new AirlockClient({
      store: new FileStore(sessionFileOf(options)),
      connection: {
        caFile: options.caFile || io.env.AIRLOCK_CA_FILE || undefined,
        clientCertFile: options.certFile || io.env.AIRLOCK_CLIENT_CERT_FILE || undefined,
        clientKeyFile: options.keyFile || io.env.AIRLOCK_CLIENT_KEY_FILE || undefined,
      },
      clientLabel: cliLabel(os.hostname()),
    });
    return client;
  };
  const print = (human: string, data: unknown) => {
    io.stdout.write(json ? `${JSON.stringify(data)}\n` : `${human}\n`);
  };

  const program = new Command('airlock')
    .description('Sign in to an Airlock server with your ATProto identity and get LiveKit channel tokens.')
    .option('--json', 'print machine-readable JSON (one object per line) instead of text')
    .option('--session-file <path>', 'where the session is kept (env AIRLOCK_SESSION_FILE; default: the user config directory)')
    .option('--ca-file <path>', 'PEM CA certificate(s) to trust for an https server signed by a private CA (env AIRLOCK_CA_FILE)')
    .option('--cert-file <path>', 'PEM client certificate for a server that requires mTLS (env AIRLOCK_CLIENT_CERT_FILE)')
    .option('--key-file <path>', 'PEM private key of --cert-file (env AIRLOCK_CLIENT_KEY_FILE)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .addHelpText(
      'after',
      `
Exit codes:
  0 ok · 1 unexpected error · 2 usage · 3 not signed in · 4 server unreachable
  5 login denied · 6 login expired · 7 login failed · 8 refused by the server
  9 session file unreadable · 130 cancelled (Ctrl-C)`,
    );

  program
    .command('login')
    .description('sign in with a handle, a DID or a PDS URL')
    .argument('<identifier>', 'handle (alice.bsky.social), DID (did:plc:...) or PDS URL (https://...)')
    .addOption(new Option('--server <url>', 'Airlock server (https://host, http://host:port or host:port)').env('AIRLOCK_SERVER'))
    .option('--no-browser', 'print the URL but do not open a browser')
    .option('--qr', 'also print the URL as a QR code, to sign in on a phone')
    .action(async (identifier: string, options: { server?: string; browser: boolean; qr?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const airlock = getClient(globals);
      const stored = await airlock.store.load().catch(() => undefined);
      const server = options.server ?? stored?.loginServerUrl ?? stored?.session?.serverUrl ?? DEFAULT_SERVER;
      const started = await airlock.startLogin(server, identifier, { signal: io.signal });
      if (json) {
        print('', {
          type: 'login-started',
          loginId: started.loginId,
          authorizeUrl: started.authorizeUrl,
          expiresAt: started.expiresAt,
          serverUrl: started.serverUrl,
          confirmationCode: started.confirmationCode,
        });
      } else {
        io.stdout.write(`Open this URL in your browser to sign in:\n\n  ${started.authorizeUrl}\n\n`);
        if (started.confirmationCode) {
          io.stdout.write(`Your code: ${started.confirmationCode}\nIf the browser asks, continue only if it shows this same code.\n\n`);
        }
        if (options.qr) io.stdout.write(`Or scan it with your phone:\n\n${terminalQr(started.authorizeUrl)}\n\n`);
      }
      const forget = await recordLoginInProgress(sessionFileOf(globals), {
        serverUrl: started.serverUrl,
        identifier,
        startedAt: new Date().toISOString(),
        expiresAt: started.expiresAt.toISOString(),
      });
      if (options.browser) await openBrowser(started.authorizeUrl, io, json);

      // discardStdin off: ora's raw-mode stdin never starts reading here, which
      // would swallow Ctrl-C; a cooked terminal delivers SIGINT itself.
      const spinner = ora({
        stream: io.stderr,
        isEnabled: !json && io.stderr.isTTY === true,
        discardStdin: false,
        text: 'Waiting for you to sign in in the browser…',
      });
      spinner.start();
      try {
        const session = await airlock.awaitLogin(started.loginId, {
          signal: io.signal,
          onProgress: (progress) => updateSpinner(spinner, progress, started.expiresAt),
        });
        spinner.stop();
        print(`Signed in as @${session.handle} (${session.did})`, { type: 'signed-in', ...session });
      } catch (error) {
        spinner.stop();
        throw error;
      } finally {
        await forget();
      }
    });

  program
    .command('status')
    .description('show the server, who is signed in, token expiries and a login in progress (local; exit 3 when not signed in)')
    .action(async (_options: unknown, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const report = await statusReport(getClient(globals), sessionFileOf(globals), {
        envServer: io.env.AIRLOCK_SERVER || undefined,
        defaultServer: DEFAULT_SERVER,
      });
      print(formatStatus(report), report);
      if (!report.signedIn) exitCode = EXIT.NOT_SIGNED_IN;
    });

  program
    .command('whoami')
    .description('show who the server says you are')
    .action(async (_options: unknown, command: Command) => {
      const me = await getClient(command.optsWithGlobals<GlobalOptions>()).whoAmI({ signal: io.signal });
      print(`@${me.handle} (${me.did}) at ${me.serverUrl}`, me);
    });

  program
    .command('channels')
    .description('list the channels you may join')
    .action(async (_options: unknown, command: Command) => {
      const channels = await getClient(command.optsWithGlobals<GlobalOptions>()).listChannels({ signal: io.signal });
      const width = Math.max(2, ...channels.map((c) => c.id.length));
      const lines = channels.map((c) => {
        const rights =
          [c.canPublish && 'publish', c.canSubscribe && 'subscribe', c.canPublishData && 'data'].filter(Boolean).join(', ') || 'none';
        return `${c.id.padEnd(width)}  ${c.name}  (${rights})`;
      });
      print(lines.length > 0 ? lines.join('\n') : 'No channels.', { channels });
    });

  program
    .command('token')
    .description('get a LiveKit token for a channel')
    .argument('<channel>', 'channel id, e.g. lobby')
    .action(async (channel: string, _options: unknown, command: Command) => {
      const token = await getClient(command.optsWithGlobals<GlobalOptions>()).getChannelToken(channel, { signal: io.signal });
      print(
        [
          `Room:     ${token.room}`,
          `LiveKit:  ${token.livekitUrl}`,
          `Identity: ${token.identity}`,
          `Expires:  ${token.expiresAt?.toISOString() ?? 'unknown'}`,
          `Token:    ${token.token}`,
        ].join('\n'),
        token,
      );
    });

  program
    .command('logout')
    .description('sign out here and revoke the session on the server')
    .addOption(
      new Option('--timeout <seconds>', 'how long to wait for the server to revoke the session (the local sign-out happens anyway)')
        .env('AIRLOCK_LOGOUT_TIMEOUT')
        .default(3)
        .argParser(parseTimeoutSeconds),
    )
    .action(async (options: { timeout: number }, command: Command) => {
      const result = await getClient(command.optsWithGlobals<GlobalOptions>()).logout({ deadlineMs: options.timeout * 1000 });
      const human = !result.hadSession
        ? 'Not signed in.'
        : result.revoked
          ? 'Signed out.'
          : 'Signed out here; the server could not be reached to revoke the session.';
      print(human, { type: 'signed-out', ...result });
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; commander already printed its message.
      return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    const cancelled = io.signal.aborted;
    const code = cancelled ? EXIT.CANCELLED : exitCodeFor(error);
    const message = cancelled ? 'cancelled' : oneLine(error);
    if (json) io.stderr.write(`${JSON.stringify({ error: { code: errorCode(error, cancelled), message, exitCode: code } })}\n`);
    else io.stderr.write(`airlock: ${message}${hint(error)}\n`);
    return code;
  } finally {
    client?.close();
  }
}

/** Seconds, more than 0 and at most 10 minutes. */
function parseTimeoutSeconds(text: string): number {
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 600)
    throw new InvalidArgumentError('give seconds, more than 0 and at most 600');
  return seconds;
}

async function openBrowser(url: string, io: CliIo, json: boolean): Promise<void> {
  try {
    const child = await open(url);
    child.on('error', () => {}); // the launcher failing later must not crash the CLI
  } catch {
    if (!json) io.stderr.write('Could not open a browser; open the URL above yourself.\n');
  }
}

function updateSpinner(spinner: Ora, progress: LoginProgress, expiresAt: Date): void {
  const left = () => formatDuration(expiresAt.getTime() - Date.now());
  switch (progress.type) {
    case 'pending':
      spinner.text = `Waiting for you to sign in in the browser (expires in ${left()})…`;
      break;
    case 'heartbeat':
      if (!spinner.text.startsWith('Browser')) spinner.text = `Waiting for you to sign in in the browser (expires in ${left()})…`;
      break;
    case 'browser-opened':
      spinner.text = 'Browser opened the sign-in page; waiting for you to approve…';
      break;
    case 'reconnecting':
      spinner.text = `Lost the connection to the server; reconnecting (attempt ${progress.attempt})…`;
      break;
  }
}

function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, ' ').trim();
}

function errorCode(error: unknown, cancelled: boolean): string {
  if (cancelled) return 'CANCELLED';
  return error instanceof AirlockClientError ? error.code : 'UNEXPECTED';
}

function hint(error: unknown): string {
  return error instanceof SignedOutError ? ' (run `airlock login <handle>`)' : '';
}
