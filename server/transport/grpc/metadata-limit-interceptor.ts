// The limit on a call's request metadata (every header, not only
// authorization): a call over it ends RESOURCE_EXHAUSTED with ErrorInfo
// reason METADATA_TOO_LARGE before any handler or authentication runs, and
// the connection with its other streams carries on.
//
// What this cannot cover is decided below grpc-js, in Node's HTTP/2 layer
// (nghttp2), before any interceptor sees the call: one header field whose
// HPACK-encoded size exceeds 64 KiB, or a header block longer than one
// HEADERS frame plus 8 CONTINUATION frames (about 144 KiB encoded), closes
// the whole connection; more than 128 header fields resets that stream only
// (RESOURCE_EXHAUSTED without ErrorInfo). grpc-js offers no option for
// either (grpc/grpc-node#2050: no grpc.max_metadata_size; #2431: no
// maxHeaderListPairs), so the setting is capped below them (settings.ts).
import { ServerInterceptingCall, status, type Metadata, type ServerInterceptor } from '@grpc/grpc-js';
import { errorInfoMetadata } from './status.ts';

export const METADATA_TOO_LARGE = 'METADATA_TOO_LARGE';

/** Bytes of the metadata as sent: every key and value (binary values decoded). */
export function metadataBytes(metadata: Metadata): number {
  let size = 0;
  for (const [key, values] of Object.entries(metadata.toJSON())) {
    for (const value of values) size += key.length + (typeof value === 'string' ? Buffer.byteLength(value) : value.length);
  }
  return size;
}

export function metadataLimitInterceptor(maxBytes: number): ServerInterceptor {
  return (_methodDescriptor, call) =>
    new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, passOn) {
            const size = metadataBytes(metadata);
            if (size <= maxBytes) return passOn(metadata);
            const message = `the request metadata is ${size} bytes, more than the ${maxBytes} bytes this server accepts`;
            call.sendStatus({
              code: status.RESOURCE_EXHAUSTED,
              details: message,
              metadata: errorInfoMetadata(status.RESOURCE_EXHAUSTED, message, METADATA_TOO_LARGE, { limitBytes: String(maxBytes) }),
            });
          },
        });
      },
    });
}
