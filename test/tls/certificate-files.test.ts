// What the server accepts as its certificate files, at start and at reload:
// each refusal names the setting and the file, and never shows key material.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTlsMaterial } from '../../server/transport/tls/server-certificate.ts';
import { issue, makeCa, type Pem } from '../support/certificates.ts';
import { tempDir } from '../support/settings.ts';
import { runTool } from '../support/tools.ts';

const dir = tempDir('airlock-cert-files-');
let ca: Pem;
let leaf: Pem;
let encryptedKey: string;

beforeAll(async () => {
  ca = await makeCa(dir.path, 'ca');
  leaf = await issue(ca, dir.path, 'server');
  encryptedKey = path.join(dir.path, 'encrypted.key');
  const made = await runTool('openssl', ['pkey', '-in', leaf.keyFile, '-aes256', '-passout', 'pass:secret', '-out', encryptedKey]);
  if (made.code !== 0) throw new Error(made.stderr);
});

afterAll(() => dir.remove());

describe('readTlsMaterial', () => {
  it('reads a pair and a client CA, and identifies the certificate as openssl does', async () => {
    const material = await readTlsMaterial({ certFile: leaf.certFile, keyFile: leaf.keyFile, clientCaFile: ca.certFile });
    expect(material).toMatchObject({ serialNumber: leaf.serialNumber, fingerprint: leaf.fingerprint256 });
    expect(material.clientCa?.toString()).toBe(ca.cert);
  });

  it.each([
    [
      'a missing certificate',
      () => ({ certFile: path.join(dir.path, 'nope.pem'), keyFile: leaf.keyFile }),
      /^invalid AIRLOCK_TLS_CERT_FILE \(--tls-cert-file\): cannot read .*nope\.pem: ENOENT$/,
    ],
    [
      'a key for another certificate',
      () => ({ certFile: leaf.certFile, keyFile: ca.keyFile }),
      /^invalid AIRLOCK_TLS_KEY_FILE .*ca\.key is not the private key of the certificate in .*server\.pem$/,
    ],
    [
      'an encrypted key',
      () => ({ certFile: leaf.certFile, keyFile: encryptedKey }),
      /^invalid AIRLOCK_TLS_KEY_FILE .*encrypted\.key is not a PEM private key \(an encrypted key is not supported\)$/,
    ],
    [
      'a key given as the certificate',
      () => ({ certFile: leaf.keyFile, keyFile: leaf.keyFile }),
      /^invalid AIRLOCK_TLS_CERT_FILE .*server\.key is not a PEM certificate$/,
    ],
    [
      'a client CA file without a certificate',
      () => {
        const file = path.join(dir.path, 'empty-ca.pem');
        writeFileSync(file, 'nothing here\n');
        return { certFile: leaf.certFile, keyFile: leaf.keyFile, clientCaFile: file };
      },
      /^invalid AIRLOCK_TLS_CLIENT_CA_FILE .*empty-ca\.pem holds no readable PEM certificate$/,
    ],
  ])('refuses %s, naming the setting', async (_, files, message) => {
    const error = (await readTlsMaterial(files()).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('PRIVATE KEY');
  });

  it('refuses a certificate that has expired', async () => {
    const later = new Date(Date.now() + 3 * 86_400_000);
    await expect(readTlsMaterial({ certFile: leaf.certFile, keyFile: leaf.keyFile }, later)).rejects.toThrow(
      /^invalid AIRLOCK_TLS_CERT_FILE .*the certificate in .*server\.pem expired on \d{4}-/,
    );
  });
});
