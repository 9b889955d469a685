// A real local ATProto network for tests: a PLC directory and a PDS with its
// OAuth provider, both from @atproto/dev-env, in this process on random
// ports. One network per test file keeps the suite fast.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createDidAndKey, TestNetworkNoAppView } from '@atproto/dev-env';
import { startInProcess, type InProcessAirlock } from './airlock.ts';

export interface TestAccount {
  handle: string;
  did: string;
  email: string;
  password: string;
}

export interface TestPds {
  /** The PDS (and authorization server) base URL, http://localhost:PORT. */
  url: string;
  plcUrl: string;
  network: TestNetworkNoAppView;
  /** Creates a fresh account; the handle is made unique unless given. */
  createAccount(handle?: string): Promise<TestAccount>;
  /** Registers a DID at the PLC whose PDS is `pdsUrl` (e.g. a server that is down). */
  createDidPointingAt(pdsUrl: string, handle?: string): Promise<string>;
  /**
   * Server settings (as environment variables) that point Airlock at this
   * network: development mode, http allowed, this PLC and handle resolver.
   */
  airlockEnv(): Record<string, string>;
  /** The OAuth grants (token families) the authorization server holds for the account: one per upstream session. */
  grantsOf(did: string): Promise<number>;
  /** Pushed authorization requests the authorization server holds (its own table): what PAR calls made. */
  pushedRequests(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts PLC + PDS. dev-env keeps its SQLite files and blobs under
 * os.tmpdir(), so TMPDIR points at a per-run directory while it starts
 * (the paths are fixed at creation) and that directory is removed on stop.
 */
export async function startPds(): Promise<TestPds> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'airlock-pds-'));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  let network: TestNetworkNoAppView;
  try {
    network = await TestNetworkNoAppView.create({});
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  } finally {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  }
  let stopped = false;
  return {
    url: network.pds.url,
    plcUrl: network.plc.url,
    network,
    async createAccount(handle) {
      const name = handle ?? `u${randomBytes(5).toString('hex')}.test`;
      const email = `${name.replace(/\W/g, '-')}@example.com`;
      const password = `pw-${randomBytes(12).toString('base64url')}`;
      const agent = network.pds.getAgent();
      const { data } = await agent.createAccount({ handle: name, email, password });
      return { handle: data.handle, did: data.did, email, password };
    },
    async createDidPointingAt(pdsUrl, handle) {
      const { did } = await createDidAndKey({
        plcUrl: network.plc.url,
        handle: handle ?? `d${randomBytes(5).toString('hex')}.test`,
        pds: pdsUrl,
      });
      return did;
    },
    airlockEnv() {
      return {
        AIRLOCK_MODE: 'development',
        AIRLOCK_ALLOW_HTTP: 'true',
        AIRLOCK_PLC_URL: network.plc.url,
        AIRLOCK_HANDLE_RESOLVER_URL: network.pds.url,
      };
    },
    async grantsOf(did) {
      const provider = network.pds.ctx.oauthProvider;
      if (!provider) throw new Error('the PDS runs without its OAuth provider');
      return (await provider.tokenManager.listAccountTokens(did as `did:${string}:${string}`)).length;
    },
    async pushedRequests() {
      const row = await network.pds.ctx.accountManager.db.db
        .selectFrom('authorization_request')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await network.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

export interface PdsWithAirlock {
  pds: TestPds;
  account: TestAccount;
  airlock: InProcessAirlock;
  stop(): Promise<void>;
}

/** A local PDS with one account and an in-process Airlock pointed at it: what a real login needs. */
export async function startPdsWithAirlock(env: Record<string, string> = {}): Promise<PdsWithAirlock> {
  const pds = await startPds();
  try {
    const account = await pds.createAccount();
    const airlock = await startInProcess({ ...pds.airlockEnv(), ...env });
    return {
      pds,
      account,
      airlock,
      async stop() {
        await airlock.close();
        await pds.stop();
      },
    };
  } catch (error) {
    await pds.stop();
    throw error;
  }
}
