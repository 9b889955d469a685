// gRPC server credentials that follow the ServerCertificate: grpc-js's
// certificate-provider credentials call setSecureContext on its HTTP/2
// listener (ALPN h2) whenever a provider announces a new certificate. We
// provide our own instead of grpc-js's FileWatcherCertificateProvider, which
// drops every new connection when a rewritten file does not load: ours only
// announces a pair that loaded, so a bad one leaves the old one serving.
import { experimental, type ServerCredentials } from '@grpc/grpc-js';
import type { ServerCertificate, TlsMaterial } from '../tls/server-certificate.ts';

type Update<T> = (update: T | null) => void;

function certificateProvider(certificate: ServerCertificate): experimental.CertificateProvider {
  const identity = new Set<Update<experimental.IdentityCertificateUpdate>>();
  const ca = new Set<Update<experimental.CaCertificateUpdate>>();
  const identityOf = (m: TlsMaterial) => ({ certificate: m.cert, privateKey: m.key });
  const caOf = (m: TlsMaterial) => (m.clientCa ? { caCertificate: m.clientCa } : null);
  certificate.onChange((material) => {
    for (const listener of identity) listener(identityOf(material));
    for (const listener of ca) listener(caOf(material));
  });
  return {
    addIdentityCertificateListener(listener) {
      identity.add(listener);
      process.nextTick(listener, identityOf(certificate.current));
    },
    removeIdentityCertificateListener: (listener) => identity.delete(listener),
    addCaCertificateListener(listener) {
      ca.add(listener);
      process.nextTick(listener, caOf(certificate.current));
    },
    removeCaCertificateListener: (listener) => ca.delete(listener),
  };
}

/** TLS for the gRPC listener; with requireClientCertificate, a client without one signed by the client CA fails the handshake. */
export function reloadingServerCredentials(certificate: ServerCertificate, requireClientCertificate: boolean): ServerCredentials {
  const provider = certificateProvider(certificate);
  // grpc-js 1.14 hands its first argument to the identity slot and its second to the CA slot, whatever the parameter names say.
  return experimental.createCertificateProviderServerCredentials(
    provider,
    requireClientCertificate ? provider : null,
    requireClientCertificate,
  );
}
