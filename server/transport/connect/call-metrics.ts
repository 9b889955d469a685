// The RPC metrics of a Connect or gRPC-Web call: the same go-grpc-prometheus
// families and labels as on gRPC (a call is a call of the contract, whichever
// transport carried it), and AwaitLogin streams in the open-streams gauge.
import { GRPC_CODE_NAMES, metrics } from '../../observability/metrics.ts';

export interface CallMetrics {
  sent(): void;
  /** The call ended with this code (0 = OK). */
  end(code: number): void;
}

interface MethodLabels {
  grpc_type: string;
  grpc_service: string;
  grpc_method: string;
}

// One labels object per method, shared by its calls, as the gRPC metrics
// interceptor does: only the contract's bound methods get here, so this map
// stays that size.
const labelsByMethod = new Map<string, Readonly<MethodLabels>>();

export function startCallMetrics(service: string, method: string, streaming: boolean): CallMetrics {
  const key = `${service}/${method}`;
  let labels = labelsByMethod.get(key);
  if (!labels) {
    labels = Object.freeze({ grpc_type: streaming ? 'server_stream' : 'unary', grpc_service: service, grpc_method: method });
    labelsByMethod.set(key, labels);
  }
  const endTimer = metrics.grpcHandlingSeconds.startTimer(labels);
  const awaitLogin = method === 'AwaitLogin';
  metrics.grpcStarted.inc(labels);
  metrics.grpcMsgReceived.inc(labels);
  if (awaitLogin) metrics.awaitLoginStreams.inc();
  let ended = false;
  return {
    sent: () => metrics.grpcMsgSent.inc(labels),
    end(code) {
      if (ended) return;
      ended = true;
      if (awaitLogin) metrics.awaitLoginStreams.dec();
      endTimer();
      metrics.grpcHandled.inc({ ...labels, grpc_code: GRPC_CODE_NAMES[code] ?? `Code(${code})` });
    },
  };
}
