// TLS on every listener of a real server process, with real TLS clients:
// grpcurl without -plaintext, grpc_health_probe -tls, Node's https and tls
// (the admin listener alone requires a client certificate, as a scraper's).
// The certificate is replaced on SIGHUP: new handshakes present the new one,
// the process is the same, and connections opened before keep working; a bad
// pair is refused and the one in force keeps serving.
import { copyFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChild, type ChildAirlock } from '../support/airlock.ts';
import { issue, makeCa, type Pem } from '../support/certificates.ts';
import { tempDir } from '../support/settings.ts';
import { runReadmeBlock } from '../support/readme-blocks.ts';
import { HEALTH_PROBE_EXIT, runTool, startTool, type RunningTool } from '../support/tools.ts';

const dir = tempDir('airlock-tls-');
const live = { certFile: path.join(dir.path, 'live.pem'), keyFile: path.join(dir.path, 'live.key') };
let ca: Pem;
let first: Pem;
let scraper: Pem;
let server: ChildAirlock;
let watch: RunningTool | undefined;

function install(pem: Pem): void {
  copyFileSync(pem.keyFile, live.keyFile);
  copyFileSync(pem.certFile, live.certFile);
}

beforeAll(async () => {
  ca = await makeCa(dir.path, 'ca');
  first = await issue(ca, dir.path, 'first');
  scraper = await issue(ca, dir.path, 'scraper');
  install(first);
  server = await startChild({
    AIRLOCK_DATA_DIR: path.join(dir.path, 'data'),
    AIRLOCK_ADMIN_ADDRESS: '127.0.0.1:0',
    AIRLOCK_TLS_CERT_FILE: live.certFile,
    AIRLOCK_TLS_KEY_FILE: live.keyFile,
    AIRLOCK_TLS_RELOAD_INTERVAL: '0',
    // mTLS on the admin listener only: Prometheus presents a client certificate, browsers cannot.
    AIRLOCK_TLS_CLIENT_CA_FILE: ca.certFile,
    AIRLOCK_TLS_CLIENT_AUTH_LISTENERS: 'admin',
    AIRLOCK_PUBLIC_URL: 'https://airlock.example-app.dev',
  });
});

afterAll(async () => {
  watch?.child.kill();
  await server?.stop();
  dir.remove();
});

/** A fresh TLS handshake: the certificate the port presents, and the protocol ALPN chose. */
function handshake(port: number, alpn: string[] = ['h2', 'http/1.1']): Promise<{ serialNumber: string; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.cert, ALPNProtocols: alpn }, () => {
      const result = { serialNumber: socket.getPeerCertificate().serialNumber, alpn: socket.alpnProtocol ?? false };
      socket.end();
      resolve(result);
    });
    socket.once('error', reject);
  });
}

/** A GET on a new connection, or on the agent's kept-alive one. */
function get(port: number, pathname: string, agent: https.Agent | false = false, client?: Pem) {
  return new Promise<{ status: number; body: string; serialNumber: string; reusedSocket: boolean }>((resolve, reject) => {
    const identity = client ? { cert: client.cert, key: client.key } : {};
    const request = https.get(
      { host: '127.0.0.1', port, path: pathname, servername: 'localhost', ca: ca.cert, agent, ...identity },
      (response) => {
        const { serialNumber } = (response.socket as tls.TLSSocket).getPeerCertificate();
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            body,
            serialNumber,
            reusedSocket: request.reusedSocket,
          }),
        );
      },
    );
    request.once('error', reject);
  });
}

