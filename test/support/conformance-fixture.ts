// The real world for clients written in other languages (the Rust crate's
// `cargo test`): a PLC and PDS from @atproto/dev-env, Airlock servers as
// child processes (`node server/main.ts`), and a small loopback HTTP control
// API that plays the user through the PDS provider's JSON API (consentViaApi)
// and restarts servers.
//
//   node test/support/conformance-fixture.ts
//
// prints one JSON line: {"grpc": "http://127.0.0.1:P", "control": "http://127.0.0.1:C"}
// and exits when its stdin closes (the test process went away) or on POST /shutdown.
//
// Control API (POST, JSON bodies and answers):
//   /account                           -> {handle, did, password}
//   /approve {url, handle, decision?}  -> {status, body}   the user opens the link, signs in and
//                                        decides; the page the browser ends on (the link's own
//                                        page when it no longer leads to the PDS)
//   /open {url}                        -> {tab}          the user opens the link (and stops there)
//   /decide {tab, handle, decision?}   -> {status, body} ...and later signs in and decides in that tab
//   /stuck-did                         -> {did}          a DID whose PDS accepts connections and never answers
//   /servers {env?}                    -> {id, grpc}     another Airlock server on the same PDS
//   /servers/stop {id, signal?}        -> {}             stops it (SIGTERM or SIGKILL)
//   /servers/start {id}                -> {grpc}         starts it again on the same ports and data
//   /shutdown                          -> {}
import http from 'node:http';
import net from 'node:net';
import { startChild, type ChildAirlock } from './airlock.ts';
import { decideViaApi, deliverCallback, openAuthorizePage, rawRequest, type AuthorizePage, type Decision } from './consent.ts';
import { startPds, type TestAccount } from './pds.ts';
import { tempDir } from './settings.ts';

interface ManagedServer {
  env: Record<string, string>;
  child: ChildAirlock | undefined;
  dir: { path: string; remove(): void };
}

const pds = await startPds();
const accounts = new Map<string, TestAccount>();
const servers = new Map<string, ManagedServer>();
const tabs = new Map<string, AuthorizePage>();
let nextId = 0;

async function startServer(extra: Record<string, string> = {}): Promise<{ id: string; grpc: string }> {
  const dir = tempDir('airlock-conformance-');
  const env = {
    ...pds.airlockEnv(),
    AIRLOCK_DATA_DIR: dir.path,
    AIRLOCK_LOGIN_RATE_PER_MINUTE: '10000',
    AIRLOCK_SHUTDOWN_GRACE: '1s',
    ...extra,
  };
  const child = await startChild(env);
  const id = String(nextId++);
  // A restarted server must be reachable where the first one was: same ports.
  servers.set(id, {
    env: { ...env, AIRLOCK_GRPC_ADDRESS: `127.0.0.1:${child.grpcPort}`, AIRLOCK_HTTP_ADDRESS: `127.0.0.1:${child.httpPort}` },
    child,
    dir,
  });
  return { id, grpc: `http://${child.grpcTarget}` };
}

function accountOf(handle: unknown): TestAccount {
  const account = accounts.get(String(handle));
  if (!account) throw new Error(`unknown account ${String(handle)}`);
  return account;
}

function serverOf(id: unknown): ManagedServer {
  const server = servers.get(String(id));
  if (!server) throw new Error(`no server ${String(id)}`);
  return server;
}

async function shutdown(): Promise<never> {
  for (const server of servers.values()) {
    await server.child?.stop('SIGKILL').catch(() => {});
    server.dir.remove();
  }
  await pds.stop().catch(() => {});
  process.exit(0);
}

const routes: Record<string, (body: Record<string, unknown>) => Promise<unknown>> = {
  async '/account'() {
    const account = await pds.createAccount();
    accounts.set(account.handle, account);
    return { handle: account.handle, did: account.did, password: account.password };
  },
  async '/approve'(body) {
    const account = accountOf(body.handle);
    let tab: AuthorizePage;
    try {
      tab = await openAuthorizePage(String(body.url));
    } catch (error) {
      // The link itself answered (cancelled, expired, finished): that is the page the user sees.
      const link = await rawRequest(String(body.url));
      if (link.status >= 300 && link.status < 400) throw error;
      return { status: link.status, body: link.body };
    }
    const page = await deliverCallback(await decideViaApi(tab, account, (body.decision as Decision | undefined) ?? 'approve'));
    return { status: page.status, body: page.body };
  },
  async '/open'(body) {
    const tab = String(nextId++);
    tabs.set(tab, await openAuthorizePage(String(body.url)));
    return { tab };
  },
  async '/decide'(body) {
    const tab = tabs.get(String(body.tab));
    if (!tab) throw new Error(`no tab ${String(body.tab)}`);
    const page = await deliverCallback(
      await decideViaApi(tab, accountOf(body.handle), (body.decision as Decision | undefined) ?? 'approve'),
    );
    return { status: page.status, body: page.body };
  },
  async '/stuck-did'() {
    const stuck = net.createServer(() => {}); // accepts, never answers
    stuck.unref();
    await new Promise<void>((resolve) => stuck.listen(0, '127.0.0.1', resolve));
    return { did: await pds.createDidPointingAt(`http://127.0.0.1:${(stuck.address() as net.AddressInfo).port}`) };
  },
  async '/servers'(body) {
    return startServer((body.env as Record<string, string> | undefined) ?? {});
  },
  async '/servers/stop'(body) {
    const server = serverOf(body.id);
    await server.child?.stop((body.signal as NodeJS.Signals | undefined) ?? 'SIGTERM');
    server.child = undefined;
    return {};
  },
  async '/servers/start'(body) {
    const server = serverOf(body.id);
    if (!server.child) server.child = await startChild(server.env);
    return { grpc: `http://${server.child.grpcTarget}` };
  },
  async '/shutdown'() {
    setImmediate(() => void shutdown());
    return {};
  },
};

const control = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const route = routes[req.url ?? ''];
    const reply = (status: number, value: unknown) => {
      const text = JSON.stringify(value);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), connection: 'close' });
      res.end(text);
    };
    if (req.method !== 'POST' || !route) return reply(404, { error: 'no such route' });
    let body: Record<string, unknown> = {};
    try {
      const text = Buffer.concat(chunks).toString('utf8');
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      return reply(400, { error: 'invalid JSON' });
    }
    route(body).then(
      (value) => reply(200, value),
      (error: unknown) => reply(500, { error: error instanceof Error ? error.message : String(error) }),
    );
  });
});

try {
  const first = await startServer();
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  const address = control.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ grpc: first.grpc, control: `http://127.0.0.1:${address.port}` })}\n`);
} catch (error) {
  process.stderr.write(`conformance fixture failed to start: ${(error as Error).stack}\n`);
  await shutdown();
}

process.stdin.on('end', () => void shutdown());
process.stdin.on('error', () => void shutdown());
process.stdin.resume();
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
