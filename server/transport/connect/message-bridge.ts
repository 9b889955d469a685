// The procedures speak the ts-proto messages of proto/gen; Connect speaks the
// protobuf-es messages of proto/gen-es. Both are generated from the same
// proto files, so a message crosses by its binary encoding: exact for every
// field, oneof and well-known type, with no hand-written mapping to drift.
import { fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';

/** A ts-proto method definition (proto/gen's grpc-js service object): its codecs. */
export interface TsProtoMethod {
  requestDeserialize(bytes: Buffer): unknown;
  responseSerialize(message: never): Buffer;
}

export function toProcedureRequest(schema: DescMessage, method: TsProtoMethod, message: MessageShape<DescMessage>): unknown {
  return method.requestDeserialize(Buffer.from(toBinary(schema, message)));
}

export function toConnectResponse(schema: DescMessage, method: TsProtoMethod, message: unknown): MessageShape<DescMessage> {
  return fromBinary(schema, method.responseSerialize(message as never));
}
