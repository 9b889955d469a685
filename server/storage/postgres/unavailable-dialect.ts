// The one place where PostgreSQL connection failures become UnavailableError:
// a Kysely dialect that wraps another and maps the errors of every driver
// call, so every store written on Kysely answers UNAVAILABLE (and not
// INTERNAL) while the database is unreachable, with no code in the stores.
// Kysely plugins only see successful results, hence a dialect.
import type { DatabaseConnection, Dialect, Driver, Kysely, QueryResult, TransactionSettings } from 'kysely';
import type { CompiledQuery, QueryCompiler } from 'kysely';
import { isConnectionError, mapDatabaseError } from './connection-errors.ts';

export interface UnavailableDialectOptions {
  /** Told of each connection failure (e.g. so health turns NOT_SERVING at once). */
  onConnectionError?: (error: unknown) => void;
}

export class UnavailableOnConnectionLossDialect implements Dialect {
  readonly #inner: Dialect;
  readonly #options: UnavailableDialectOptions;

  constructor(inner: Dialect, options: UnavailableDialectOptions = {}) {
    this.#inner = inner;
    this.#options = options;
  }

  createDriver(): Driver {
    return new MappingDriver(this.#inner.createDriver(), this.#options);
  }
  createQueryCompiler() {
    return this.#inner.createQueryCompiler();
  }
  createAdapter() {
    return this.#inner.createAdapter();
  }
  // Kysely's Dialect interface takes an untyped Kysely here.
  // biome-ignore lint/suspicious/noExplicitAny: the signature is Kysely's own
  createIntrospector(db: Kysely<any>) {
    return this.#inner.createIntrospector(db);
  }
}

class MappingDriver implements Driver {
  readonly #inner: Driver;
  readonly #options: UnavailableDialectOptions;
  // The inner driver needs its own connection objects back.
  readonly #unwrap = new WeakMap<DatabaseConnection, DatabaseConnection>();

  constructor(inner: Driver, options: UnavailableDialectOptions) {
    this.#inner = inner;
    this.#options = options;
  }

  #map = (error: unknown): never => {
    if (isConnectionError(error)) this.#options.onConnectionError?.(error);
    throw mapDatabaseError(error);
  };

  #call<T>(operation: () => Promise<T>): Promise<T> {
    return operation().catch(this.#map);
  }

  #original(connection: DatabaseConnection): DatabaseConnection {
    return this.#unwrap.get(connection) ?? connection;
  }

  init(options?: Parameters<Driver['init']>[0]) {
    return this.#call(() => this.#inner.init(options));
  }

  async acquireConnection(options?: Parameters<Driver['acquireConnection']>[0]): Promise<DatabaseConnection> {
    const inner = await this.#call(() => this.#inner.acquireConnection(options));
    const map = this.#map;
    const wrapped: DatabaseConnection = {
      executeQuery: <R>(query: CompiledQuery, opts?: Parameters<DatabaseConnection['executeQuery']>[1]): Promise<QueryResult<R>> =>
        inner.executeQuery<R>(query, opts).catch(map),
      async *streamQuery<R>(query: CompiledQuery, chunkSize: number, opts?: Parameters<DatabaseConnection['streamQuery']>[2]) {
        try {
          yield* inner.streamQuery<R>(query, chunkSize, opts);
        } catch (error) {
          map(error);
        }
      },
    };
    if (inner.cancelQuery) wrapped.cancelQuery = (provider) => inner.cancelQuery!(provider);
    if (inner.killSession) wrapped.killSession = (provider) => inner.killSession!(provider);
    if (inner.collectSessionInfo) wrapped.collectSessionInfo = () => inner.collectSessionInfo!().catch(map);
    this.#unwrap.set(wrapped, inner);
    return wrapped;
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings) {
    return this.#call(() => this.#inner.beginTransaction(this.#original(connection), settings));
  }
  commitTransaction(connection: DatabaseConnection) {
    return this.#call(() => this.#inner.commitTransaction(this.#original(connection)));
  }
  rollbackTransaction(connection: DatabaseConnection) {
    return this.#call(() => this.#inner.rollbackTransaction(this.#original(connection)));
  }
  savepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']) {
    return this.#call(() => this.#inner.savepoint!(this.#original(connection), name, compile));
  }
  rollbackToSavepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']) {
    return this.#call(() => this.#inner.rollbackToSavepoint!(this.#original(connection), name, compile));
  }
  releaseSavepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']) {
    return this.#call(() => this.#inner.releaseSavepoint!(this.#original(connection), name, compile));
  }
  releaseConnection(connection: DatabaseConnection, options?: Parameters<Driver['releaseConnection']>[1]) {
    return this.#inner.releaseConnection(this.#original(connection), options);
  }
  destroy(options?: Parameters<Driver['destroy']>[0]) {
    return this.#inner.destroy(options);
  }
}
