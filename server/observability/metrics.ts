// Prometheus metrics (prom-client), served on the admin listener. One
// registry per process: every component records into `metrics`, and gauges
// that read live state ask the sources registered with `addGaugeSource`.
// Labels are small closed sets (method, code, outcome, reason): never a DID,
// a token, a login id or a session id.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

type GaugeSource = () => number | Promise<number>;
const sources = new Map<string, Set<GaugeSource>>();

/** A gauge whose value is the sum of its registered sources, read at scrape time. */
function liveGauge(name: string, help: string): Gauge {
  const set = new Set<GaugeSource>();
  sources.set(name, set);
  return new Gauge({
    name,
    help,
    registers: [registry],
    async collect() {
      let total = 0;
      for (const source of set) {
        try {
          total += await source();
        } catch {
          // A source that cannot answer (database down) adds nothing; database_up says why.
        }
      }
      this.set(total);
    },
  });
}

/** Registers a live source for a gauge; returns the function that removes it (on shutdown). */
export function addGaugeSource(name: GaugeName, source: GaugeSource): () => void {
  const set = sources.get(name)!;
  set.add(source);
  return () => set.delete(source);
}

export type GaugeName =
  | 'airlock_logins_pending'
  | 'airlock_database_up'
  | 'airlock_database_pool_connections_total'
  | 'airlock_database_pool_connections_idle'
  | 'airlock_database_pool_waiting_clients';

// The code names of Go's codes.Code.String(), as go-grpc-prometheus writes them.
export const GRPC_CODE_NAMES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
];

const grpcLabels = ['grpc_type', 'grpc_service', 'grpc_method'] as const;

export const metrics = {
  // RPCs (gRPC, and Connect / gRPC-Web on the HTTP listener), named as
  // go-grpc-prometheus names them, so its dashboards work unchanged.
  grpcStarted: new Counter({
    name: 'grpc_server_started_total',
    help: 'Total number of RPCs started on the server.',
    labelNames: grpcLabels,
    registers: [registry],
  }),
  grpcHandled: new Counter({
    name: 'grpc_server_handled_total',
    help: 'Total number of RPCs completed on the server, regardless of success or failure.',
    labelNames: [...grpcLabels, 'grpc_code'],
    registers: [registry],
  }),
  grpcHandlingSeconds: new Histogram({
    name: 'grpc_server_handling_seconds',
    help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
    labelNames: grpcLabels,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 300, 600],
    registers: [registry],
  }),
  grpcMsgReceived: new Counter({
    name: 'grpc_server_msg_received_total',
    help: 'Total number of RPC stream messages received on the server.',
    labelNames: grpcLabels,
    registers: [registry],
  }),
  grpcMsgSent: new Counter({
    name: 'grpc_server_msg_sent_total',
    help: 'Total number of gRPC stream messages sent by the server.',
    labelNames: grpcLabels,
    registers: [registry],
  }),

  // The domain.
  awaitLoginStreams: new Gauge({
    name: 'airlock_await_login_streams_open',
    help: 'AwaitLogin streams open on this process.',
    registers: [registry],
  }),
  loginsPending: liveGauge('airlock_logins_pending', 'Logins waiting for their user (not finished, not expired), across all replicas.'),
  loginsInitiated: new Counter({
    name: 'airlock_logins_initiated_total',
    help: 'Logins started (InitiateLogin accepted).',
    registers: [registry],
  }),
  loginOutcomes: new Counter({
    name: 'airlock_login_outcomes_total',
    help: 'Logins finished, by outcome (completed, failed) and reason (access-denied, error, cancelled; "none" when completed).',
    labelNames: ['outcome', 'reason'],
    registers: [registry],
  }),
  loginConfirmations: new Counter({
    name: 'airlock_login_confirmations_total',
    help: "Decisions at the login confirmation page: shown, confirmed, cancelled, skipped-same-network (no page: the browser is on the app's network), refused (a POST without the page's CSRF token), callback-refused (a callback from a browser the link never sent on, from another network).",
    labelNames: ['decision'],
    registers: [registry],
  }),
  loginSeconds: new Histogram({
    name: 'airlock_login_duration_seconds',
    help: "Time from InitiateLogin to the completed sign-in (the user's time included).",
    buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600],
    registers: [registry],
  }),
  refreshRotations: new Counter({
    name: 'airlock_refresh_rotations_total',
    help: 'Refresh tokens rotated (successful RefreshSession).',
    registers: [registry],
  }),
  refreshReuse: new Counter({
    name: 'airlock_refresh_reuse_detections_total',
    help: 'Rotated refresh tokens presented again (the session is revoked as stolen).',
    registers: [registry],
  }),
  livekitCalls: new Counter({
    name: 'airlock_livekit_room_service_calls_total',
    help: 'Calls to the LiveKit room service (get_participant, remove_participant, update_participant), answered or not.',
    labelNames: ['operation'],
    registers: [registry],
  }),
  livekitCallFailures: new Counter({
    name: 'airlock_livekit_room_service_failures_total',
    help: 'Calls to the LiveKit room service that failed (unreachable, timed out, refused); "not found" is an answer, not a failure.',
    labelNames: ['operation'],
    registers: [registry],
  }),
  revocations: new Counter({
    name: 'airlock_session_revocations_total',
    help: 'Sessions revoked, by reason (logout, refresh-token-reuse, upstream-revoked, user, admin).',
    labelNames: ['reason'],
    registers: [registry],
  }),

  // The platform (process metrics, event-loop lag and GC come from collectDefaultMetrics).
  databaseUp: liveGauge('airlock_database_up', '1 when the database answered its last liveness check, 0 when not.'),
  poolTotal: liveGauge('airlock_database_pool_connections_total', 'PostgreSQL connections open in the main pool.'),
  poolIdle: liveGauge('airlock_database_pool_connections_idle', 'PostgreSQL connections of the main pool that are idle.'),
  notifyLagSeconds: new Histogram({
    name: 'airlock_notify_lag_seconds',
    help: "Time from a replica's NOTIFY to this replica's receipt on its LISTEN connection, by channel (clocks of different hosts included).",
    labelNames: ['channel'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  }),
  poolWaiting: liveGauge('airlock_database_pool_waiting_clients', 'Queries waiting for a connection of the main pool.'),
};
