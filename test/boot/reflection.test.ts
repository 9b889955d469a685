// A reflection client that knows only the address, as grpcurl does: it
// lists services, resolves each one's file with every import, builds a
// request for every method from the fetched descriptors alone, and calls.
import { create, createFileRegistry, fromBinary, fromJson, toBinary, type DescMessage } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerReflectionClient, type ServerReflectionResponse } from '../../proto/gen/grpc/reflection/v1/reflection.ts';
import { ServerReflectionClient as AlphaClient } from '../../proto/gen/grpc/reflection/v1alpha/reflection.ts';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';

let airlock: InProcessAirlock;
beforeAll(async () => {
  airlock = await startInProcess();
});
afterAll(() => airlock.close());

type Request =
  Parameters<ServerReflectionClient['serverReflectionInfo']> extends never ? never : { messageRequest: { $case: string; value: unknown } };

/** One reflection round trip over a fresh bidi stream. */
function ask(client: ServerReflectionClient | AlphaClient, request: Request): Promise<ServerReflectionResponse> {
  return new Promise((resolve, reject) => {
    const stream = (client as ServerReflectionClient).serverReflectionInfo();
    stream.on('data', (response: ServerReflectionResponse) => {
      resolve(response);
      stream.end();
    });
    stream.on('error', reject);
    stream.write({ host: '', ...request } as never);
  });
}

async function resolveAll(client: ServerReflectionClient | AlphaClient) {
  const list = await ask(client, { messageRequest: { $case: 'listServices', value: '*' } });
  if (list.messageResponse?.$case !== 'listServicesResponse') throw new Error('no service list');
  const services = list.messageResponse.value.service.map((s) => s.name);
  const files = new Map<string, FileDescriptorProto>();
  for (const service of services) {
    const answer = await ask(client, { messageRequest: { $case: 'fileContainingSymbol', value: service } });
    if (answer.messageResponse?.$case !== 'fileDescriptorResponse') throw new Error(`no descriptor for ${service}`);
    for (const bytes of answer.messageResponse.value.fileDescriptorProto) {
      const file = fromBinary(FileDescriptorProtoSchema, bytes);
      files.set(file.name, file);
    }
  }
  // Throws if any file's import was not served. (The set must list imports first.)
  const ordered: FileDescriptorProto[] = [];
  const visit = (file: FileDescriptorProto) => {
    if (ordered.includes(file)) return;
    for (const dependency of file.dependency) {
      const imported = files.get(dependency);
      if (!imported) throw new Error(`${dependency}, imported by ${file.name}, was not served`);
      visit(imported);
    }
    ordered.push(file);
  };
  for (const file of files.values()) visit(file);
  const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
  return { services, files, registry };
}

describe('server reflection', () => {
  it('lists Airlock, health and reflection services', async () => {
    const client = new ServerReflectionClient(airlock.grpcTarget, credentials.createInsecure());
    const { services } = await resolveAll(client);
    expect(services).toEqual(
      expect.arrayContaining([
        'airlock.auth.v1.AuthService',
        'airlock.channels.v1.ChannelsService',
        'grpc.health.v1.Health',
        'grpc.reflection.v1.ServerReflection',
      ]),
    );
    client.close();
  });

  it('serves every file with its imports, google/protobuf/timestamp.proto included', async () => {
    const client = new ServerReflectionClient(airlock.grpcTarget, credentials.createInsecure());
    const { files, registry } = await resolveAll(client);
    expect(files.get('airlock/auth/v1/auth.proto')?.dependency).toEqual(['google/protobuf/timestamp.proto']);
    expect(files.get('airlock/channels/v1/channels.proto')?.dependency).toEqual(['google/protobuf/timestamp.proto']);
    expect(files.has('google/protobuf/timestamp.proto')).toBe(true);
    expect(registry.getMessage('google.protobuf.Timestamp')).toBeDefined();

    const byName = await ask(client, { messageRequest: { $case: 'fileByFilename', value: 'google/protobuf/timestamp.proto' } });
    expect(byName.messageResponse?.$case).toBe('fileDescriptorResponse');
    const method = await ask(client, {
      messageRequest: { $case: 'fileContainingSymbol', value: 'airlock.auth.v1.AuthService.AwaitLogin' },
    });
    expect(method.messageResponse?.$case).toBe('fileDescriptorResponse');
    const missing = await ask(client, { messageRequest: { $case: 'fileContainingSymbol', value: 'no.such.Thing' } });
    expect(missing.messageResponse).toMatchObject({ $case: 'errorResponse', value: { errorCode: status.NOT_FOUND } });
    client.close();
  });

  it('builds a request for every method from the fetched descriptors and calls it', async () => {
    const reflection = new ServerReflectionClient(airlock.grpcTarget, credentials.createInsecure());
    const { services, registry } = await resolveAll(reflection);
    reflection.close();
    const raw = new Client(airlock.grpcTarget, credentials.createInsecure());
    let methods = 0;
    for (const name of services) {
      const service = registry.getService(name);
      expect(service, name).toBeDefined();
      for (const method of service!.methods) {
        methods += 1;
        // Like `grpcurl -d '{}'`: a request built from JSON against the served schema.
        const request = toBinary(method.input, fromJson(method.input, {}));
        expect(request).toBeInstanceOf(Uint8Array);
        if (method.methodKind !== 'unary') continue;
        const code = await unaryCall(raw, `/${name}/${method.name}`, request, method.output);
        // Whatever the status, the call reached a handler that decoded our bytes.
        expect(
          [status.OK, status.INVALID_ARGUMENT, status.UNAUTHENTICATED, status.UNIMPLEMENTED, status.NOT_FOUND],
          `${name}/${method.name}`,
        ).toContain(code);
      }
    }
    expect(methods).toBeGreaterThanOrEqual(9);
    raw.close();
  });

  it('answers v1alpha too, for older grpcurl', async () => {
    const client = new AlphaClient(airlock.grpcTarget, credentials.createInsecure());
    const { services } = await resolveAll(client);
    expect(services).toContain('airlock.auth.v1.AuthService');
    client.close();
  });
});

function unaryCall(client: Client, path: string, request: Uint8Array, output: DescMessage): Promise<number> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (bytes: Uint8Array) => Buffer.from(bytes),
      (bytes: Buffer) => fromBinary(output, bytes),
      request,
      new Metadata(),
      { deadline: Date.now() + 5_000 },
      (error: ServiceError | null) => resolve(error ? error.code : status.OK),
    );
  });
}
