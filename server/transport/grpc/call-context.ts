// The identity the bearer interceptor proved, handed to handlers without
// passing through anything a client can write: a WeakMap keyed by the
// call's own metadata object.
import type { Metadata } from '@grpc/grpc-js';
import type { Identity } from '../rpc/call-context.ts';

const identities = new WeakMap<Metadata, Identity>();

export function attachIdentity(metadata: Metadata, identity: Identity): void {
  identities.set(metadata, identity);
}

export function identityOf(metadata: Metadata): Identity | undefined {
  return identities.get(metadata);
}
