// The controller's heap as the chart's default container gives it, for processes run outside one.
// In the container, Node.js sizes V8's heap from the cgroup memory limit: the young generation from
// V8's own rule for a machine of that memory, and the old generation as the chart's
// `--max-old-space-size-percentage` share of it (src/node-flags.ts). A test machine has no such limit,
// so the same flag would size both from the whole machine's memory (semi-spaces of 32 MB there, and
// gigabytes of old space). Runs that must stay within the chart's memory limit (the soak, the
// webhook's limits, the controller benchmark) get the sizes Node computes in that container instead.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const VALUES = fileURLToPath(new URL('../../../charts/regcred/values.yaml', import.meta.url));
const UNITS: Record<string, number> = { '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 };

interface ChartValues {
  controller: { heapPercentage: number };
  resources: { limits: { memory: string } };
}

function values(): ChartValues {
  return parse(readFileSync(VALUES, 'utf8')) as ChartValues;
}

/** A Kubernetes memory quantity (`192Mi`, `1Gi`, `500M`) in bytes. */
export function memoryBytes(quantity: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|k|M|G|)$/.exec(quantity);
  if (!m) throw new Error(`unsupported memory quantity ${quantity}`);
  return Number(m[1]) * UNITS[m[2]!]!;
}

/** The chart's default memory limit, in bytes. */
export function chartMemoryLimitBytes(): number {
  return memoryBytes(values().resources.limits.memory);
}

/** The chart's default controller.heapPercentage. */
export function chartHeapPercentage(): number {
  return values().controller.heapPercentage;
}

/** Node's own arithmetic for --max-old-space-size-percentage: whole MiB of the limit, times the share. */
export function oldSpaceMiB(limitBytes: number, percentage: number): number {
  return Math.floor((Math.floor(limitBytes / 2 ** 20) * percentage) / 100);
}

/**
 * V8's semi-space for a machine with `limitBytes` of memory (Heap::HeapSizeFromPhysicalMemory without
 * pointer compression, as Node.js builds V8): a default old generation of half the memory, and up to
 * 256 MiB of it semi-spaces of 1/256 of that, at least 1 MiB. Larger limits take V8's other ratios:
 * not needed for the chart's default.
 */
export function semiSpaceMiB(limitBytes: number): number {
  const defaultOldMiB = limitBytes / 2 ** 20 / 2;
  if (defaultOldMiB > 256) throw new Error(`a ${limitBytes}-byte limit is beyond this emulation of V8's heap sizing`);
  return Math.max(1, Math.ceil(defaultOldMiB / 256));
}

/**
 * The image's environment that shapes memory (its Dockerfile's ENV; test/integration/package.test.ts
 * checks they agree), for processes run as the container would run them.
 */
export const IMAGE_MEMORY_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** The flags that give a process the heap the controller has in the chart's default container. */
export function chartContainerNodeFlags(): string[] {
  const limit = chartMemoryLimitBytes();
  return [`--max-old-space-size=${oldSpaceMiB(limit, chartHeapPercentage())}`, `--max-semi-space-size=${semiSpaceMiB(limit)}`];
}
