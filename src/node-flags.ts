// The Node.js flags the controller runs with (container image, Helm chart, benchmarks): a small
// young generation, a bounded old generation, and most of what V8's lite mode does to save memory
// (no optimizing compiler, lazy compilation and feedback): the controller is idle most of the time
// and its hot paths are network-bound (docs/benchmarks.md has the measurements). Not --lite-mode
// itself: it turns WebAssembly off, and Node 20's fetch (undici's HTTP parser is WebAssembly) then
// kills the process at the first provider call that uses fetch; test/integration/package.test.ts
// runs fetch-based providers with exactly these flags. Raise --max-old-space-size for clusters much
// larger than 5,000 namespaces (the caches take about 1 KB per managed Secret and per namespace).
export const CONTROLLER_NODE_FLAGS = ['--max-semi-space-size=1', '--max-old-space-size=128', '--no-opt', '--max-lazy', '--lazy-feedback-allocation'] as const;
