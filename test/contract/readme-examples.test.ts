// The README's grpcurl examples run verbatim: each `readme-example` block is
// taken from README.md as written and run by bash against a real server, with
// the variables a reader would set (address, identifier, tokens) filled in
// from a real login at a local PDS. If the README drifts from what works, this fails.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, type InProcessAirlock } from '../support/airlock.ts';
import { consentViaApi } from '../support/consent.ts';
import { startPdsWithAirlock, type PdsWithAirlock, type TestAccount } from '../support/pds.ts';
import { runTool, startTool } from '../support/tools.ts';

/** The shell blocks of README.md marked `<!-- readme-example: NAME -->`, by name. */
function readmeExamples(readme: string): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const match of readme.matchAll(/<!-- readme-example: ([\w-]+) -->\n```sh\n([\s\S]*?)\n```/g)) {
    blocks.set(match[1]!, match[2]!);
  }
  return blocks;
}

const examples = readmeExamples(readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8'));
const STATE_MARK = '__readme_state__';

function example(name: string): string {
  const block = examples.get(name);
  if (!block) throw new Error(`README.md has no readme-example block named ${name}`);
  return block;
}

/** bash options a careful reader would use: any failing command fails the block. */
const STRICT = ['-o', 'errexit', '-o', 'pipefail', '-o', 'nounset', '-c'];

let world: PdsWithAirlock;
let account: TestAccount;
let airlock: InProcessAirlock;

beforeAll(async () => {
  world = await startPdsWithAirlock();
  ({ account, airlock } = world);
});

afterAll(() => world?.stop());

describe("the README's grpcurl examples", () => {
  it('has the blocks this test runs', () => {
    expect([...examples.keys()]).toEqual(['discover', 'initiate', 'await', 'authenticated']);
  });

  it('run verbatim against a real server and a real login', async () => {
    const env = { ADDR: airlock.grpcTarget, IDENTIFIER: account.handle };

    const discover = await runTool('bash', [...STRICT, example('discover')], { env });
    expect(discover.code, discover.stderr).toBe(0);
    expect(discover.stdout).toContain('airlock.auth.v1.AuthService');
    expect(discover.stdout).toContain('airlock.auth.v1.Session is a message:');
    expect(discover.stdout).toContain('"status": "SERVING"');
    expect(`${discover.stdout}${discover.stderr}`).toContain('status: SERVING');

    // The block as written, then a line of ours that reports the variables it set.
    const initiate = await runTool('bash', [...STRICT, `${example('initiate')}\necho "${STATE_MARK} $VERIFIER $LOGIN_ID"`], { env });
    expect(initiate.code, initiate.stderr).toBe(0);
    const [, verifier, loginId] = new RegExp(`${STATE_MARK} (\\S+) (\\S+)`).exec(initiate.stdout)!;
    expect(loginId).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const authorizeUrl = /"authorizeUrl": "([^"]+)"/.exec(initiate.stdout)![1]!;

    // The stream stays open while the user signs in at the PDS.
    const awaiting = startTool('bash', [...STRICT, example('await')], { env: { ...env, VERIFIER: verifier!, LOGIN_ID: loginId! } });
    await awaiting.waitFor(/"pending"/);
    const { page } = await consentViaApi(authorizeUrl, account);
    expect(page.status).toBe(200);
    const awaited = await awaiting.done;
    expect(awaited.code, awaited.stderr).toBe(0);
    const accessToken = /"accessToken": "([^"]+)"/.exec(awaited.stdout)![1]!;
    const refreshToken = /"refreshToken": "([^"]+)"/.exec(awaited.stdout)![1]!;

    const authenticated = await runTool('bash', [...STRICT, example('authenticated')], {
      env: { ...env, ACCESS_TOKEN: accessToken, REFRESH_TOKEN: refreshToken },
    });
    expect(authenticated.code, authenticated.stderr).toBe(0);
    expect(authenticated.stdout).toContain(`"did": "${account.did}"`);
    expect(authenticated.stdout).toContain('"id": "lobby"');
    expect(authenticated.stdout).toMatch(/"token": "ey/);
    expect(authenticated.stdout.match(/"refreshToken": "/g)).toHaveLength(1);

    // The example's Logout really ended the session.
    const after = await runTool('grpcurl', [
      '-plaintext',
      '-H',
      `authorization: Bearer ${accessToken}`,
      airlock.grpcTarget,
      'airlock.auth.v1.AuthService/WhoAmI',
    ]);
    expect(after.code).toBe(64 + 16);
  });
});
