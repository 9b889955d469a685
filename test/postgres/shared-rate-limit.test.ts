// InitiateLogin's per-address limit is one budget across replicas on
// PostgreSQL (not one per replica), and falls back to counting in memory
// when the database is unreachable.
import { status } from '@grpc/grpc-js';
import pg from 'pg';
import { RateLimiterRes } from 'rate-limiter-flexible';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guardPool } from '../../server/storage/postgres/open-postgres.ts';
import { sharedRateLimiter } from '../../server/storage/postgres/shared-rate-limiter.ts';
import { startInProcess, type InProcessAirlock } from '../support/airlock.ts';
import { clientsFor, grpcFailure } from '../support/grpc.ts';
import { initiateLogin } from '../support/login.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';

let database: TestDatabase;
let a: InProcessAirlock;
let b: InProcessAirlock;

beforeAll(async () => {
  database = await createTestDatabase();
  const env = { AIRLOCK_DATABASE_URL: database.url, AIRLOCK_LOGIN_RATE_PER_MINUTE: '3' };
  a = await startInProcess(env);
  b = await startInProcess({ ...env, AIRLOCK_PUBLIC_URL: a.publicUrl });
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await database?.drop();
});

describe('shared rate limits', () => {
  it('count InitiateLogin calls from one address on every replica together', async () => {
    const [ca, cb] = [clientsFor(a.grpcTarget), clientsFor(b.grpcTarget)];
    try {
      // Malformed identifiers are refused after the limiter counted them: no PDS needed.
      const codes: number[] = [];
      for (const clients of [ca, cb, ca, cb]) codes.push((await grpcFailure(initiateLogin(clients.auth, '!'))).code);
      expect(codes).toEqual([status.INVALID_ARGUMENT, status.INVALID_ARGUMENT, status.INVALID_ARGUMENT, status.RESOURCE_EXHAUSTED]);
      expect((await grpcFailure(initiateLogin(ca.auth, '!'))).code).toBe(status.RESOURCE_EXHAUSTED);
    } finally {
      ca.close();
      cb.close();
    }
  });

  it('fall back to an in-memory count while the database cannot be reached', async () => {
    const pool = guardPool(new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/none', connectionTimeoutMillis: 500 }));
    try {
      const limiter = sharedRateLimiter({ pool, name: 'test', points: 2, durationSeconds: 60 });
      await limiter.consume('127.0.0.1');
      await limiter.consume('127.0.0.1');
      expect(await limiter.consume('127.0.0.1').catch((e: unknown) => e)).toBeInstanceOf(RateLimiterRes);
    } finally {
      await pool.end();
    }
  });
});
