// What every test double that accepts a Kubernetes service-account token checks, the way a real
// relying party does (an OIDC identity provider federating a cluster: AWS STS, Google STS, Entra,
// Chainguard, Quay): the RS256 signature against the issuer's JWKS, then iss, aud, exp and sub.
// The JWKS comes from the real API server (`/openid/v1/jwks`), so a token the API server did not mint
// cannot pass.
import { createPublicKey, verify, type webcrypto, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { ControlPlane } from '../controlplane.js';

export interface Jwks {
  keys: Array<webcrypto.JsonWebKey & { kid?: string }>;
}

/** The API server's service-account signing keys, read with the admin client certificate. */
export function apiServerJwks(cp: Pick<ControlPlane, 'server' | 'caPath' | 'dir'>): Promise<Jwks> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${cp.server}/openid/v1/jwks`,
      { ca: readFileSync(cp.caPath), cert: readFileSync(join(cp.dir, 'admin.crt')), key: readFileSync(join(cp.dir, 'admin.key')) },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body) as Jwks) : reject(new Error(`JWKS: HTTP ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export type JwtCheck = { header: Record<string, unknown>; claims: Record<string, unknown> } | { error: string };

/** Splits and checks an RS256 JWT against the key `keyFor` picks; the header and claims, or why not. */
export function verifyJwt(jwt: string, keyFor: (header: Record<string, unknown>, claims: Record<string, unknown>) => KeyObject | undefined): JwtCheck {
  const parts = jwt.split('.');
  if (parts.length !== 3) return { error: 'not a JWT' };
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return { error: 'undecodable JWT' };
  }
  if (header['alg'] !== 'RS256') return { error: `alg ${String(header['alg'])}, expected RS256` };
  const key = keyFor(header, claims);
  if (!key) return { error: 'no key for this JWT' };
  const ok = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), key, Buffer.from(parts[2]!, 'base64url'));
  if (!ok) return { error: 'invalid signature' };
  return { header, claims };
}

export interface ServiceAccountTokenRules {
  /** The API server's issuer (ControlPlane.issuer). */
  issuer: string;
  /** An audience the token must carry. */
  audience: string;
  /** Allowed `sub` values (`system:serviceaccount:<ns>:<name>`); any when absent. */
  subjects?: readonly string[];
}

/**
 * Verifies a service-account token: signature against `jwks` (by `kid`), issuer, audience, expiry and
 * subject. Returns the claims, or the first reason it fails, in words a relying party would use.
 */
export function verifyServiceAccountToken(token: string, jwks: Jwks, rules: ServiceAccountTokenRules, nowMs = Date.now()): JwtCheck {
  const checked = verifyJwt(token, (header) => {
    const jwk = jwks.keys.find((k) => k.kid === header['kid']) ?? (jwks.keys.length === 1 ? jwks.keys[0] : undefined);
    return jwk ? createPublicKey({ key: jwk, format: 'jwk' }) : undefined;
  });
  if ('error' in checked) return checked;
  const c = checked.claims;
  const aud = Array.isArray(c['aud']) ? (c['aud'] as unknown[]) : [c['aud']];
  if (c['iss'] !== rules.issuer) return { error: `issuer ${String(c['iss'])} is not trusted` };
  if (!aud.includes(rules.audience)) return { error: `audience ${JSON.stringify(c['aud'])} does not include ${rules.audience}` };
  if (typeof c['exp'] !== 'number' || c['exp'] * 1000 <= nowMs) return { error: 'token expired' };
  if (typeof c['nbf'] === 'number' && c['nbf'] * 1000 > nowMs + 60_000) return { error: 'token not yet valid' };
  if (rules.subjects && !rules.subjects.includes(String(c['sub']))) return { error: `subject ${String(c['sub'])} is not allowed` };
  return checked;
}
