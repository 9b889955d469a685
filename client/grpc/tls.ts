// Channel credentials for https servers: the system roots, or a private CA
// (a self-signed or internal server), and a client certificate for servers
// that require mTLS. Files are read once, when the first https connection is made.
import { readFileSync } from 'node:fs';
import { type ChannelCredentials, credentials } from '@grpc/grpc-js';
import { InvalidTlsOptionsError } from '../errors.ts';

export interface TlsOptions {
  /** CA certificate(s), PEM, trusted for https servers instead of the system roots. */
  ca?: string | Buffer;
  /** A file holding `ca`. */
  caFile?: string;
  /** Client certificate chain (PEM) for a server that requires mTLS; with clientKey. */
  clientCert?: string | Buffer;
  clientKey?: string | Buffer;
  /** Files holding clientCert and clientKey. */
  clientCertFile?: string;
  clientKeyFile?: string;
}

function pem(value: string | Buffer | undefined, file: string | undefined, what: string): Buffer | undefined {
  if (value !== undefined && file !== undefined) throw new InvalidTlsOptionsError(`give the ${what} or its file, not both`);
  if (value !== undefined) return Buffer.from(value);
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (error) {
    throw new InvalidTlsOptionsError(
      `cannot read the ${what} file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

export function tlsCredentials(options: TlsOptions): ChannelCredentials {
  const ca = pem(options.ca, options.caFile, 'CA certificate');
  const cert = pem(options.clientCert, options.clientCertFile, 'client certificate');
  const key = pem(options.clientKey, options.clientKeyFile, 'client key');
  if ((cert === undefined) !== (key === undefined)) throw new InvalidTlsOptionsError('give the client certificate and its key together');
  try {
    return credentials.createSsl(ca ?? null, key ?? null, cert ?? null);
  } catch (error) {
    // OpenSSL's reason (bad PEM, key not matching); never the key itself.
    throw new InvalidTlsOptionsError(`unusable TLS options: ${(error as Error).message}`);
  }
}
