// The standard grpc.health.v1 service. The overall status ("") and each
// Airlock service report SERVING while the server and its storage are usable.
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type { Server } from '@grpc/grpc-js';

export class Health {
  readonly #implementation: HealthImplementation;
  readonly services: string[];

  constructor(services: string[]) {
    this.services = services;
    this.#implementation = new HealthImplementation(Object.fromEntries(['', ...services].map((s) => [s, 'NOT_SERVING'])));
  }

  addToServer(server: Server): void {
    this.#implementation.addToServer(server);
  }

  setAll(servingStatus: ServingStatus): void {
    for (const service of ['', ...this.services]) this.#implementation.setStatus(service, servingStatus);
  }
}
