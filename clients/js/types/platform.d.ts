// The only globals the SDK uses beyond ES2022, present in browsers, Node 20 and React Native.
// (`fetch` is typed where it is used, in src/rest.ts, by the little of it the SDK needs.)
declare function setTimeout(callback: () => void, ms?: number): unknown;
declare function clearTimeout(handle: unknown): void;
