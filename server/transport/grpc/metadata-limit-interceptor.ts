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
//
// The size and the error are rpc/bearer.ts's, which the Connect handler
// applies to its HTTP request headers too.
import { ServerInterceptingCall, status, type Metadata, type ServerInterceptor } from '@grpc/grpc-js';
import { METADATA_TOO_LARGE, MetadataTooLargeError, metadataBytes as headerBytes } from '../rpc/bearer.ts';
import { errorInfoMetadata } from './status.ts';

export { METADATA_TOO_LARGE };

/** Bytes of the metadata as sent: every key and value (binary values decoded). */
export function metadataBytes(metadata: Metadata): number {
  return headerBytes(entries(metadata));
}

function* entries(metadata: Metadata): Generator<[string, string | Uint8Array]> {
  for (const [key, values] of Object.entries(metadata.toJSON())) for (const value of values) yield [key, value];
}

export function metadataLimitInterceptor(maxBytes: number): ServerInterceptor {
  return (_methodDescriptor, call) =>
    new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, passOn) {
            const size = metadataBytes(metadata);
            if (size <= maxBytes) return passOn(metadata);
            const { message } = new MetadataTooLargeError(size, maxBytes);
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
