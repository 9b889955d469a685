// go-grpc-prometheus metrics for every RPC: started, handled by code,
// handling time, messages each way; and the AwaitLogin streams open.
import { ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import { GRPC_CODE_NAMES as CODE_NAMES, metrics } from '../../observability/metrics.ts';

function grpcType(requestStream: boolean, responseStream: boolean): string {
  if (requestStream && responseStream) return 'bidi_stream';
  if (requestStream) return 'client_stream';
  if (responseStream) return 'server_stream';
  return 'unary';
}

interface MethodLabels {
  grpc_type: string;
  grpc_service: string;
  grpc_method: string;
}

export function metricsInterceptor(): ServerInterceptor {
  // One labels object per method, shared by its calls: grpc-js runs
  // interceptors only for registered methods, so this map stays that size.
  const labelsByPath = new Map<string, Readonly<MethodLabels>>();
  return (methodDescriptor, call) => {
    let labels = labelsByPath.get(methodDescriptor.path);
    if (!labels) {
      // "/airlock.auth.v1.AuthService/InitiateLogin": the path names a registered method, never caller data.
      const [, service = 'unknown', method = 'unknown'] = /^\/([^/]+)\/([^/]+)$/.exec(methodDescriptor.path) ?? [];
      labels = Object.freeze({
        grpc_type: grpcType(methodDescriptor.requestStream, methodDescriptor.responseStream),
        grpc_service: service,
        grpc_method: method,
      });
      labelsByPath.set(methodDescriptor.path, labels);
    }
    const awaitLogin = labels.grpc_method === 'AwaitLogin';
    const endTimer = metrics.grpcHandlingSeconds.startTimer(labels);
    metrics.grpcStarted.inc(labels);
    let open = false;
    const close = () => {
      if (!open) return;
      open = false;
      metrics.awaitLoginStreams.dec();
    };
    return new ServerInterceptingCall(call, {
      start(next) {
        if (awaitLogin) {
          open = true;
          metrics.awaitLoginStreams.inc();
        }
        next({
          onReceiveMessage(message, nextMessage) {
            metrics.grpcMsgReceived.inc(labels);
            nextMessage(message);
          },
          onCancel: close,
        });
      },
      sendMessage(message, next) {
        metrics.grpcMsgSent.inc(labels);
        next(message);
      },
      sendStatus(grpcStatus, next) {
        close();
        endTimer();
        metrics.grpcHandled.inc({ ...labels, grpc_code: CODE_NAMES[grpcStatus.code] ?? `Code(${grpcStatus.code})` });
        next(grpcStatus);
      },
    });
  };
}
