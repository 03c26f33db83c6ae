// The Node.js flags the controller runs with (container image, Helm chart, benchmarks): a small
// young generation, a bounded old generation, and V8's lite mode (no optimizing compiler). The
// controller is idle most of the time and its hot paths are network-bound; measured at 5,000
// namespaces x 3 credentials, these flags took its RSS from 345 MB to 117 MB, and the time to sync
// 15,000 Secrets from 68 s to 132 s (docs/benchmarks.md). Raise --max-old-space-size for clusters
// much larger than that (the caches take about 1 KB per managed Secret and per namespace).
// (--no-expose-wasm: lite mode turns WebAssembly off anyway; saying so silences V8's warning.)
export const CONTROLLER_NODE_FLAGS = ['--max-semi-space-size=1', '--max-old-space-size=128', '--lite-mode', '--no-expose-wasm'] as const;
