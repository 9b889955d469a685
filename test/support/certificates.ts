// Certificates for TLS tests, made by the real openssl CLI: a CA, and leaf
// certificates it signs for the server (localhost, 127.0.0.1) or a client.
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runTool } from './tools.ts';

export interface Pem {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
  /** Hex, as Node's X509Certificate prints it. */
  serialNumber: string;
  fingerprint256: string;
  notAfter: Date;
}

async function openssl(args: string[]): Promise<void> {
  const result = await runTool('openssl', args);
  if (result.code !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr}`);
}

function pemAt(certFile: string, keyFile: string): Pem {
  const cert = readFileSync(certFile, 'utf8');
  const parsed = new X509Certificate(cert);
  return {
    certFile,
    keyFile,
    cert,
    key: readFileSync(keyFile, 'utf8'),
    serialNumber: parsed.serialNumber,
    fingerprint256: parsed.fingerprint256,
    notAfter: new Date(parsed.validTo),
  };
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A self-signed CA in dir/<name>.pem and dir/<name>.key. */
export async function makeCa(dir: string, name: string): Promise<Pem> {
  const certFile = path.join(dir, `${name}.pem`);
  const keyFile = path.join(dir, `${name}.key`);
  await openssl([
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return pemAt(certFile, keyFile);
}

let serial = Date.now();

/** A leaf signed by the CA, valid for localhost and 127.0.0.1 for `days`, usable by a server and a client; a new serial each time. */
export async function issue(ca: Pem, dir: string, name: string, days = 1): Promise<Pem> {
  const certFile = path.join(dir, `${name}.pem`);
  const keyFile = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  writeFileSync(
    ext,
    ['basicConstraints=CA:FALSE', 'subjectAltName=DNS:localhost,IP:127.0.0.1', 'extendedKeyUsage=serverAuth,clientAuth', ''].join('\n'),
  );
  await openssl(['req', ...EC_KEY, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${name}`]);
  serial += 1;
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.certFile,
    '-CAkey',
    ca.keyFile,
    '-set_serial',
    `0x${serial.toString(16)}`,
    '-days',
    String(days),
    '-extfile',
    ext,
    '-out',
    certFile,
  ]);
  return pemAt(certFile, keyFile);
}
