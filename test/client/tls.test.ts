// The client library and the CLI against a server whose gRPC listener serves
// TLS and requires client certificates (mTLS): an https:// server URL, a
// private CA given as PEM or as a file, a client certificate; a real login
// and WhoAmI over it. Without the CA the failure says the certificate is not
// trusted and how to fix it; without a client certificate the server refuses.
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AirlockClient } from '../../client/airlock-client.ts';
import { InvalidTlsOptionsError, ServerUnavailableError } from '../../client/errors.ts';
import type { ConnectionOptions } from '../../client/grpc/connection.ts';
import { MemoryStore } from '../../client/storage/memory-store.ts';
import { REPO_ROOT } from '../support/airlock.ts';
import { issue, makeCa, type Pem } from '../support/certificates.ts';
import { tempDir } from '../support/settings.ts';
import { runTool, startTool } from '../support/tools.ts';
import { approve, rejectionOf, startLoginWorld, type LoginWorld } from './fixtures.ts';

const dir = tempDir('airlock-client-tls-');
let ca: Pem;
let clientPem: Pem;
let world: LoginWorld;
let serverUrl: string;
const clients: AirlockClient[] = [];

beforeAll(async () => {
  ca = await makeCa(dir.path, 'ca');
  const server = await issue(ca, dir.path, 'server');
  clientPem = await issue(ca, dir.path, 'client');
  const certFile = path.join(dir.path, 'live.pem');
  const keyFile = path.join(dir.path, 'live.key');
  copyFileSync(server.certFile, certFile);
  copyFileSync(server.keyFile, keyFile);
  // TLS on gRPC only: the browser's part of the login stays on the loopback HTTP listener.
  world = await startLoginWorld({
    AIRLOCK_TLS_CERT_FILE: certFile,
    AIRLOCK_TLS_KEY_FILE: keyFile,
    AIRLOCK_TLS_LISTENERS: 'grpc',
    AIRLOCK_TLS_CLIENT_CA_FILE: ca.certFile,
  });
  serverUrl = `https://localhost:${world.server.grpcPort}`;
});

afterAll(async () => {
  for (const client of clients) client.close();
  await world?.stop();
  dir.remove();
});

function client(connection: ConnectionOptions): AirlockClient {
  const made = new AirlockClient({ store: new MemoryStore(), serverUrl, connection });
  clients.push(made);
  return made;
}

describe('the client over TLS', () => {
  it('signs in and calls WhoAmI at an https:// server with a private CA (PEM) and a client certificate (files)', async () => {
    const airlock = client({ ca: ca.cert, clientCertFile: clientPem.certFile, clientKeyFile: clientPem.keyFile });
    const account = await world.pds.createAccount();
    const session = await airlock.login(account.handle, { openUrl: (url) => approve(url, account) });
    expect(session.serverUrl).toBe(serverUrl);
    expect(await airlock.whoAmI()).toMatchObject({ did: account.did, handle: account.handle, serverUrl });
  });

  it('says the certificate is not trusted, and how to fix it, without the CA', async () => {
    const error = await rejectionOf(
      client({ clientCertFile: clientPem.certFile, clientKeyFile: clientPem.keyFile }).startLogin(serverUrl, 'alice.test'),
    );
    expect(error).toBeInstanceOf(ServerUnavailableError);
    expect((error as Error).message).toMatch(
      /^cannot reach the server: its TLS certificate is not trusted \(.*certificate.*\); if a private CA signed it, pass that CA \(the ca or caFile option, airlock --ca-file or AIRLOCK_CA_FILE\)$/,
    );
  });

  it('is refused by a server that requires a client certificate when it has none', async () => {
    const error = await rejectionOf(client({ caFile: ca.certFile }).startLogin(serverUrl, 'alice.test'));
    expect(error).toBeInstanceOf(ServerUnavailableError);
    expect((error as Error).message).toBe(
      'cannot reach the server: it refused our TLS client certificate (certificate required); it requires one signed by its client CA (the clientCert/clientKey options, airlock --cert-file/--key-file)',
    );
  });

  it('names an unreadable CA file', async () => {
    const missing = path.join(dir.path, 'missing.pem');
    const error = await rejectionOf(client({ caFile: missing }).startLogin(serverUrl, 'alice.test'));
    expect(error).toBeInstanceOf(InvalidTlsOptionsError);
    expect((error as Error).message).toBe(`cannot read the CA certificate file ${missing}: ENOENT`);
  });
});

describe('the CLI over TLS', () => {
  const CLI = path.join(REPO_ROOT, 'client/cli/main.ts');

  it('signs in with --ca-file/--cert-file/--key-file, then whoami with AIRLOCK_CA_FILE and friends; without the CA it exits 4 and says why', async () => {
    const sessionFile = path.join(dir.path, 'cli-session.json');
    const account = await world.pds.createAccount();
    const login = startTool(
      process.execPath,
      [
        CLI,
        'login',
        account.handle,
        '--server',
        serverUrl,
        '--no-browser',
        '--json',
        '--ca-file',
        ca.certFile,
        '--cert-file',
        clientPem.certFile,
        '--key-file',
        clientPem.keyFile,
      ],
      { env: { AIRLOCK_SESSION_FILE: sessionFile } },
    );
    const [line] = await login.waitFor(/^\{"type":"login-started".*$/m);
    await approve((JSON.parse(line) as { authorizeUrl: string }).authorizeUrl, account);
    const done = await login.done;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain('"type":"signed-in"');

    const tlsEnv = {
      AIRLOCK_SESSION_FILE: sessionFile,
      AIRLOCK_CA_FILE: ca.certFile,
      AIRLOCK_CLIENT_CERT_FILE: clientPem.certFile,
      AIRLOCK_CLIENT_KEY_FILE: clientPem.keyFile,
    };
    const whoami = await runTool(process.execPath, [CLI, 'whoami'], { env: tlsEnv });
    expect(whoami.code, whoami.stderr).toBe(0);
    expect(whoami.stdout.trim()).toBe(`@${account.handle} (${account.did}) at ${serverUrl}`);

    const untrusted = await runTool(process.execPath, [CLI, 'whoami'], { env: { ...tlsEnv, AIRLOCK_CA_FILE: '' } });
    expect(untrusted.code).toBe(4);
    expect(untrusted.stderr).toMatch(/^airlock: cannot reach the server: its TLS certificate is not trusted .*--ca-file/m);
  });
});
