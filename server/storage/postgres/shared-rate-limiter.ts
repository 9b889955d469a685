// A rate limit counted in the shared database, so a client cannot multiply
// its allowance by the number of replicas behind the load balancer. While
// the database is unreachable, each replica falls back to counting in
// memory (the same limit, per replica) instead of failing the call.
import type pg from 'pg';
import { RateLimiterMemory, RateLimiterPostgres, type RateLimiterAbstract } from 'rate-limiter-flexible';

export function sharedRateLimiter(options: { pool: pg.Pool; name: string; points: number; durationSeconds: number }): RateLimiterAbstract {
  return new RateLimiterPostgres({
    storeClient: options.pool,
    storeType: 'pool',
    // Created by migration 0003_rate_limits.
    tableName: 'rate_limits',
    tableCreated: true,
    keyPrefix: options.name,
    points: options.points,
    duration: options.durationSeconds,
    insuranceLimiter: new RateLimiterMemory({ keyPrefix: options.name, points: options.points, duration: options.durationSeconds }),
  });
}
