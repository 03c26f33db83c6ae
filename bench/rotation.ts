// The controller's fan-out and rotation across 1,000 namespaces, and how many provider calls a
// rotation costs (bench/controller.ts runs it between the idle and the memory phases).
//
// Two credentials target the same namespaces:
//  - `rot-http`: the `http` provider against the rotating broker double (a fresh password per call,
//    30 s lifetime): the controller re-mints at 2/3 of the lifetime, so rotations follow one another
//    for the whole window. A watch on the Secrets records when each namespace holds each password;
//  - `rot-ecr`: the `ecr` provider with two regions against moto, through a counting proxy. Moto
//    answers with a fixed 2015 expiry, so the proxy moves `expiresAt` to 30 s ahead (as real ECR
//    answers 12 h ahead) and the controller refreshes it on the same schedule.
// Provider calls are counted where they arrive (the broker, the proxy per region); refreshes come from
// the controller's own `regcred_refresh_total`; Secret writes from the API server's audit log.
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { CoreV1Api, CustomObjectsApi, Watch, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { startHttpBroker, type BrokerCredential } from '../test/harness/doubles/http-broker.js';
import { listenLoopback } from '../test/harness/doubles/http-util.js';
import type { Moto } from '../test/harness/moto.js';
import { createClusterCredential } from '../test/harness/controller-process.js';

export const ROTATION_LIFETIME_MS = 30_000;
const BROKER_REGISTRY = 'broker.bench.example';
const REGIONS = ['us-east-1', 'eu-west-1'] as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface RotationResult {
  namespaces: number;
  windowSeconds: number;
  lifetimeSeconds: number;
  /** Creating the http credential → every namespace holds its Secret. */
  firstSyncSeconds: number;
  rotations: number;
  /** Per complete rotation: the broker answered → the last namespace holds the new password. */
  rotationFanOutSeconds: { p50: number; max: number; all: number[] };
  http: { providerCalls: number; refreshes: number; callsPerRefresh: number; secretWrites: number; secretDeletes: number; writesPerRotation: number };
  ecr: { regions: number; callsByRegion: Record<string, number>; refreshes: number; callsPerRefresh: number; callsPerRefreshPerRegion: number };
}

/** A pass-through to moto that counts ECR GetAuthorizationToken calls per signing region and moves their expiry ahead. */
async function countingEcrProxy(moto: Moto): Promise<{ endpoint: string; calls: Map<string, number>; stop(): Promise<void> }> {
  const calls = new Map<string, number>();
  const target = new URL(moto.endpoint);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const isToken = String(req.headers['x-amz-target'] ?? '').endsWith('.GetAuthorizationToken');
      // SigV4: "Credential=<key>/<date>/<region>/<service>/aws4_request"
      const region = /Credential=[^/]+\/\d+\/([^/]+)\//.exec(String(req.headers['authorization'] ?? ''))?.[1] ?? 'unknown';
      if (isToken) calls.set(region, (calls.get(region) ?? 0) + 1);
      const upstream = httpRequest(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          const body: Buffer[] = [];
          up.on('data', (c: Buffer) => body.push(c));
          up.on('end', () => {
            let out = Buffer.concat(body);
            if (isToken && up.statusCode === 200) {
              const parsed = JSON.parse(out.toString('utf8')) as { authorizationData?: Array<{ expiresAt?: number }> };
              for (const d of parsed.authorizationData ?? []) d.expiresAt = (Date.now() + ROTATION_LIFETIME_MS) / 1000;
              out = Buffer.from(JSON.stringify(parsed));
            }
            const headers = { ...up.headers, 'content-length': String(out.length) };
            delete headers['transfer-encoding'];
            res.writeHead(up.statusCode ?? 502, headers);
            res.end(out);
          });
        },
      );
      upstream.on('error', () => res.writeHead(502).end());
      upstream.end(Buffer.concat(chunks));
    });
  });
  const { port, stop } = await listenLoopback(server);
  return { endpoint: `http://127.0.0.1:${port}`, calls, stop };
}

