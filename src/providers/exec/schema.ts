import { z } from 'zod';
import { duration, parseDuration, secretRef } from '../../config/common.js';
import { secretKeyRef } from '../internal/schema.js';

// The `exec` provider's configuration (spec.provider.exec).

export const DEFAULT_TIMEOUT = '30s';
const MAX_TIMEOUT_MS = 10 * 60_000;

const envVar = z
  .strictObject({
    /** The variable's name. */
    name: z
      .string()
      .max(256)
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name: letters, digits and "_", not starting with a digit'),
    /** A literal value. Exactly one of value, valueFrom. */
    value: z.string().max(32768).optional(),
    /** A value read from a Secret (treated as a secret: never printed). */
    valueFrom: z.strictObject({ secretKeyRef }).optional(),
  })
  .refine((e) => (e.value === undefined) !== (e.valueFrom === undefined), { message: 'needs exactly one of value, valueFrom' })
  .meta({ 'x-kubernetes-validations': [{ rule: 'has(self.value) != has(self.valueFrom)', message: 'needs exactly one of value, valueFrom' }] });

/** A concrete registry: host[:port][/path], no glob, no scheme. */
export const concreteRegistry = z
  .string()
  .max(512)
  .regex(
    /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?(\/[A-Za-z0-9._\/-]*)?$/,
    'must be a concrete registry host[:port][/path] without globs or scheme, such as "123456789012.dkr.ecr.us-east-1.amazonaws.com"',
  );

export const execConfig = z
  .strictObject({
    /** The plugin: an absolute path, or a program name looked up in PATH. Run without a shell. */
    command: z
      .string()
      .min(1)
      .max(4096)
      .regex(/^(\/[^\x00]*|[A-Za-z0-9._+-]+)$/, 'must be an absolute path or a program name (looked up in PATH)'),
    /** Arguments, as the kubelet's CredentialProvider `args`. */
    args: z.array(z.string().max(4096)).max(64).optional(),
    /** The plugin's environment besides PATH: nothing else of the controller's environment is passed. */
    env: z.array(envVar).max(64).optional(),
    /** The concrete registries to write (the `auths` keys); each must match a key of the plugin's answer. */
    registries: z.array(concreteRegistry).min(1).max(20),
    /** The `image` of the request; default: each registry itself (one run per registry not covered by an earlier answer). */
    image: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[^\t\n\v\f\r ]+$/, 'must be an image reference without whitespace')
      .optional(),
    /** How long the plugin may run; default 30s, at most 10m. The process group is killed after it. */
    timeout: duration.optional(),
    /** The credential's lifetime when the answer has no cacheDuration (the kubelet's defaultCacheDuration); default: no expiry. */
    defaultCacheDuration: duration.optional(),
    /** KEP-4412 plugins: pass a service-account token regcred mints (TokenRequest) in the request. */
    serviceAccountToken: z
      .strictObject({
        /** The service account; namespace defaults like a source Secret's. */
        serviceAccount: secretRef,
        /** The token's audience (the kubelet's tokenAttributes.serviceAccountTokenAudience). */
        audience: z.string().min(1).max(512),
        /** The token's lifetime, 600..86400 seconds; default 600. */
        expirationSeconds: z.number().int().min(600).max(86400).optional(),
        /** Sent as the request's serviceAccountAnnotations (the plugin may read e.g. a role ARN from them); default {}. */
        annotations: z.record(z.string(), z.string()).optional(),
      })
      .optional(),
  })
  .superRefine((c, ctx) => {
    const names = (c.env ?? []).map((e) => e.name);
    if (new Set(names).size !== names.length) ctx.addIssue({ code: 'custom', path: ['env'], message: 'variable names must be distinct' });
    if (c.timeout !== undefined) {
      const ms = parseDuration(c.timeout);
      if (ms <= 0 || ms > MAX_TIMEOUT_MS) ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'must be more than 0s and at most 10m' });
    }
  })
  .meta({
    'x-kubernetes-validations': [
      { rule: '!has(self.env) || self.env.all(e, self.env.exists_one(f, f.name == e.name))', message: 'env variable names must be distinct' },
      {
        rule: "!has(self.timeout) || (duration(self.timeout) > duration('0s') && duration(self.timeout) <= duration('10m'))",
        message: 'timeout must be more than 0s and at most 10m',
      },
    ],
  });
export type ExecConfig = z.infer<typeof execConfig>;
