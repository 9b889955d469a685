// One Connection per server URL, shared by every call of a client.
import { Connection, parseServerUrl, type ConnectionOptions } from './connection.ts';

export class ConnectionPool {
  readonly #options: ConnectionOptions;
  readonly #connections = new Map<string, Connection>();

  constructor(options: ConnectionOptions) {
    this.#options = options;
  }

  get(serverUrl: string): Connection {
    const address = parseServerUrl(serverUrl);
    let connection = this.#connections.get(address.url);
    if (!connection) {
      connection = new Connection(address, this.#options);
      this.#connections.set(address.url, connection);
    }
    return connection;
  }

  closeAll(): void {
    for (const connection of this.#connections.values()) connection.close();
    this.#connections.clear();
  }
}
