// What a server URL means to the client, whichever transport it uses.
import { InvalidServerUrlError } from './errors.ts';

export interface ServerAddress {
  /** Canonical form stored with the session, e.g. "http://127.0.0.1:50051". */
  url: string;
  /** grpc-js target, "host:port". */
  target: string;
  tls: boolean;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/**
 * Accepts "https://host[:port]" (TLS, default port 443), "http://host:port"
 * (plaintext) or a bare "host:port" (plaintext on loopback, TLS elsewhere).
 */
export function parseServerUrl(input: string): ServerAddress {
  const trimmed = input.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)
    ? trimmed
    : `${LOOPBACK.has(hostOf(trimmed)) ? 'http' : 'https'}://${trimmed}`;
  let parsed: URL;
  try {
    parsed = new URL(withScheme);
  } catch {
    throw new InvalidServerUrlError(`"${input}" is not a server address (expected https://host[:port], http://host:port or host:port)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new InvalidServerUrlError(`"${input}" must use http:// or https://`);
  }
  if ((parsed.pathname !== '/' && parsed.pathname !== '') || parsed.search || parsed.hash || parsed.username || parsed.password) {
    throw new InvalidServerUrlError(`"${input}" must be a bare server address without a path, query or credentials`);
  }
  const tls = parsed.protocol === 'https:';
  const port = parsed.port || (tls ? '443' : '80');
  return { url: `${parsed.protocol}//${parsed.hostname}:${port}`, target: `${parsed.hostname}:${port}`, tls };
}

function hostOf(hostPort: string): string {
  const bracketed = /^\[[^\]]+\]/.exec(hostPort);
  if (bracketed) return bracketed[0];
  return hostPort.split(':')[0] ?? '';
}
