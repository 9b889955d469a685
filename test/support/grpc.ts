// Real grpc-js clients from the generated contract, with promise helpers.
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { AuthServiceClient } from '../../proto/gen/airlock/auth/v1/auth.ts';
import { ChannelsServiceClient } from '../../proto/gen/airlock/channels/v1/channels.ts';
import { HealthClient } from '../../proto/gen/grpc/health/v1/health.ts';
import { readErrorInfo } from '../../server/transport/grpc/status.ts';

export function clientsFor(target: string) {
  const creds = credentials.createInsecure();
  return {
    auth: new AuthServiceClient(target, creds),
    channels: new ChannelsServiceClient(target, creds),
    health: new HealthClient(target, creds),
    close() {
      this.auth.close();
      this.channels.close();
      this.health.close();
    },
  };
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: { deadline?: Date },
  callback: (error: ServiceError | null, response: Res) => void,
) => unknown;

/** Calls a unary method and resolves with its response or rejects with the ServiceError. */
export function call<Req, Res>(
  client: object,
  method: UnaryMethod<Req, Res>,
  request: Req,
  options: { metadata?: Metadata; bearer?: string; deadlineMs?: number } = {},
): Promise<Res> {
  const metadata = options.metadata ?? new Metadata();
  if (options.bearer !== undefined) metadata.set('authorization', `Bearer ${options.bearer}`);
  const deadline = new Date(Date.now() + (options.deadlineMs ?? 10_000));
  return new Promise((resolve, reject) => {
    method.call(client, request, metadata, { deadline }, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

/** Rejects unless the promise fails with a gRPC error; returns code, details and ErrorInfo reason. */
export async function grpcFailure(promise: Promise<unknown>): Promise<{ code: number; details: string; reason: string | undefined }> {
  try {
    await promise;
  } catch (error) {
    const e = error as ServiceError;
    if (typeof e.code !== 'number') throw error;
    return { code: e.code, details: e.details, reason: readErrorInfo(e.metadata)?.reason };
  }
  throw new Error('expected the call to fail, but it succeeded');
}
