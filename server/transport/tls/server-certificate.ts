// The certificate the listeners serve, read from files and replaced without a
// restart: on SIGHUP and on a timer (cert-manager and certbot rewrite the
// files in place and signal no one). A pair that does not load (unreadable,
// not PEM, key not matching, expired) is refused and the one in force stays.
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import { Gauge } from 'prom-client';
import { invalidSetting } from '../../config/load.ts';
import type { Logger } from '../../observability/logger.ts';
import { registry } from '../../observability/metrics.ts';

export interface CertificateFiles {
  certFile: string;
  keyFile: string;
  /** Client CA(s) for mTLS, re-read with the pair. */
  clientCaFile?: string;
}

/** What a listener needs for its secure context, and what identifies it in logs. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  clientCa?: Buffer;
  /** SHA-256 of the leaf certificate (DER), colon-separated hex as openssl prints it. */
  fingerprint: string;
  serialNumber: string;
  notAfter: Date;
}

type Listener = (material: TlsMaterial) => void;

type FileSetting = 'tlsCertFile' | 'tlsKeyFile' | 'tlsClientCaFile';

async function readNamed(file: string, setting: FileSetting): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw invalidSetting(setting, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Reads and checks the files; throws a ConfigError naming the setting at fault. Never includes key material. */
export async function readTlsMaterial(files: CertificateFiles, now = new Date()): Promise<TlsMaterial> {
  const [cert, key, clientCa] = await Promise.all([
    readNamed(files.certFile, 'tlsCertFile'),
    readNamed(files.keyFile, 'tlsKeyFile'),
    files.clientCaFile ? readNamed(files.clientCaFile, 'tlsClientCaFile') : undefined,
  ]);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch {
    throw invalidSetting('tlsCertFile', `${files.certFile} is not a PEM certificate`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw invalidSetting('tlsKeyFile', `${files.keyFile} is not a PEM private key (an encrypted key is not supported)`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw invalidSetting('tlsKeyFile', `${files.keyFile} is not the private key of the certificate in ${files.certFile}`);
  }
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now.getTime()) {
    throw invalidSetting('tlsCertFile', `the certificate in ${files.certFile} expired on ${notAfter.toISOString()}`);
  }
  if (clientCa) {
    const blocks = clientCa.toString('utf8').match(PEM_CERTIFICATE) ?? [];
    try {
      if (blocks.length === 0) throw new Error('no certificate');
      for (const block of blocks) new X509Certificate(block);
    } catch {
      throw invalidSetting('tlsClientCaFile', `${files.clientCaFile} holds no readable PEM certificate`);
    }
  }
  try {
    // What the listeners will do with it: a pair OpenSSL refuses must fail here, not at a handshake.
    tls.createSecureContext({ cert, key, ca: clientCa });
  } catch (error) {
    throw invalidSetting('tlsCertFile', `OpenSSL refuses the pair: ${(error as Error).message}`);
  }
  return {
    cert,
    key,
    clientCa,
    fingerprint: leaf.fingerprint256,
    serialNumber: leaf.serialNumber,
    notAfter,
  };
}

function digestOf(material: TlsMaterial): string {
  const hash = createHash('sha256').update(material.cert).update(material.key);
  if (material.clientCa) hash.update(material.clientCa);
  return hash.digest('hex');
}

/** What logs may say about a certificate: never the key. */
export function describeCertificate(material: TlsMaterial): Record<string, string> {
  return { fingerprint: material.fingerprint, serialNumber: material.serialNumber, notAfter: material.notAfter.toISOString() };
}

// Certificates of the servers running in this process (one, outside tests).
const inForce = new Set<ServerCertificate>();
let expiryExported = false;

/** Registered with the first certificate, so a plaintext server exports no expiry at all (rather than 0, "expired"). */
function exportExpiry(): void {
  if (expiryExported) return;
  expiryExported = true;
  new Gauge({
    name: 'airlock_tls_certificate_expiry_timestamp_seconds',
    help: 'When the TLS certificate the listeners present expires, in Unix seconds (alert well before it; a renewal shows at the next reload).',
    registers: [registry],
    collect() {
      if (inForce.size > 0) this.set(Math.min(...[...inForce].map((certificate) => certificate.current.notAfter.getTime() / 1000)));
    },
  });
}

export class ServerCertificate {
  #material: TlsMaterial;
  #digest: string;
  readonly #listeners = new Set<Listener>();
  #timer: NodeJS.Timeout | undefined;
  #reloading: Promise<boolean> | undefined;

  private readonly files: CertificateFiles;
  private readonly logger: Logger;

  private constructor(files: CertificateFiles, material: TlsMaterial, logger: Logger) {
    this.files = files;
    this.logger = logger;
    this.#material = material;
    this.#digest = digestOf(material);
  }

  /** Reads the files at start; a bad pair stops the server here with a ConfigError. */
  static async load(files: CertificateFiles, logger: Logger): Promise<ServerCertificate> {
    const certificate = new ServerCertificate(files, await readTlsMaterial(files), logger);
    inForce.add(certificate);
    exportExpiry();
    return certificate;
  }

  get current(): TlsMaterial {
    return this.#material;
  }

  /** Called with every new certificate; returns the function that stops it. */
  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Re-reads the files. A changed, valid pair replaces the one in force and
   * new handshakes present it (connections already open keep theirs); a bad
   * one is logged and changes nothing. Resolves true when it replaced it.
   */
  reload(trigger: 'signal' | 'interval'): Promise<boolean> {
    // One read at a time: a SIGHUP during a timed check joins it.
    this.#reloading ??= this.#reload(trigger).finally(() => {
      this.#reloading = undefined;
    });
    return this.#reloading;
  }

  async #reload(trigger: 'signal' | 'interval'): Promise<boolean> {
    let material: TlsMaterial;
    try {
      material = await readTlsMaterial(this.files);
    } catch (error) {
      this.logger.error(
        { trigger, reason: (error as Error).message, inForce: describeCertificate(this.#material) },
        'TLS certificate not reloaded; the one in force stays',
      );
      return false;
    }
    const digest = digestOf(material);
    if (digest === this.#digest) {
      if (trigger === 'signal') this.logger.info({ trigger, ...describeCertificate(material) }, 'TLS certificate unchanged');
      return false;
    }
    this.#material = material;
    this.#digest = digest;
    for (const listener of this.#listeners) {
      try {
        listener(material);
      } catch (error) {
        // Checked above with the same OpenSSL, so not expected; a listener that refuses keeps its old one.
        this.logger.error({ trigger, reason: (error as Error).message }, 'a listener refused the new TLS certificate');
      }
    }
    this.logger.info({ trigger, ...describeCertificate(material) }, 'TLS certificate reloaded');
    return true;
  }

  /** Checks the files every intervalMs (0 = never; SIGHUP still reloads). */
  watch(intervalMs: number): void {
    if (intervalMs <= 0 || this.#timer) return;
    this.#timer = setInterval(() => void this.reload('interval'), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    inForce.delete(this);
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
