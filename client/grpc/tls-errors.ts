// How grpc-js reports TLS failures, as text to recognise: free of grpc-js and
// node:* so status.ts (which the browser build shares) can read them without
// loading tls.ts.

/** grpc-js reports an untrusted server certificate as UNAVAILABLE; these are OpenSSL's and Node's words for it. */
export const UNTRUSTED_CERTIFICATE =
  /self[- ]signed certificate|unable to (get local issuer|verify the first) certificate|certificate (has expired|is not yet valid)|does not match certificate's altnames|unable to get issuer certificate/i;

/** The server's TLS alerts refusing our client certificate (none, or one it does not trust). */
export const CLIENT_CERTIFICATE_REFUSED = /alert (certificate required|bad certificate|unknown ca|certificate unknown)/i;
