/** The payload of a JWT, decoded without verifying it; undefined if it is not one. */
export function claims(jwt: string): Record<string, unknown> | undefined {
  const parts = jwt.split('.');
  const part = parts[1];
  if (parts.length !== 3 || !part) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return payload && typeof payload === 'object' && !Array.isArray(payload) ? (payload as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The JWT's `exp` as a Date, or undefined when it is not a JWT with a numeric exp. */
export function jwtExpiry(jwt: string): Date | undefined {
  const exp = claims(jwt)?.['exp'];
  return typeof exp === 'number' && Number.isFinite(exp) && exp > 0 ? new Date(exp * 1000) : undefined;
}
