// mTLS on the gRPC listener (the default for a client CA): grpcurl and
// grpc_health_probe with a client certificate signed by the CA are served;
// without one, or with one from another CA, the handshake is refused. The
// HTTP listener stays reachable without a client certificate (browsers and
// kubelet probes have none). And a renewal written to the files is picked up
// by the timed check, with no signal.
import { copyFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { issue, makeCa, type Pem } from '../support/certificates.ts';
import { tempDir } from '../support/settings.ts';
import { runReadmeBlock } from '../support/readme-blocks.ts';
import { HEALTH_PROBE_EXIT, runTool } from '../support/tools.ts';

const dir = tempDir('airlock-mtls-');
const live = { certFile: path.join(dir.path, 'live.pem'), keyFile: path.join(dir.path, 'live.key') };
let ca: Pem;
let client: Pem;
let outsider: Pem;
let airlock: InProcessAirlock;

beforeAll(async () => {
  ca = await makeCa(dir.path, 'ca');
  const otherCa = await makeCa(dir.path, 'other-ca');
  const first = await issue(ca, dir.path, 'server');
  client = await issue(ca, dir.path, 'client');
  outsider = await issue(otherCa, dir.path, 'outsider');
  copyFileSync(first.keyFile, live.keyFile);
  copyFileSync(first.certFile, live.certFile);
  airlock = await startInProcess({
    AIRLOCK_TLS_CERT_FILE: live.certFile,
    AIRLOCK_TLS_KEY_FILE: live.keyFile,
    AIRLOCK_TLS_CLIENT_CA_FILE: ca.certFile,
    AIRLOCK_TLS_RELOAD_INTERVAL: '100ms',
    AIRLOCK_PUBLIC_URL: 'https://airlock.example-app.dev',
  });
});

afterAll(async () => {
  await airlock?.close();
  dir.remove();
});

const target = () => `localhost:${airlock.grpcPort}`;
const grpcurl = (...args: string[]) =>
  runTool('grpcurl', ['-cacert', ca.certFile, '-connect-timeout', '3', ...args, target(), 'grpc.health.v1.Health/Check']);

const probe = (...args: string[]) =>
  runTool('grpc_health_probe', [
    `-addr=${target()}`,
    '-tls',
    `-tls-ca-cert=${ca.certFile}`,
    '-connect-timeout=3s',
    '-rpc-timeout=3s',
    ...args,
  ]);

/**
 * A bare TLS 1.3 handshake on the gRPC port, then the HTTP/2 preface: "served"
 * when the server answers (its SETTINGS frame), else how the connection ended
 * (the server's refusal of the client certificate comes after the client's
 * Finished, as an alert or a close).
 */
function firstReply(options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: airlock.grpcPort,
      servername: 'localhost',
      ca: ca.cert,
      ALPNProtocols: ['h2'],
      ...options,
    });
    socket.once('data', () => {
      resolve('served');
      socket.destroy();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    socket.once('close', () => resolve('closed'));
    socket.once('secureConnect', () => socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
  });
}

describe('mTLS', () => {
  it('serves grpcurl with a client certificate signed by the client CA, and refuses it without one or with a stranger', async () => {
    const served = await grpcurl('-cert', client.certFile, '-key', client.keyFile);
    expect(served.code, served.stderr).toBe(0);
    expect(JSON.parse(served.stdout)).toEqual({ status: 'SERVING' });

    // grpcurl only sees the connection fail (TLS 1.3 sends the server's refusal after the client's Finished)...
    const anonymous = await grpcurl();
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.stderr).toMatch(/Failed to dial target host/);
    const stranger = await grpcurl('-cert', outsider.certFile, '-key', outsider.keyFile);
    expect(stranger.code).not.toBe(0);
    expect(stranger.stderr).toMatch(/Failed to dial target host/);
    // ...which is the handshake's refusal, as a bare TLS client reads it: no HTTP/2 reply, ever.
    expect(await firstReply({ cert: client.cert, key: client.key })).toBe('served');
    expect(await firstReply({})).toBe('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
    expect(await firstReply({ cert: outsider.cert, key: outsider.key })).toMatch(/^(closed|ERR_SSL_.*ALERT.*|ECONNRESET)$/);
  });

  it('answers grpc_health_probe with -tls-client-cert, and fails the probe without', async () => {
    const served = await probe(`-tls-client-cert=${client.certFile}`, `-tls-client-key=${client.keyFile}`);
    expect(served.code, served.stderr).toBe(HEALTH_PROBE_EXIT.SERVING);
    const anonymous = await probe();
    expect(anonymous.code).toBe(HEALTH_PROBE_EXIT.CONNECTION_FAILURE);
  });

  it("runs the README's mTLS examples verbatim", async () => {
    const result = await runReadmeBlock('readme-tls-example', 'mtls', {
      CA: ca.certFile,
      ADDR: target(),
      CLIENT_CERT: client.certFile,
      CLIENT_KEY: client.keyFile,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('airlock.auth.v1.AuthService');
    expect(`${result.stdout}${result.stderr}`).toContain('status: SERVING');
  });

  it('asks no client certificate on the HTTP listener by default', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      https
        .get(
          { host: '127.0.0.1', port: airlock.httpPort, path: '/livez', servername: 'localhost', ca: ca.cert, agent: false },
          (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
          },
        )
        .once('error', reject);
    });
    expect(status).toBe(200);
  });

  it('picks up a renewal written to the files without a signal (the timed check)', async () => {
    const renewed = await issue(ca, dir.path, 'renewed');
    copyFileSync(renewed.keyFile, live.keyFile);
    copyFileSync(renewed.certFile, live.certFile);
    const presented = () =>
      new Promise<string>((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port: airlock.httpPort, servername: 'localhost', ca: ca.cert }, () => {
          resolve(socket.getPeerCertificate().serialNumber);
          socket.end();
        });
        socket.once('error', reject);
      });
    const deadline = Date.now() + 15_000;
    while ((await presented()) !== renewed.serialNumber) {
      if (Date.now() > deadline) throw new Error('the renewed certificate was never presented');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // And the gRPC listener, with mTLS, presents it too.
    const served = await runTool('grpcurl', ['-cacert', ca.certFile, '-cert', client.certFile, '-key', client.keyFile, target(), 'list']);
    expect(served.code, served.stderr).toBe(0);
    const grpcSerial = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect(
        {
          host: '127.0.0.1',
          port: airlock.grpcPort,
          servername: 'localhost',
          ca: ca.cert,
          ALPNProtocols: ['h2'],
          cert: client.cert,
          key: client.key,
        },
        () => {
          resolve(socket.getPeerCertificate().serialNumber);
          socket.end();
        },
      );
      socket.once('error', reject);
    });
    expect(grpcSerial).toBe(renewed.serialNumber);
  });
});
