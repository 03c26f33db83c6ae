import { z } from 'zod';
import { dns1123Label, dns1123Subdomain } from '../../config/common.js';

// Schema parts several providers use.

/** An http(s) URL (providers' endpoint overrides). */
export const httpUrl = z
  .string()
  .max(2048)
  .regex(/^https?:\/\/[^\t\n\v\f\r ]+$/, 'must be an http(s) URL');

/** A bare registry host, optional port: the `auths` key (chainguard, quay). */
export const registryHostname = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$/, 'must be a registry host such as "cgr.dev" (no scheme or path)');

/** A Secret's key: letters, digits, "-", "_" and ".". */
export const secretKey = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[-._a-zA-Z0-9]+$/, 'must be a Secret key: letters, digits, "-", "_" and "."');

/** A key of a Secret: `namespace` defaults like a source Secret's. */
export const secretKeyRef = z.strictObject({
  namespace: dns1123Label.optional(),
  name: dns1123Subdomain,
  key: secretKey,
});
export type SecretKeyRef = z.infer<typeof secretKeyRef>;