/** Sum of regcred_refresh_total{name=…, result="success"} from the controller's /metrics. */
async function refreshes(metricsUrl: string, name: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('regcred_refresh_total{') && line.includes(`name="${name}"`) && line.includes('result="success"')) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}

/** The p-th percentile of an ascending list (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function passwordOf(secret: V1Secret): string | undefined {
  const raw = secret.data?.['.dockerconfigjson'];
  if (!raw) return undefined;
  const auths = (JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as { auths?: Record<string, { password?: string }> }).auths;
  return auths?.[BROKER_REGISTRY]?.password;
}

export interface RotationBench {
  /** Env for the controller process: AWS keys for moto (the SDK's default chain). */
  controllerEnv: Record<string, string>;
  /** Runs the phase; the controller must be running with `--min-refresh-delay` below the lifetime's third. */
  run(opts: {
    kc: KubeConfig;
    selector: Record<string, string>;
    namespaces: number;
    windowSeconds: number;
    metricsUrl: string;
    /** Writes and deletes of Secrets named `name` by the controller between two instants (audit log). */
    secretWrites(name: string, since: number, until: number): { writes: number; deletes: number };
    log(s: string): void;
  }): Promise<RotationResult>;
  stop(): Promise<void>;
}

export async function startRotationBench(moto: Moto): Promise<RotationBench> {
  const issuedAt = new Map<string, number>();
  const broker = await startHttpBroker({
    credential: { username: 'robot', password: `bench-${Date.now()}`, expiresAt: new Date(Date.now() + ROTATION_LIFETIME_MS) },
    rotate: (prev: BrokerCredential) => ({ username: prev.username, password: `bench-${Date.now()}-${Math.random().toString(36).slice(2)}`, expiresAt: new Date(Date.now() + ROTATION_LIFETIME_MS) }),
    onIssue: (c) => void issuedAt.set(c.password, Date.now()),
  });
  const proxy = await countingEcrProxy(moto);

  async function run(o: Parameters<RotationBench['run']>[0]): Promise<RotationResult> {
    const custom = o.kc.makeApiClient(CustomObjectsApi);
    const core = o.kc.makeApiClient(CoreV1Api);
    const create = (name: string, provider: Record<string, unknown>) =>
      createClusterCredential(o.kc, name, { provider, target: { secretName: `${name}-pull`, namespaces: { selector: { matchLabels: o.selector } }, serviceAccounts: [] } });

    // Which namespace holds which password, and when it first did.
    const holds = new Map<string, Map<string, number>>(); // password → namespace → ms
    const current = new Map<string, string>(); // namespace → password
    const stopWatch = await new Watch(o.kc).watch(
      '/api/v1/secrets',
      { labelSelector: 'regcred.dev/owner-name=rot-http' },
      (type, obj: V1Secret) => {
        const ns = obj.metadata?.namespace;
        const pw = passwordOf(obj);
        if (!ns || !pw || type === 'DELETED' || current.get(ns) === pw) return;
        current.set(ns, pw);
        let m = holds.get(pw);
        if (!m) holds.set(pw, (m = new Map()));
        if (!m.has(ns)) m.set(ns, Date.now());
      },
      () => undefined,
    );
    try {
      const t0 = Date.now();
      broker.setCredential('robot', `bench-${t0}`, new Date(t0 + ROTATION_LIFETIME_MS)); // fresh, not from start-up
      await create('rot-http', {
        http: { url: broker.url, allowInsecure: true, registry: BROKER_REGISTRY, response: { username: '$.data.username', password: '$.data.password', expiresAt: '$.data.expires_at' } },
      });
      await create('rot-ecr', { ecr: { regions: [...REGIONS], endpoint: proxy.endpoint } });
      while (current.size < o.namespaces && Date.now() - t0 < 300_000) await sleep(50);
      const firstSyncSeconds = (Date.now() - t0) / 1000; // polled every 50 ms
      o.log(`rotation: ${current.size}/${o.namespaces} namespaces hold the http credential's Secret, ${firstSyncSeconds.toFixed(2)} s after it was created`);
      // Let the ECR credential settle too before the window opens.
      await sleep(5_000);

      const brokerBefore = broker.requests.length;
      const issuedBefore = new Set(broker.issued.map((c) => c.password));
      const ecrBefore = new Map(proxy.calls);
      const httpRefreshBefore = await refreshes(o.metricsUrl, 'rot-http');
      const ecrRefreshBefore = await refreshes(o.metricsUrl, 'rot-ecr');
      const windowStart = Date.now();
      o.log(`rotation: observing ${o.windowSeconds} s of rotations (lifetime ${ROTATION_LIFETIME_MS / 1000} s) across ${o.namespaces} namespaces`);
      await sleep(o.windowSeconds * 1000);
      // Calls and refreshes are counted over the same instants (up to one in flight at either end).
      const windowEnd = Date.now();
      const providerCalls = broker.requests.length - brokerBefore;
      const callsByRegion: Record<string, number> = {};
      for (const [region, n] of proxy.calls) callsByRegion[region] = n - (ecrBefore.get(region) ?? 0);
      const httpRefreshes = (await refreshes(o.metricsUrl, 'rot-http')) - httpRefreshBefore;
      const ecrRefreshes = (await refreshes(o.metricsUrl, 'rot-ecr')) - ecrRefreshBefore;
      await sleep(Math.min(15_000, ROTATION_LIFETIME_MS / 2)); // the last rotation's fan-out completes
      const ecrCalls = Object.values(callsByRegion).reduce((a, b) => a + b, 0);

      // Rotations issued inside the window that reached every namespace.
      const fanOut: number[] = [];
      let rotations = 0;
      for (const c of broker.issued) {
        const at = issuedAt.get(c.password);
        if (issuedBefore.has(c.password) || at === undefined || at < windowStart || at > windowEnd) continue;
        rotations++;
        const m = holds.get(c.password);
        if (m && m.size >= o.namespaces) fanOut.push((Math.max(...m.values()) - at) / 1000);
      }
      fanOut.sort((a, b) => a - b);
      const { writes, deletes } = o.secretWrites('rot-http-pull', windowStart, windowEnd);
      return {
        namespaces: o.namespaces,
        windowSeconds: o.windowSeconds,
        lifetimeSeconds: ROTATION_LIFETIME_MS / 1000,
        firstSyncSeconds: +firstSyncSeconds.toFixed(2),
        rotations,
        rotationFanOutSeconds: { p50: +percentile(fanOut, 50).toFixed(2), max: +(fanOut.at(-1) ?? NaN).toFixed(2), all: fanOut.map((x) => +x.toFixed(2)) },
        http: {
          providerCalls,
          refreshes: httpRefreshes,
          callsPerRefresh: +(providerCalls / Math.max(1, httpRefreshes)).toFixed(2),
          secretWrites: writes,
          secretDeletes: deletes,
          writesPerRotation: +(writes / Math.max(1, rotations)).toFixed(1),
        },
        ecr: {
          regions: REGIONS.length,
          callsByRegion,
          refreshes: ecrRefreshes,
          callsPerRefresh: +(ecrCalls / Math.max(1, ecrRefreshes)).toFixed(2),
          callsPerRefreshPerRegion: +(ecrCalls / Math.max(1, ecrRefreshes) / REGIONS.length).toFixed(2),
        },
      };
    } finally {
      stopWatch.abort();
      // Clean up before the memory phase: the credentials go, and so do their Secrets.
      for (const name of ['rot-http', 'rot-ecr']) {
        await custom.deleteClusterCustomObject({ group: 'regcred.dev', version: 'v1alpha1', plural: 'clusterregistrycredentials', name }).catch(() => undefined);
      }
      for (const end = Date.now() + 180_000; Date.now() < end; ) {
        const left = await core.listSecretForAllNamespaces({ labelSelector: 'regcred.dev/owner-name in (rot-http,rot-ecr)', limit: 1 });
        if (left.items.length === 0) break;
        await sleep(1000);
      }
    }
  }

  return {
    controllerEnv: { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_EC2_METADATA_DISABLED: 'true' },
    run,
    async stop() {
      await broker.stop();
      await proxy.stop();
    },
  };
}
