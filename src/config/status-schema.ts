import { z } from 'zod';

// The status of both credential kinds as the API declares it (../../shared/spec/API.md §1): not part
// of a user's file, so it is not in schema.ts. The controller writes it (and may parse it) with this
// schema; the CRD's status schema is generated from it (src/crdgen/).

/** A standard metav1.Condition, with the API server's own limits. */
export const condition = z.strictObject({
  type: z
    .string()
    .max(316)
    .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/),
  status: z.enum(['True', 'False', 'Unknown']),
  observedGeneration: z.int().min(0).optional(),
  lastTransitionTime: z.iso.datetime({ offset: true }),
  reason: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/),
  message: z.string().max(32768),
});
export type Condition = z.infer<typeof condition>;

export const MAX_STATUS_FAILURES = 20;

export const credentialStatus = z.strictObject({
  conditions: z
    .array(condition)
    .meta({
      description: 'Ready: every target holds a valid, unexpired credential. Degraded: the last refresh or some targets failed.',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
    })
    .optional(),
  provider: z.string().meta({ description: 'The key of the provider in use.' }).optional(),
  expiresAt: z.iso.datetime({ offset: true }).meta({ description: 'When the current credential expires; absent if it never does.' }).optional(),
  lastRefreshTime: z.iso.datetime({ offset: true }).optional(),
  nextRefreshTime: z.iso.datetime({ offset: true }).optional(),
  targets: z
    .strictObject({
      total: z.int().min(0),
      synced: z.int().min(0),
      failed: z.int().min(0),
    })
    .meta({ description: 'Counts of target namespaces.' })
    .optional(),
  targetsSummary: z
    .string()
    .meta({ description: 'targets.synced/targets.total, e.g. "12/12", for the TARGETS printer column.' })
    .optional(),
  failures: z
    .array(
      z.strictObject({
        namespace: z.string(),
        reason: z.string(),
        message: z.string(),
      }),
    )
    .max(MAX_STATUS_FAILURES)
    .meta({ description: `Failed targets, at most ${MAX_STATUS_FAILURES}.` })
    .optional(),
  observedGeneration: z.int().min(0).optional(),
});
export type CredentialStatus = z.infer<typeof credentialStatus>;
