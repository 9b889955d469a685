#!/usr/bin/env node
// One guarded call (WhoAmI with a real session's bearer) over each transport
// of one in-process server: gRPC (grpc-js, HTTP/2), Connect and gRPC-Web
// (connect-node over HTTP/1.1, as a browser would use them). Sequential
// calls, then concurrent ones; medians and p99 in milliseconds.
//
//   node bench/transport-latency.ts [--calls 1000] [--concurrency 16]
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import { AuthService } from '../proto/gen-es/airlock/auth/v1/auth_pb.js';
import { call, clientsFor } from '../test/support/grpc.ts';
import { loginViaApi } from '../test/support/login.ts';
import { startPdsWithAirlock } from '../test/support/pds.ts';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '1000' }, concurrency: { type: 'string', default: '16' } } });
const calls = Number(values.calls);
const concurrency = Number(values.concurrency);

const world = await startPdsWithAirlock({ AIRLOCK_LOG_LEVEL: 'silent', AIRLOCK_LOGIN_RATE_PER_MINUTE: '1000' });
try {
  const session = await loginViaApi(world.airlock, world.account);
  const grpc = clientsFor(world.airlock.grpcTarget);
  const baseUrl = world.airlock.publicUrl;
  const headers = { authorization: `Bearer ${session.accessToken}` };
  // Kept-alive HTTP/1.1 connections, as a browser keeps them.
  const nodeOptions = { agent: new http.Agent({ keepAlive: true, maxSockets: concurrency }) };
  const connect = createClient(AuthService, createConnectTransport({ baseUrl, httpVersion: '1.1', nodeOptions }));
  const grpcWeb = createClient(AuthService, createGrpcWebTransport({ baseUrl, httpVersion: '1.1', nodeOptions }));
  const transports: Record<string, () => Promise<unknown>> = {
    grpc: () => call(grpc.auth, grpc.auth.whoAmI, {}, { bearer: session.accessToken }),
    connect: () => connect.whoAmI({}, { headers }),
    'grpc-web': () => grpcWeb.whoAmI({}, { headers }),
  };
  for (const [name, once] of Object.entries(transports)) {
    for (let i = 0; i < 50; i++) await once(); // warm-up
    const sequential: number[] = [];
    for (let i = 0; i < calls; i++) {
      const t0 = performance.now();
      await once();
      sequential.push(performance.now() - t0);
    }
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next++ < calls) await once();
      }),
    );
    const perSecond = Math.round(calls / ((performance.now() - t0) / 1000));
    sequential.sort((a, b) => a - b);
    const at = (q: number) => sequential[Math.min(sequential.length - 1, Math.floor(q * sequential.length))]!.toFixed(2);
    console.log(`${name.padEnd(9)} sequential p50 ${at(0.5)} ms  p99 ${at(0.99)} ms   concurrent(${concurrency}) ${perSecond} calls/s`);
  }
  grpc.close();
} finally {
  await world.stop();
}
