// gRPC server reflection (v1 and v1alpha) served from the exact descriptor
// set that `buf build` writes. Each file is served as compiled, with its
// imports listed and resolvable, which @grpc/reflection's proto-loader-based
// files are not (fullstorydev/grpcurl#459).
import { readFileSync } from 'node:fs';
import { createFileRegistry, fromBinary, toBinary, type DescFile, type FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { status, type Server, type ServerDuplexStream } from '@grpc/grpc-js';
import * as v1 from '../../../proto/gen/grpc/reflection/v1/reflection.ts';
import * as v1alpha from '../../../proto/gen/grpc/reflection/v1alpha/reflection.ts';

export const DESCRIPTOR_SET_PATH = new URL('../../../proto/gen/descriptor.binpb', import.meta.url);

type Request = v1.ServerReflectionRequest;
type Response = v1.ServerReflectionResponse;

export class DescriptorIndex {
  readonly #registry: FileRegistry;
  readonly #encoded = new Map<string, Buffer>();

  readonly services: string[];

  constructor(descriptorSet: Uint8Array, services: string[]) {
    this.services = services;
    const set = fromBinary(FileDescriptorSetSchema, descriptorSet);
    this.#registry = createFileRegistry(set);
    for (const file of set.file) this.#encoded.set(file.name, Buffer.from(toBinary(FileDescriptorProtoSchema, file)));
  }

  static load(services: string[]): DescriptorIndex {
    return new DescriptorIndex(readFileSync(DESCRIPTOR_SET_PATH), services);
  }

  /** The file and, after it, every file it imports, transitively. */
  fileWithImports(file: DescFile): Buffer[] {
    const seen = new Set<string>();
    const out: Buffer[] = [];
    const visit = (f: DescFile) => {
      if (seen.has(f.proto.name)) return;
      seen.add(f.proto.name);
      out.push(this.#encoded.get(f.proto.name)!);
      for (const dependency of f.dependencies) visit(dependency);
    };
    visit(file);
    return out;
  }

  fileByName(name: string): DescFile | undefined {
    return this.#registry.getFile(name);
  }

  fileContainingSymbol(symbol: string): DescFile | undefined {
    const direct = this.#registry.get(symbol);
    if (direct) return direct.file;
    // A method ("pkg.Service.Method") or a field/enum value: look at the parent.
    const parent = symbol.slice(0, symbol.lastIndexOf('.'));
    const owner = parent ? this.#registry.get(parent) : undefined;
    return owner?.file;
  }

  extensionNumbers(typeName: string): number[] | undefined {
    const message = this.#registry.getMessage(typeName);
    if (!message) return undefined;
    const numbers: number[] = [];
    for (const extension of this.#registry) {
      if (extension.kind === 'extension' && extension.extendee.typeName === typeName) numbers.push(extension.number);
    }
    return numbers;
  }

  answer(request: Request): Response {
    const base = { validHost: request.host, originalRequest: request };
    const notFound = (what: string): Response => ({
      ...base,
      messageResponse: { $case: 'errorResponse', value: { errorCode: status.NOT_FOUND, errorMessage: `${what} not found` } },
    });
    const files = (file: DescFile | undefined, what: string): Response =>
      file
        ? { ...base, messageResponse: { $case: 'fileDescriptorResponse', value: { fileDescriptorProto: this.fileWithImports(file) } } }
        : notFound(what);
    const message = request.messageRequest;
    switch (message?.$case) {
      case 'listServices':
        return { ...base, messageResponse: { $case: 'listServicesResponse', value: { service: this.services.map((name) => ({ name })) } } };
      case 'fileByFilename':
        return files(this.fileByName(message.value), `file ${message.value}`);
      case 'fileContainingSymbol':
        return files(this.fileContainingSymbol(message.value), `symbol ${message.value}`);
      case 'fileContainingExtension': {
        const { containingType, extensionNumber } = message.value;
        const extension = [...this.#registry].find(
          (d) => d.kind === 'extension' && d.extendee.typeName === containingType && d.number === extensionNumber,
        );
        return files(extension?.file, `extension ${extensionNumber} of ${containingType}`);
      }
      case 'allExtensionNumbersOfType': {
        const numbers = this.extensionNumbers(message.value);
        return numbers
          ? {
              ...base,
              messageResponse: { $case: 'allExtensionNumbersResponse', value: { baseTypeName: message.value, extensionNumber: numbers } },
            }
          : notFound(`type ${message.value}`);
      }
      default:
        return {
          ...base,
          messageResponse: {
            $case: 'errorResponse',
            value: { errorCode: status.INVALID_ARGUMENT, errorMessage: 'empty reflection request' },
          },
        };
    }
  }
}

function handler(index: DescriptorIndex) {
  return (call: ServerDuplexStream<Request, Response>) => {
    // Back-pressure: while the client does not read our answers, stop reading
    // its requests, so HTTP/2 flow control holds them at the client instead of
    // our memory holding the answers.
    call.on('data', (request: Request) => {
      if (!call.write(index.answer(request))) {
        call.pause();
        call.once('drain', () => call.resume());
      }
    });
    call.on('end', () => call.end());
    call.on('error', () => call.end());
  };
}

export function addReflection(server: Server, index: DescriptorIndex): void {
  server.addService(v1.ServerReflectionService, { serverReflectionInfo: handler(index) });
  // v1alpha has the same messages under another package; older grpcurl asks for it.
  server.addService(v1alpha.ServerReflectionService, {
    serverReflectionInfo: handler(index) as unknown as v1alpha.ServerReflectionServer['serverReflectionInfo'],
  });
}
