import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Suites start real servers, PDSes and browsers: two at a time on two cores.
    maxWorkers: 2,
    pool: 'forks',
    reporters: ['default'],
  },
});
