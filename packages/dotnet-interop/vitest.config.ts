import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // One test file at a time: abi.test.ts's `dotnet run` and libtars.test.ts's NativeAOT publish
    // share the SDK's first-run state and NuGet folders; on two cores parallel files gain nothing.
    fileParallelism: false,
  },
});
