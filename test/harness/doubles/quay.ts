// A local double of Quay's robot account federation endpoint, on a loopback HTTP server (its URL is
// the `baseUrl` regcred is configured with). It follows Quay's documentation and source:
// - `GET /oauth2/federation/robot/token` with HTTP Basic `<namespace>+<robot>:<OIDC token>`
//   (Red Hat Quay API reference, "Auth Federated Robot Token"; "Keyless authentication with robot
//   accounts" in Manage Red Hat Quay; quay/quay endpoints/oauth/robot_identity_federation.py), answered
//   by {"token": "..."} valid for an hour, or 401 {"error": "..."};
// - a robot's federation configuration lists issuer + subject pairs and, optionally, audiences
//   (quay/quay util/security/federated_robot_auth.py): the token must verify against the issuer's
//   keys (here the real API server's JWKS), come from a configured issuer, carry the configured
//   audience, be unexpired, and have a configured subject.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { failureSwitch, listenLoopback, recordingAnswer, sendJson as send, signHs256, type TokenExchangeDouble } from './http-util.js';
import { verifyServiceAccountToken, type Jwks } from './sa-token.js';
import { rememberSecret } from '../leak-guard.js';

export interface QuayRobotFederation {
  /** The token issuer (cp.issuer). */
  issuer: string;
  /** Allowed subjects, `system:serviceaccount:<ns>:<name>`. */
  subjects: readonly string[];
  /** The audience the token must carry. */
  audience: string;
}

export interface QuayDoubleOptions {
  jwks: Jwks;
  /** Federated robots: "<namespace>+<robot>" → federation. */
  robots: Record<string, QuayRobotFederation>;
}

export interface QuayRequestRecord {
  robot: string | undefined;
  subject?: string;
  tokenAud?: unknown;
  status: number;
}

/** `issued`: the robot tokens handed out. */
export interface QuayDouble extends TokenExchangeDouble {
  /** http://127.0.0.1:<port>: the baseUrl. */
  url: string;
  /** 127.0.0.1:<port>: the registry host regcred derives from baseUrl. */
  host: string;
  /** The federated robots (options.robots, mutable: tests add robots whose audience names this double's host). */
  robots: Record<string, QuayRobotFederation>;
  requests: QuayRequestRecord[];
}

export async function startQuayDouble(opts: QuayDoubleOptions): Promise<QuayDouble> {
  const signingKey = randomBytes(32);
  const requests: QuayRequestRecord[] = [];
  const bearers: string[] = [];
  const issued: string[] = [];
  const robots = { ...opts.robots };
  const failures = failureSwitch();
  let url = '';

  // Quay's temporary robot token: a JWT it signs itself, an hour long, for the robot.
  const mint = (robot: string): string => {
    const now = Math.floor(Date.now() / 1000);
    return signHs256(signingKey, { iss: 'quay', sub: robot, aud: new URL(url).host, iat: now, nbf: now, exp: now + 3600 });
  };

  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://localhost');
    if (u.pathname !== '/oauth2/federation/robot/token') return send(res, 404, { error: 'not found' });
    if (req.method !== 'GET') return send(res, 405, { error: 'method not allowed' });
    const record: QuayRequestRecord = { robot: undefined, status: 0 };
    requests.push(record);
    const answer = recordingAnswer(res, record);
    if (failures.answerIfDue(answer)) return;
    const m = /^Basic (\S+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return answer(401, { error: 'missing auth' });
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return answer(401, { error: 'Invalid basic auth credentials' });
    const robot = decoded.slice(0, colon);
    const token = decoded.slice(colon + 1);
    record.robot = robot;
    bearers.push(token);
    rememberSecret(token);
    if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*\+[a-z][a-z0-9_]{1,254}$/.test(robot)) return answer(401, { error: 'Invalid robot' });
    const federation = robots[robot];
    if (!federation) return answer(401, { error: 'Robot does not have federated login configured' });
    const checked = verifyServiceAccountToken(token, opts.jwks, { issuer: federation.issuer, audience: federation.audience, subjects: federation.subjects });
    if ('error' in checked) return answer(401, { error: `Invalid token: ${checked.error}` });
    record.subject = String(checked.claims['sub']);
    record.tokenAud = checked.claims['aud'];
    const minted = mint(robot);
    issued.push(minted);
    rememberSecret(minted);
    answer(200, { token: minted });
  });
  const { port, stop } = await listenLoopback(server);
  const host = `127.0.0.1:${port}`;
  url = `http://${host}`;
  return { url, host, robots, requests, bearers, issued, failNext: failures.failNext, clearFailures: failures.clearFailures, stop };
}
