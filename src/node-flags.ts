// How the Helm chart sizes the controller's V8 heap: `--max-old-space-size-percentage` lets V8's old
// generation take this share of the memory Node.js finds available, which inside a container is the
// container's memory limit (Node reads the cgroup limit; the whole machine's memory where there is
// none). The rest is headroom for what lives outside the old generation: the young generation,
// compiled code, the compilers' and buffers' native memory and Node itself (about 100 MB at 15,000
// Secrets, docs/benchmarks.md). No fixed size, which would not follow the limit, and no V8 compiler
// flags.
// The chart's `controller.heapPercentage` defaults to this value (test/integration/chart.test.ts
// checks that they agree); the container image's `regcred` wrapper passes no flag at all.
export const DEFAULT_HEAP_PERCENTAGE = 50;

/** The Node.js flags the chart's Deployment runs `regcred controller` with. */
export function controllerNodeFlags(heapPercentage: number = DEFAULT_HEAP_PERCENTAGE): string[] {
  return [`--max-old-space-size-percentage=${heapPercentage}`];
}
