import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Node, with no DOM globals: what React Native and Node apps give the SDK.
    environment: 'node',
    include: ['test/**/*.test.ts'],
    restoreMocks: true,
  },
});
