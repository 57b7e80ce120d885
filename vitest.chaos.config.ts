// `npm run chaos`: Pulse and a simulated estate as real processes, stressed from outside
// (test/chaos/). Not part of `npm test`: the files end in .chaos.ts, which its
// `test/**/*.test.ts` never matches. Files run side by side (three at once) so the whole
// run stays within about eight minutes; each test waits for conditions, bounded in intervals.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/chaos/**/*.chaos.ts'],
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 3,
    testTimeout: 7 * 60_000,
    hookTimeout: 3 * 60_000,
    // Each test prints its measurements; keep them in the output as they come.
    silent: false,
  },
});
