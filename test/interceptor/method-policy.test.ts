// Every RPC in the compiled contract has an access rule, and the rules say
// what issue 4 requires. Adding an RPC without classifying it fails here.
import { readFileSync } from 'node:fs';
import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { accessOf, METHOD_POLICY } from '../../server/transport/rpc/method-policy.ts';
import { DESCRIPTOR_SET_PATH } from '../../server/transport/grpc/reflection.ts';

// Served by grpc-health-check from its own proto, which is newer than ours.
const LIBRARY_ONLY = ['/grpc.health.v1.Health/List'];

function contractMethods(): string[] {
  const set = fromBinary(FileDescriptorSetSchema, readFileSync(DESCRIPTOR_SET_PATH));
  const paths: string[] = [];
  for (const file of set.file) {
    for (const service of file.service) {
      for (const method of service.method) paths.push(`/${file.package ? `${file.package}.` : ''}${service.name}/${method.name}`);
    }
  }
  return paths;
}

describe('method policy', () => {
  it('classifies every RPC of every service in proto/gen/descriptor.binpb', () => {
    const methods = contractMethods();
    expect(methods.length).toBeGreaterThan(8);
    const unclassified = methods.filter((path) => !Object.hasOwn(METHOD_POLICY, path));
    expect(unclassified, 'classify these in server/transport/rpc/method-policy.ts').toEqual([]);
    const stale = Object.keys(METHOD_POLICY).filter((path) => !methods.includes(path) && !LIBRARY_ONLY.includes(path));
    expect(stale, 'these are in the policy but not in the contract').toEqual([]);
  });

  it('guards ChannelsService and WhoAmI, lets Logout take an optional bearer, and never guards login, refresh, health or reflection', () => {
    for (const path of contractMethods()) {
      if (path.startsWith('/airlock.channels.v1.ChannelsService/')) expect(accessOf(path), path).toBe('bearer');
      if (path.startsWith('/grpc.')) expect(accessOf(path), path).toBe('public');
    }
    expect(accessOf('/airlock.auth.v1.AuthService/WhoAmI')).toBe('bearer');
    expect(accessOf('/airlock.auth.v1.AuthService/ListSessions')).toBe('bearer');
    expect(accessOf('/airlock.auth.v1.AuthService/RevokeSession')).toBe('bearer');
    expect(accessOf('/airlock.auth.v1.AuthService/Logout')).toBe('optional-bearer');
    for (const name of ['InitiateLogin', 'AwaitLogin', 'RefreshSession'])
      expect(accessOf(`/airlock.auth.v1.AuthService/${name}`)).toBe('public');
  });

  it('treats a method it does not know as guarded', () => {
    expect(accessOf('/airlock.auth.v1.AuthService/SomethingNew')).toBe('bearer');
    expect(accessOf('/toString')).toBe('bearer');
  });
});
