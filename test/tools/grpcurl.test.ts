// The real grpcurl, knowing only the address: everything it learns comes from
// reflection (no proto files), as a user probing the server would do it. It
// lists and describes every service and message of our contract, and calls
// every method with the status each should give.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, type InProcessAirlock } from '../support/airlock.ts';
import { consentViaApi } from '../support/consent.ts';
import { newVerifier } from '../support/login.ts';
import { startPdsWithAirlock, type PdsWithAirlock, type TestAccount } from '../support/pds.ts';
import { grpcStatusOfGrpcurl, runTool, startTool } from '../support/tools.ts';

const OK = 0;
const INVALID_ARGUMENT = 3;
const NOT_FOUND = 5;
const UNAUTHENTICATED = 16;

let world: PdsWithAirlock;
let account: TestAccount;
let airlock: InProcessAirlock;

beforeAll(async () => {
  world = await startPdsWithAirlock();
  ({ account, airlock } = world);
});

afterAll(() => world?.stop());

function grpcurl(...args: string[]) {
  return runTool('grpcurl', ['-plaintext', ...args]);
}

/** Calls a method with a JSON body (and optional bearer); returns the gRPC status and output. */
async function invoke(method: string, body: unknown, bearer?: string) {
  const headers = bearer ? ['-H', `authorization: Bearer ${bearer}`] : [];
  const result = await grpcurl(...headers, '-d', JSON.stringify(body), airlock.grpcTarget, method);
  const status = grpcStatusOfGrpcurl(result.code);
  if (status === 'tool-error') throw new Error(`grpcurl failed to run: ${result.stderr}`);
  // grpcurl's JSON answer, read field by field by the assertions below.
  // biome-ignore lint/suspicious/noExplicitAny: an untyped JSON document
  return { status, json: status === OK ? (JSON.parse(result.stdout) as Record<string, any>) : undefined, stderr: result.stderr };
}

/** Every message and enum our proto files declare, fully qualified. */
function declaredTypes(): string[] {
  const files = ['proto/airlock/auth/v1/auth.proto', 'proto/airlock/channels/v1/channels.proto'];
  return files.flatMap((file) => {
    const text = readFileSync(path.join(REPO_ROOT, file), 'utf8');
    const pkg = /^package ([\w.]+);/m.exec(text)![1];
    return [...text.matchAll(/^(?:message|enum) (\w+)/gm)].map((m) => `${pkg}.${m[1]}`);
  });
}

