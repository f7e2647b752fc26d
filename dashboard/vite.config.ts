/// <reference types="vitest/config" />
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The JS SDK (@tradewire/client, clients/js) is compiled from its TypeScript sources with the
// dashboard: `npm ci` here is all a fresh clone needs (no SDK build, no second node_modules).
// Its `socket.io-client` import resolves to the dashboard's own copy (dedupe), pinned to 4.7.5.
const SDK_SOURCE = fileURLToPath(new URL('../clients/js/src', import.meta.url));

const SERVICE = process.env.TRADEWIRE_URL ?? 'http://127.0.0.1:8000';

export default defineConfig({
  plugins: [react()],
  resolve: {
    alias: { '@tradewire/client': `${SDK_SOURCE}/index.ts` },
    dedupe: ['socket.io-client'],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
  },
  server: {
    port: 5173,
    strictPort: true,
    fs: { allow: ['.', SDK_SOURCE] },
    proxy: {
      '/api': { target: SERVICE, changeOrigin: false },
      '/socket.io': { target: SERVICE, ws: true, changeOrigin: false },
    },
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    restoreMocks: true,
  },
});
