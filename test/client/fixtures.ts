// Shared set-up of the client tests: a real local PDS, a real Airlock
// server, and real logins through the client with consent given via the
// PDS's own API (test/support/consent.ts).
import { AirlockClient, type AirlockClientOptions, type SessionInfo } from '../../client/airlock-client.ts';
import { MemoryStore } from '../../client/storage/memory-store.ts';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { consentViaApi, type Decision } from '../support/consent.ts';
import { startPds, type TestAccount, type TestPds } from '../support/pds.ts';

export interface LoginWorld {
  pds: TestPds;
  server: InProcessAirlock;
  serverUrl: string;
  clients: AirlockClient[];
  newClient(options?: AirlockClientOptions): AirlockClient;
  /** A client signed in through a real OAuth login. */
  signedInClient(options?: AirlockClientOptions): Promise<{ client: AirlockClient; session: SessionInfo; account: TestAccount }>;
  closeClients(): void;
  stop(): Promise<void>;
}

export async function startLoginWorld(env: Record<string, string> = {}): Promise<LoginWorld> {
  const pds = await startPds();
  let server: InProcessAirlock;
  try {
    server = await startInProcess({ ...pds.airlockEnv(), ...env });
  } catch (error) {
    await pds.stop();
    throw error;
  }
  const serverUrl = `http://${server.grpcTarget}`;
  const clients: AirlockClient[] = [];
  const world: LoginWorld = {
    pds,
    server,
    serverUrl,
    clients,
    newClient(options = {}) {
      const client = new AirlockClient({ store: new MemoryStore(), serverUrl, ...options });
      clients.push(client);
      return client;
    },
    async signedInClient(options = {}) {
      const client = world.newClient(options);
      const account = await pds.createAccount();
      const session = await client.login(account.handle, { openUrl: (url) => approve(url, account) });
      return { client, session, account };
    },
    closeClients() {
      for (const client of clients.splice(0)) client.close();
    },
    async stop() {
      world.closeClients();
      await server.close();
      await pds.stop();
    },
  };
  return world;
}

/** The user, in their browser: opens the link, signs in and approves (or denies). */
export async function approve(url: string, account: TestAccount, decision: Decision = 'approve'): Promise<void> {
  const { page } = await consentViaApi(url, account, decision);
  if (decision === 'approve' && page.status !== 200) throw new Error(`the callback page answered ${page.status}`);
}

export function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

/** The promise's value, or a rejection naming `what` after `ms` (so a hang fails fast and says why). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