/** The fully qualified types a `describe` output refers to (`.pkg.Type`, not comment text). */
function typeRefs(described: string): string[] {
  return [...described.matchAll(/(?<=[\s(])\.((?:airlock|google)\.[\w.]*\.[A-Z]\w*)/g)].map((m) => m[1]!);
}

describe('grpcurl over reflection only', () => {
  it('lists every service, and each service lists its methods', async () => {
    const list = await grpcurl(airlock.grpcTarget, 'list');
    expect(list.code).toBe(0);
    expect(list.stdout.trim().split('\n').sort()).toEqual([
      'airlock.auth.v1.AuthService',
      'airlock.channels.v1.ChannelsService',
      'grpc.health.v1.Health',
      'grpc.reflection.v1.ServerReflection',
      'grpc.reflection.v1alpha.ServerReflection',
    ]);
    const auth = await grpcurl(airlock.grpcTarget, 'list', 'airlock.auth.v1.AuthService');
    expect(auth.stdout.trim().split('\n')).toEqual(
      expect.arrayContaining(
        ['InitiateLogin', 'AwaitLogin', 'RefreshSession', 'Logout', 'WhoAmI'].map((m) => `airlock.auth.v1.AuthService.${m}`),
      ),
    );
    const channels = await grpcurl(airlock.grpcTarget, 'list', 'airlock.channels.v1.ChannelsService');
    expect(channels.stdout.trim().split('\n').sort()).toEqual([
      'airlock.channels.v1.ChannelsService.GetChannelToken',
      'airlock.channels.v1.ChannelsService.ListChannels',
    ]);
  });

  it('describes every service, and every message and enum they use, with their comments', async () => {
    const auth = await grpcurl(airlock.grpcTarget, 'describe', 'airlock.auth.v1.AuthService');
    expect(auth.stdout).toContain('airlock.auth.v1.AuthService is a service:');
    expect(auth.stdout).toMatch(
      /rpc AwaitLogin \( \.airlock\.auth\.v1\.AwaitLoginRequest \) returns \( stream \.airlock\.auth\.v1\.AwaitLoginResponse \)/,
    );
    const channels = await grpcurl(airlock.grpcTarget, 'describe', 'airlock.channels.v1.ChannelsService');
    expect(channels.stdout).toContain('airlock.channels.v1.ChannelsService is a service:');

    // Follow every type reference from the services, as a user exploring would.
    const seen = new Set<string>();
    const queue = typeRefs(`${auth.stdout}\n${channels.stdout}`);
    while (queue.length > 0) {
      const name = queue.shift()!;
      if (seen.has(name)) continue;
      seen.add(name);
      const described = await grpcurl(airlock.grpcTarget, 'describe', name);
      expect(described.code, `describe ${name}: ${described.stderr}`).toBe(0);
      expect(described.stdout).toMatch(new RegExp(`^${name.replace(/\./g, '\\.')} is an? (message|enum):`));
      queue.push(...typeRefs(described.stdout));
    }
    for (const type of declaredTypes()) {
      if (type.endsWith('Request') || type.endsWith('Response') || seen.has(type)) continue;
      // Types no method reaches (e.g. the ErrorInfo reason enum) are still served by name.
      const described = await grpcurl(airlock.grpcTarget, 'describe', type);
      expect(described.code, `describe ${type}`).toBe(0);
      seen.add(type);
    }
    expect([...seen]).toEqual(expect.arrayContaining(declaredTypes()));
    // The standard types the contract imports are served as well.
    expect(seen.has('google.protobuf.Timestamp')).toBe(true);
  });

  it('calls every method with the status each should give, through a real login', async () => {
    expect((await invoke('grpc.health.v1.Health/Check', { service: '' })).json).toEqual({ status: 'SERVING' });

    // Malformed and unknown input.
    expect((await invoke('airlock.auth.v1.AuthService/InitiateLogin', { identifier: '???' })).status).toBe(INVALID_ARGUMENT);
    expect(
      (await invoke('airlock.auth.v1.AuthService/AwaitLogin', { login_id: 'x'.repeat(43), login_verifier: 'y'.repeat(43) })).status,
    ).toBe(NOT_FOUND);
    expect((await invoke('airlock.auth.v1.AuthService/RefreshSession', { refresh_token: 'not-a-token' })).status).toBe(UNAUTHENTICATED);
    const anonymous = await invoke('airlock.auth.v1.AuthService/WhoAmI', {});
    expect(anonymous.status).toBe(UNAUTHENTICATED);
    expect(anonymous.stderr).toContain('"reason": "TOKEN_MISSING"');
    expect((await invoke('airlock.channels.v1.ChannelsService/ListChannels', {})).status).toBe(UNAUTHENTICATED);
    expect((await invoke('airlock.channels.v1.ChannelsService/GetChannelToken', { channel_id: 'lobby' })).status).toBe(UNAUTHENTICATED);

    // A real login: InitiateLogin, AwaitLogin as a stream, the user at the PDS.
    const { verifier, challenge } = newVerifier();
    const started = await invoke('airlock.auth.v1.AuthService/InitiateLogin', {
      identifier: account.handle,
      login_verifier_challenge: challenge,
    });
    expect(started.status).toBe(OK);
    const { loginId, authorizeUrl } = started.json as { loginId: string; authorizeUrl: string };
    const stream = startTool('grpcurl', [
      '-plaintext',
      '-d',
      JSON.stringify({ login_id: loginId, login_verifier: verifier }),
      airlock.grpcTarget,
      'airlock.auth.v1.AuthService/AwaitLogin',
    ]);
    await stream.waitFor(/"pending"/);
    await consentViaApi(authorizeUrl, account);
    const ended = await stream.done;
    expect(grpcStatusOfGrpcurl(ended.code)).toBe(OK);
    expect(ended.stdout).toContain('"browserOpened"');
    const accessToken = /"accessToken": "([^"]+)"/.exec(ended.stdout)![1]!;
    const refreshToken = /"refreshToken": "([^"]+)"/.exec(ended.stdout)![1]!;

    const me = await invoke('airlock.auth.v1.AuthService/WhoAmI', {}, accessToken);
    expect(me.status).toBe(OK);
    expect(me.json).toMatchObject({ did: account.did, handle: account.handle });
    const channels = await invoke('airlock.channels.v1.ChannelsService/ListChannels', {}, accessToken);
    expect(channels.json!.channels.map((c: { id: string }) => c.id)).toContain('lobby');
    const token = await invoke('airlock.channels.v1.ChannelsService/GetChannelToken', { channel_id: 'lobby' }, accessToken);
    expect(token.status).toBe(OK);
    expect(token.json!.token).toMatch(/^ey/);
    expect(
      (await invoke('airlock.channels.v1.ChannelsService/GetChannelToken', { channel_id: 'no-such-channel' }, accessToken)).status,
    ).toBe(NOT_FOUND);

    const refreshed = await invoke('airlock.auth.v1.AuthService/RefreshSession', { refresh_token: refreshToken });
    expect(refreshed.status).toBe(OK);
    const newAccess = refreshed.json!.session.accessToken as string;
    expect((await invoke('airlock.auth.v1.AuthService/Logout', {}, newAccess)).status).toBe(OK);
    const after = await invoke('airlock.auth.v1.AuthService/WhoAmI', {}, newAccess);
    expect(after.status).toBe(UNAUTHENTICATED);
    expect(after.stderr).toContain('"reason": "SESSION_REVOKED"');
  });
});
