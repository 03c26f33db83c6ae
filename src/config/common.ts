import { z } from 'zod';

// Shared building blocks of the credential schema. Provider files import these; the CRD schema
// (controller issue) is generated from the same definitions.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const dns1123Label = z
  .string()
  .max(63, 'must be at most 63 characters')
  .regex(DNS1123_LABEL, 'must be a DNS-1123 label: lower case letters, digits and "-", starting and ending with a letter or digit');

export const dns1123Subdomain = z
  .string()
  .max(253, 'must be at most 253 characters')
  .regex(DNS1123_SUBDOMAIN, 'must be a DNS-1123 subdomain: lower case letters, digits, "-" and ".", starting and ending with a letter or digit');

/** A reference to a Secret. `namespace` defaults to the credential's own (or the controller's) namespace. */
export const secretRef = z.strictObject({
  namespace: dns1123Label.optional(),
  name: dns1123Subdomain,
});
export type SecretRef = z.infer<typeof secretRef>;

/** A registry host, optionally with a port and path: `ghcr.io`, `127.0.0.1:5000`, `https://index.docker.io/v1/`. */
export const registryHost = z
  .string()
  .min(1, 'must not be empty')
  // ASCII whitespace only, spelled out: the CRD's pattern runs on Go's regexp, where \s is ASCII-only.
  .regex(/^[^\t\n\v\f\r /]+(\/[^\t\n\v\f\r ]*)?$|^https?:\/\/[^\t\n\v\f\r ]+$/, 'must be a registry host such as "ghcr.io" or "registry.example.com:5000"');

// From a string, not a literal: the CRD's pattern (its source) keeps "µs" as Go's regexp reads it,
// while the bundle stays ASCII (a string's \u00b5 survives bundling; a literal's µ would not).
const DURATION = new RegExp('^(\\d+(\\.\\d+)?(ns|us|\u00b5s|ms|s|m|h))+$');
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** The longest duration any field takes: nothing regcred schedules is further away than a year. */
export const MAX_DURATION = '8760h';
const MAX_DURATION_MS = 8760 * 3_600_000;

/** A Go-style duration ("90s", "30m", "1h30m"), as Kubernetes users write them; at most a year. */
export const duration = z
  .string()
  .max(64, 'must be at most 64 characters')
  .regex(DURATION, 'must be a duration such as "90s", "30m" or "1h30m"')
  .refine((d) => !DURATION.test(d) || parseDuration(d) <= MAX_DURATION_MS, { message: `must be at most ${MAX_DURATION}` })
  .meta({ 'x-kubernetes-validations': [{ rule: `duration(self) <= duration('${MAX_DURATION}')`, message: `must be at most ${MAX_DURATION}` }] });

export function parseDuration(text: string): number {
  if (!DURATION.test(text)) throw new Error(`invalid duration "${text}"`);
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|\u00b5s|ms|s|m|h)/g)) {
    ms += Number(m[1]) * (UNIT_MS[m[2]!] ?? 0);
  }
  return ms;
}

const labelSelectorRequirement = z.strictObject({
  key: z.string().min(1),
  operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
  values: z.array(z.string()).optional(),
});

/** A standard metav1.LabelSelector. */
export const labelSelector = z
  .strictObject({
    matchLabels: z.record(z.string(), z.string()).optional(),
    matchExpressions: z.array(labelSelectorRequirement).optional(),
  })
  .superRefine((sel, ctx) => {
    if (!sel.matchLabels && !sel.matchExpressions) {
      ctx.addIssue({ code: 'custom', message: 'needs matchLabels or matchExpressions (use "all: true" to select every namespace)' });
    }
    sel.matchExpressions?.forEach((req, i) => {
      const needsValues = req.operator === 'In' || req.operator === 'NotIn';
      const hasValues = (req.values?.length ?? 0) > 0;
      if (needsValues !== hasValues) {
        ctx.addIssue({
          code: 'custom',
          path: ['matchExpressions', i, 'values'],
          message: needsValues ? `operator ${req.operator} needs values` : `operator ${req.operator} takes no values`,
        });
      }
    });
  });
export type LabelSelector = z.infer<typeof labelSelector>;

/** Renders a LabelSelector in the API server's `labelSelector` query syntax. */
export function labelSelectorToString(sel: LabelSelector): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) parts.push(`${k}=${v}`);
  for (const req of sel.matchExpressions ?? []) {
    const values = (req.values ?? []).join(',');
    switch (req.operator) {
      case 'In':
        parts.push(`${req.key} in (${values})`);
        break;
      case 'NotIn':
        parts.push(`${req.key} notin (${values})`);
        break;
      case 'Exists':
        parts.push(req.key);
        break;
      case 'DoesNotExist':
        parts.push(`!${req.key}`);
        break;
    }
  }
  return parts.join(',');
}
