import { acrProvider } from './acr/index.js';
import { chainguardProvider } from './chainguard.js';
import { ecrProvider } from './ecr.js';
import { ecrPublicProvider } from './ecr-public.js';
import { gcpProvider } from './gcp/index.js';
import { jitProvider } from './jit.js';
import { crusoeProvider } from './crusoe.js';
import { quayProvider } from './quay.js';
import { staticProvider } from './static.js';
import { httpProvider } from './http/index.js';
import { execProvider } from './exec/index.js';
import type { ProviderDefinition } from './types.js';

// Every provider, by its key under `spec.provider`. Adding a provider is one file (or a folder, for a large one) and one line here.
const definitions: ProviderDefinition<any>[] = [staticProvider, ecrProvider, ecrPublicProvider, acrProvider, gcpProvider, chainguardProvider, quayProvider, jitProvider, crusoeProvider, httpProvider, execProvider];

export const providerRegistry: ReadonlyMap<string, ProviderDefinition<unknown>> = new Map(
  definitions.map((d) => [d.key, d as ProviderDefinition<unknown>]),
);

export function knownProviderKeys(): string[] {
  return [...providerRegistry.keys()].sort();
}