async function logAfter(from: number, msg: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const entry = server.logs.slice(from).find((line) => line.msg === msg);
    if (entry) return entry;
    if (Date.now() > deadline) throw new Error(`no "${msg}" log: ${JSON.stringify(server.logs.slice(from))}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const target = () => `localhost:${server.grpcPort}`;

function expiryIn(scrape: string): number {
  const match = /^airlock_tls_certificate_expiry_timestamp_seconds (\d+)$/m.exec(scrape);
  if (!match) throw new Error('no airlock_tls_certificate_expiry_timestamp_seconds in the scrape');
  return Number(match[1]);
}

describe('TLS listeners', () => {
  it('serves gRPC over TLS with ALPN h2 to grpcurl with the CA, and refuses it without the CA or in plaintext', async () => {
    expect(await handshake(server.grpcPort, ['h2'])).toEqual({ serialNumber: first.serialNumber, alpn: 'h2' });

    const listed = await runTool('grpcurl', ['-cacert', ca.certFile, target(), 'list']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain('airlock.auth.v1.AuthService');
    const checked = await runTool('grpcurl', ['-cacert', ca.certFile, target(), 'grpc.health.v1.Health/Check']);
    expect(JSON.parse(checked.stdout)).toEqual({ status: 'SERVING' });

    const untrusted = await runTool('grpcurl', [target(), 'list']);
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.stderr).toMatch(/certificate signed by unknown authority/);
    const plaintext = await runTool('grpcurl', ['-plaintext', '-connect-timeout', '2', target(), 'list']);
    expect(plaintext.code).not.toBe(0);
  });

  it('answers grpc_health_probe -tls with the CA, and fails it without', async () => {
    const probe = (...extra: string[]) =>
      runTool('grpc_health_probe', [`-addr=${target()}`, '-tls', '-connect-timeout=3s', '-rpc-timeout=3s', ...extra]);
    const served = await probe(`-tls-ca-cert=${ca.certFile}`);
    expect(served.code, served.stderr).toBe(HEALTH_PROBE_EXIT.SERVING);
    expect(`${served.stdout}${served.stderr}`.trim()).toBe('status: SERVING');
    const untrusted = await probe();
    expect(untrusted.code).toBe(HEALTH_PROBE_EXIT.CONNECTION_FAILURE);
  });

  it('serves the HTTP listener (probes, JWKS) and the admin listener (metrics) over https', async () => {
    expect(await get(server.httpPort, '/livez')).toMatchObject({ status: 200, body: 'ok', serialNumber: first.serialNumber });
    const jwks = await get(server.httpPort, '/.well-known/jwks.json');
    expect(jwks.status).toBe(200);
    expect((JSON.parse(jwks.body) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
    const metrics = await get(server.adminPort!, '/metrics', false, scraper);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('process_cpu_user_seconds_total');
    expect(expiryIn(metrics.body)).toBe(first.notAfter.getTime() / 1000);
    // The admin listener requires the scraper's client certificate; the HTTP listener asked for none.
    await expect(get(server.adminPort!, '/metrics')).rejects.toThrow(/certificate required|socket hang up|ECONNRESET/);
    // Plain http to the https port gets no page.
    await expect(fetch(`http://127.0.0.1:${server.httpPort}/livez`)).rejects.toThrow();
  });

  it('serves Connect on the https listener: a call reaches the procedures, with the same code and ErrorInfo', async () => {
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = https.request(
        {
          host: '127.0.0.1',
          port: server.httpPort,
          path: '/airlock.auth.v1.AuthService/WhoAmI',
          method: 'POST',
          headers: { 'content-type': 'application/json', 'connect-protocol-version': '1' },
          servername: 'localhost',
          ca: ca.cert,
          agent: false,
        },
        (response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => (body += chunk.toString()));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        },
      );
      request.once('error', reject);
      request.end('{}');
    });
    expect(answer.status).toBe(401);
    const error = JSON.parse(answer.body) as { code: string; details?: Array<{ type: string }> };
    expect(error.code).toBe('unauthenticated');
    expect(error.details?.[0]?.type).toBe('google.rpc.ErrorInfo');
  });

  it("runs the README's TLS examples verbatim", async () => {
    const result = await runReadmeBlock('readme-tls-example', 'tls', {
      CA: ca.certFile,
      ADDR: target(),
      HTTP_ADDR: `localhost:${server.httpPort}`,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('airlock.auth.v1.AuthService');
    expect(result.stdout).toContain('"status": "SERVING"');
    expect(`${result.stdout}${result.stderr}`).toContain('status: SERVING');
    expect(result.stdout.trim().endsWith('ok')).toBe(true);
  });

  it('on SIGHUP, presents a new certificate on every listener without a restart; open connections and streams carry on', async () => {
    const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const before = await get(server.httpPort, '/livez', keepAlive);
    expect(before.serialNumber).toBe(first.serialNumber);
    watch = startTool('grpcurl', ['-cacert', ca.certFile, target(), 'grpc.health.v1.Health/Watch']);
    await watch.waitFor(/"SERVING"/);

    // Valid a day longer than the first, so the expiry metric shows the change.
    const second = await issue(ca, dir.path, 'second', 2);
    install(second);
    const from = server.logs.length;
    const pid = server.process.pid;
    server.process.kill('SIGHUP');
    const reloaded = await logAfter(from, 'TLS certificate reloaded');
    expect(reloaded).toMatchObject({ trigger: 'signal', serialNumber: second.serialNumber, fingerprint: second.fingerprint256 });

    for (const port of [server.grpcPort, server.httpPort, server.adminPort!]) {
      expect((await handshake(port)).serialNumber).toBe(second.serialNumber);
    }
    const listed = await runTool('grpcurl', ['-cacert', ca.certFile, target(), 'list']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(expiryIn((await get(server.adminPort!, '/metrics', false, scraper)).body)).toBe(second.notAfter.getTime() / 1000);
    // The same process: it never restarted.
    expect(server.process.pid).toBe(pid);
    expect(server.process.exitCode).toBeNull();
    expect(server.logs.filter((line) => line.msg === 'airlock is serving')).toHaveLength(1);
    // The keep-alive connection opened before still answers, on the certificate it was opened with.
    const after = await get(server.httpPort, '/livez', keepAlive);
    expect(after).toMatchObject({ status: 200, reusedSocket: true, serialNumber: first.serialNumber });
    keepAlive.destroy();
    // The health stream opened before the reload is still open.
    expect(watch.child.exitCode).toBeNull();
  });

  it('keeps serving the certificate in force when the new files do not load, and says why', async () => {
    const inForce = (await handshake(server.grpcPort)).serialNumber;
    const stranger = await issue(ca, dir.path, 'stranger');
    // A renewal caught half-written: the new certificate beside the old key.
    copyFileSync(stranger.certFile, live.certFile);
    let from = server.logs.length;
    server.process.kill('SIGHUP');
    const mismatch = await logAfter(from, 'TLS certificate not reloaded; the one in force stays');
    expect(mismatch.reason).toMatch(/AIRLOCK_TLS_KEY_FILE.*is not the private key of the certificate/);
    expect(mismatch).toMatchObject({ level: 50, inForce: { serialNumber: inForce } });
    expect(JSON.stringify(mismatch)).not.toContain('PRIVATE KEY');

    writeFileSync(live.certFile, 'not a certificate\n');
    from = server.logs.length;
    server.process.kill('SIGHUP');
    const garbage = await logAfter(from, 'TLS certificate not reloaded; the one in force stays');
    expect(garbage.reason).toMatch(/AIRLOCK_TLS_CERT_FILE.*is not a PEM certificate/);

    expect((await handshake(server.grpcPort)).serialNumber).toBe(inForce);
    expect((await get(server.httpPort, '/livez')).serialNumber).toBe(inForce);
    const served = await runTool('grpcurl', ['-cacert', ca.certFile, target(), 'grpc.health.v1.Health/Check']);
    expect(served.code, served.stderr).toBe(0);
    expect(server.process.exitCode).toBeNull();
  });

  it('delivers on the health stream opened before the reloads: it sees the drain at shutdown', async () => {
    expect(watch!.output()).not.toContain('NOT_SERVING');
    server.process.kill('SIGTERM');
    await watch!.waitFor(/"NOT_SERVING"/);
    expect(await server.exited).toBe(0);
  });
});
