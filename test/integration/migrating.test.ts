// The migration guides' example values (docs/migrating/values/*.yaml), installed with helm into a real
// control plane and run: the controller as the chart's ServiceAccount with the Deployment's own
// command and arguments (runLikeDeployment), or, for `mode: cronjob`, the CronJob's own sync
// command. Each file is used as a user would copy it; the test changes only the endpoint fields so
// the providers reach local doubles (Jit, Crusoe, moto for ECR, Google, Entra/ACR, Chainguard)
// instead of the internet, and creates the source Secrets the guide tells users to create. It then
// checks the Secret the OLD tool wrote (jit-registry-creds, crusoe-image-pull-secrets, awsecr-cred,
// gcr-secret, dpr-secret, acr-secret, pull-secret, ecr-docker-creds) holds a credential the double
// issued, in the namespaces the old tool wrote. Several also check the takeover: the old tool's
// Secret exists first (unmanaged, as the old tool wrote it) and regcred updates it in place (same
// UID; for the Jit chart a watch sees no DELETED event): Jit, registry-creds ECR, the Chainguard
// updater (compatibility mode, then a chainguard credential), the ECR CronJob.
//
// The releases run one after another (each in its own namespace, uninstalled afterwards): their
// ClusterRegistryCredentials are cluster-scoped and would be seen by every controller at once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, Watch, type V1Secret } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { runCli } from '../harness/cli.js';
import { CHART_DIR, helm, renderChart, runLikeDeployment, stopProcess, valuesFile, type RenderedObject } from '../harness/helm.js';
import { secretOrUndefined } from '../harness/kube.js';
import { installCrds } from '../harness/crds.js';
import { startMoto, type Moto } from '../harness/moto.js';
import { startJitDouble, type JitDouble } from '../harness/doubles/jit.js';
import { startCrusoeDouble, type CrusoeDouble } from '../harness/doubles/crusoe.js';
import { startGcpDoubles, type GcpDoubles } from '../harness/doubles/gcp.js';
import { startAzureDoubles, type AzureDoubles } from '../harness/doubles/azure.js';
import { startChainguardDouble, type ChainguardDouble } from '../harness/doubles/chainguard.js';
import { apiServerJwks } from '../harness/doubles/sa-token.js';
import { eventually } from '../harness/eventually.js';

const VALUES_DIR = fileURLToPath(new URL('../../../docs/migrating/values/', import.meta.url));

let cp: ControlPlane;
let core: CoreV1Api;
let moto: Moto;
let jit: JitDouble;
let crusoe: CrusoeDouble;
let gcp: GcpDoubles;
let az: AzureDoubles;
let cg: ChainguardDouble;

const JIT_CLIENT_ID = `cid-${randomBytes(6).toString('hex')}`;
const JIT_SECRET = `jit-${randomBytes(18).toString('base64url')}`;
const CRUSOE_ACCESS = `ak-${randomBytes(8).toString('hex')}`;
const CRUSOE_SECRET = randomBytes(32).toString('base64url');
const AWS_KEY_ID = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
const AWS_SECRET_KEY = randomBytes(30).toString('base64');
const GCP_ADC_CLIENT = '764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com';
const GCP_ADC_SECRET = `d-${randomBytes(12).toString('base64url')}`;
const GCP_ADC_REFRESH = `1//${randomBytes(24).toString('base64url')}`;
const ACR_SECRET = `Q8~${randomBytes(18).toString('base64url')}`;
const DPR_PASSWORD = `dpr-${randomBytes(18).toString('base64url')}`;
const CG_NS = 'mig-chainguard';
let CG_IDENTITY = '';
/** Every secret value the test hands out: none may appear in any log. */
const SECRETS = [JIT_SECRET, CRUSOE_SECRET, AWS_SECRET_KEY, ACR_SECRET, DPR_PASSWORD, GCP_ADC_SECRET, GCP_ADC_REFRESH];
/** Every output printed by a controller or sync run. */
const printed: string[] = [];

/** AWS: no ambient credentials or config may leak into the providers. */
const AWS_ENV = {
  AWS_ACCESS_KEY_ID: '',
  AWS_SECRET_ACCESS_KEY: '',
  AWS_SESSION_TOKEN: '',
  AWS_PROFILE: '',
  AWS_CONFIG_FILE: '/nonexistent/aws-config',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
  AWS_EC2_METADATA_DISABLED: 'true',
};

type Auths = Record<string, { username: string; password: string; auth: string }>;
type Values = {
  mode?: string;
  credentials?: Array<{ name: string; spec: { provider: Record<string, Record<string, any>>; target: { secretName: string; namespaces?: any; serviceAccounts?: string[] } } }>;
  controller?: { chainguardCompat?: { enabled: boolean; issuer: string } };
};

/** The values files the tests installed. */
const installedFiles = new Set<string>();

/** The guide's values file as users copy it. */
function guideValues(file: string): Values {
  return parse(readFileSync(`${VALUES_DIR}${file}`, 'utf8')) as Values;
}

function provider(values: Values, key: string): Record<string, any> {
  const p = values.credentials?.[0]?.spec.provider[key];
  assert.ok(p, `the values file has a ${key} credential`);
  return p;
}

function authsOf(secret: V1Secret | undefined): Auths {
  assert.ok(secret, 'the Secret exists');
  assert.equal(secret.type, 'kubernetes.io/dockerconfigjson');
  return (JSON.parse(Buffer.from(secret.data?.['.dockerconfigjson'] ?? '', 'base64').toString('utf8')) as { auths: Auths }).auths;
}

/** One entry, `auth` base64 of user:password encoded once. */
function assertEntry(auths: Auths, registry: string, username: string, passwordOk: (p: string) => boolean, what: string): void {
  const e = auths[registry];
  assert.ok(e, `an auths entry for ${registry} (have ${Object.keys(auths).join(', ')})`);
  assert.equal(e.username, username);
  assert.ok(passwordOk(e.password), `the password is ${what}`);
  assert.equal(e.auth, Buffer.from(`${e.username}:${e.password}`).toString('base64'), 'auth = base64(user:password), once');
}


async function namespace(name: string): Promise<void> {
  await core.createNamespace({ body: { metadata: { name } } });
}

async function sourceSecret(ns: string, name: string, stringData: Record<string, string>, type?: string): Promise<void> {
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name }, ...(type ? { type } : {}), stringData } });
}

/** A pull Secret as `kubectl create secret docker-registry` writes it: the old tools' Secrets. */
function oldPullSecret(name: string, server: string, username: string, password: string, annotations: Record<string, string> = {}): V1Secret {
  const config = { auths: { [server]: { username, password, auth: Buffer.from(`${username}:${password}`).toString('base64') } } };
  return { metadata: { name, annotations }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': Buffer.from(JSON.stringify(config)).toString('base64') } };
}

/** Watches one Secret; records the event types seen. */
async function watchSecret(ns: string, name: string): Promise<{ events: string[]; stop: () => void }> {
  const events: string[] = [];
  const ctl = await new Watch(cp.kubeConfig).watch(
    `/api/v1/namespaces/${ns}/secrets`,
    { fieldSelector: `metadata.name=${name}` },
    (type: string) => events.push(type),
    () => {},
  );
  return { events, stop: () => ctl.abort() };
}

function find(objects: RenderedObject[], kind: string): RenderedObject {
  const o = objects.find((x) => x.kind === kind);
  assert.ok(o, `rendered ${kind}`);
  return o;
}

/** `helm upgrade --install`: an install the first time, an upgrade of the release after. */
async function install(release: string, ns: string, values: unknown, extra: string[] = []): Promise<void> {
  const res = await helm(['upgrade', '--install', release, CHART_DIR, '-n', ns, '--values', valuesFile(values), ...extra], { kubeconfig: cp.kubeconfigPath });
  assert.equal(res.code, 0, `helm upgrade --install ${release}: ${res.stderr}`);
}

async function uninstall(release: string, ns: string): Promise<void> {
  const res = await helm(['uninstall', release, '-n', ns], { kubeconfig: cp.kubeconfigPath });
  assert.equal(res.code, 0, `helm uninstall ${release}: ${res.stderr}`);
}

async function crcStatus(name: string): Promise<any> {
  const o = (await cp.kubeConfig.makeApiClient(CustomObjectsApi).getClusterCustomObject({ group: 'regcred.dev', version: 'v1alpha1', plural: 'clusterregistrycredentials', name })) as any;
  return o.status;
}

function managedByRegcred(s: V1Secret): boolean {
  return s.metadata?.labels?.['app.kubernetes.io/managed-by'] === 'regcred';
}

function readyOf(status: any): { status: string; reason: string } | undefined {
  return status?.conditions?.find((c: any) => c.type === 'Ready');
}

/**
 * helm install (or upgrade) the values in their own namespace, run the controller as the chart's
 * ServiceAccount with the Deployment's arguments, wait for each expected Secret, check it, wait for
 * `ready`, stop, uninstall (unless `keep`). Returns the time from the controller's start to the
 * first Secret written.
 */
async function runControllerGuide(opts: {
  guide: string;
  /** The values file (docs/migrating/values/) `values` come from. */
  file: string;
  ns: string;
  values: Values;
  env?: Record<string, string>;
  secrets: Array<{ namespace: string; name: string; check: (s: V1Secret) => void }>;
  /** When a Secret counts as written; default: regcred's label, or (compatibility mode) its expiry annotation. */
  written?: (s: V1Secret) => boolean;
  ready?: (status: any) => boolean;
  during?: () => Promise<void>;
  /** Leave the release installed (a later step upgrades it). */
  keep?: boolean;
}): Promise<number> {
  const release = opts.ns;
  // The doubles listen on loopback, which provider calls reach only where the installation allows it.
  const values = { ...opts.values, tenantPolicy: { clusterAllowedCIDRs: ['127.0.0.0/8'] } };
  await install(release, opts.ns, values);
  installedFiles.add(opts.file);
  const deployment = find(await renderChart(values, { release, namespace: opts.ns }), 'Deployment');
  const t0 = Date.now();
  const ctl = runLikeDeployment(deployment, await cp.kubeconfigFor(opts.ns, 'regcred'), opts.ns, opts.env);
  const log = () => ctl.output.join('');
  let firstMs = 0;
  let failed = true;
  try {
    for (const want of opts.secrets) {
      const secret = await eventually(
        `${opts.guide}: Secret ${want.namespace}/${want.name} written`,
        async () => {
          const s = await secretOrUndefined(core, want.namespace, want.name);
          if (!s) return undefined;
          const written = opts.written ?? ((x: V1Secret) => managedByRegcred(x) || !!x.metadata?.annotations?.['regcred.dev/expires-at']);
          return written(s) ? s : undefined;
        },
        20_000,
        log,
      );
      firstMs ||= Date.now() - t0;
      want.check(secret);
    }
    const credName = opts.values.credentials?.[0]?.name;
    if (credName && opts.ready) {
      const ready = opts.ready;
      await eventually(`${opts.guide}: status`, async () => ready(await crcStatus(credName)), 20_000, log);
    }
    await opts.during?.();
    assert.doesNotMatch(log(), /forbidden/i, `${opts.guide}: no request refused by the chart's RBAC`);
    failed = false;
  } finally {
    printed.push(log());
    const code = await stopProcess(ctl.child);
    // An earlier failure is the one to report (its message carries the log).
    if (!failed) assert.equal(code, 0, `${opts.guide}: the controller exits 0 on SIGTERM\n${log().slice(-3000)}`);
  }
  if (!opts.keep) await uninstall(release, opts.ns);
  return firstMs;
}

before(async () => {
  let jwks: Awaited<ReturnType<typeof apiServerJwks>>;
  [cp, moto, jit, crusoe] = await Promise.all([
    start(),
    startMoto(),
    startJitDouble({ clientId: JIT_CLIENT_ID, secret: JIT_SECRET, registryUrl: 'registry.jit.io/org-1234/controls' }),
    startCrusoeDouble({ accessKey: CRUSOE_ACCESS, secretKey: CRUSOE_SECRET }),
  ]);
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  jwks = await apiServerJwks(cp);
  CG_IDENTITY = provider(guideValues('chainguard-credential.yaml'), 'chainguard')['identity'];
  const acr = provider(guideValues('registry-creds-acr.yaml'), 'acr');
  [gcp, az, cg] = await Promise.all([
    startGcpDoubles({ users: new Map([[GCP_ADC_CLIENT, { clientSecret: GCP_ADC_SECRET, refreshToken: GCP_ADC_REFRESH }]]) }),
    startAzureDoubles({
      principals: [{ tenantId: acr['tenantId'], clientId: acr['clientId'], secret: ACR_SECRET }],
      scope: 'https://management.azure.com/.default',
      registries: [acr['registry']],
    }),
    // The identity of the guide's second file (chainguard-credential.yaml) is the one the annotations name.
    startChainguardDouble({ jwks, kubeIssuer: cp.issuer, identities: { [CG_IDENTITY]: [`system:serviceaccount:${CG_NS}:regcred`] } }),
  ]);
  // The chart's CRDs, as the first `helm install` would create them.
  await installCrds(cp.kubeConfig);
});

after(async () => {
  await Promise.all([cp?.stop(), moto?.stop(), jit?.stop(), crusoe?.stop(), gcp?.stop(), az?.stop(), cg?.stop()]);
  const all = printed.join('\n');
  for (const s of SECRETS) assert.ok(!all.includes(s), 'no source secret in any output');
});

describe('migration guides: each example values file installs and syncs (docs/migrating/)', () => {
  test('jit-registry-chart.yaml: takes over jit-registry-creds in place (same UID, never deleted), Ready', async () => {
    const ns = 'mig-jit';
    const values = guideValues('jit-registry-chart.yaml');
    const target = values.credentials![0]!.spec.target;
    assert.equal(target.secretName, 'jit-registry-creds');
    const [runnerNs] = target.namespaces.names as string[];
    assert.equal(runnerNs, 'gitlab-runner');
    await namespace(ns);
    await namespace(runnerNs!);
    // The guide: `kubectl -n <ns> create secret generic jit-api --from-literal=client_id=... --from-literal=secret=...`.
    await sourceSecret(ns, 'jit-api', { client_id: JIT_CLIENT_ID, secret: JIT_SECRET });
    // What the old chart left: its Secret, unmanaged by regcred, holding an older password.
    const old = await core.createNamespacedSecret({ namespace: runnerNs!, body: oldPullSecret('jit-registry-creds', 'registry.jit.io', 'jit-registry-user', 'old-password') });
    const watch = await watchSecret(runnerNs!, 'jit-registry-creds');
    provider(values, 'jit')['baseUrl'] = jit.baseUrl; // the endpoint override: the Jit double
    try {
      const ms = await runControllerGuide({
        guide: 'jit',
        file: 'jit-registry-chart.yaml',
        ns,
        values,
        secrets: [
          {
            namespace: runnerNs!,
            name: 'jit-registry-creds',
            check: (s) => {
              assert.equal(s.metadata?.uid, old.metadata?.uid, 'the same Secret, updated in place');
              assertEntry(authsOf(s), 'registry.jit.io', jit.username, (p) => p === jit.passwords.at(-1), 'the password Jit handed out last');
            },
          },
        ],
        ready: (st) => readyOf(st)?.status === 'True',
      });
      console.log(`# jit: the old chart's Secret taken over ${ms} ms after the controller started`);
    } finally {
      watch.stop();
    }
    assert.ok(!watch.events.includes('DELETED'), `never deleted (events: ${watch.events.join(', ')})`);
    const after = await secretOrUndefined(core, runnerNs!, 'jit-registry-creds');
    assert.equal(after?.metadata?.uid, old.metadata?.uid, 'cleanupPolicy Retain: the Secret stays after helm uninstall');
    const sa = await core.readNamespacedServiceAccount({ namespace: runnerNs!, name: 'default' }).catch(() => undefined);
    assert.ok(!sa?.imagePullSecrets?.some((r) => r.name === 'jit-registry-creds'), 'serviceAccounts: [] leaves service accounts alone, as the old chart did');
  });

  test('crusoe-token-rotator.yaml: crusoe-image-pull-secrets in default, a token the Crusoe API minted, Ready', async () => {
    const ns = 'mig-crusoe';
    const values = guideValues('crusoe-token-rotator.yaml');
    const c = provider(values, 'crusoe');
    await namespace(ns);
    // The rotator's own Secret, copied into regcred's namespace (same name and keys).
    await sourceSecret(ns, 'crusoe-secrets', { CRUSOE_ACCESS_KEY: CRUSOE_ACCESS, CRUSOE_SECRET_KEY: CRUSOE_SECRET });
    c['baseUrl'] = crusoe.baseUrl;
    const ms = await runControllerGuide({
      guide: 'crusoe',
      file: 'crusoe-token-rotator.yaml',
      ns,
      values,
      secrets: (values.credentials![0]!.spec.target.namespaces.names as string[]).map((n) => ({
        namespace: n,
        name: 'crusoe-image-pull-secrets',
        check: (s) => assertEntry(authsOf(s), c['registry'], c['username'], (p) => crusoe.tokens.some((t) => t.token === p), 'a live token the Crusoe API minted'),
      })),
      ready: (st) => readyOf(st)?.status === 'True',
    });
    assert.ok(crusoe.minted.every((t) => t.alias === 'regcred-crusoe'), 'minted with the credential’s own alias');
    console.log(`# crusoe: crusoe-image-pull-secrets written ${ms} ms after the controller started`);
  });

  test('registry-creds-ecr.yaml: awsecr-cred in every namespace, default service accounts patched (moto)', async () => {
    const ns = 'mig-rc-ecr';
    const values = guideValues('registry-creds-ecr.yaml');
    const ecr = provider(values, 'ecr');
    await namespace(ns);
    await namespace('rc-app');
    // registry-creds' registry-creds-ecr Secret copied as the guide does: same name and keys.
    await sourceSecret(ns, 'registry-creds-ecr', { AWS_ACCESS_KEY_ID: AWS_KEY_ID, AWS_SECRET_ACCESS_KEY: AWS_SECRET_KEY, 'aws-account': '123456789012', 'aws-region': 'us-east-1', 'aws-assume-role': '' });
    // What registry-creds left in rc-app: its awsecr-cred, and the default service account naming it.
    const old = await core.createNamespacedSecret({ namespace: 'rc-app', body: oldPullSecret('awsecr-cred', 'https://123456789012.dkr.ecr.us-east-1.amazonaws.com', 'AWS', 'old-token') });
    await eventually('the default service account of rc-app', () => core.readNamespacedServiceAccount({ namespace: 'rc-app', name: 'default' }));
    await core.patchNamespacedServiceAccount({ namespace: 'rc-app', name: 'default', body: [{ op: 'add', path: '/imagePullSecrets', value: [{ name: 'awsecr-cred' }] }] });
    ecr['endpoint'] = moto.endpoint;
    const hosts = (ecr['registryIds'] as string[]).map((id) => `${id}.dkr.ecr.${ecr['region']}.amazonaws.com`);
    const check = (s: V1Secret) => {
      const auths = authsOf(s);
      assert.deepEqual(Object.keys(auths).sort(), [...hosts].sort());
      for (const h of hosts) assertEntry(auths, h, 'AWS', (p) => p.length > 0, 'an ECR token');
    };
    const ms = await runControllerGuide({
      guide: 'registry-creds ecr',
      file: 'registry-creds-ecr.yaml',
      ns,
      values,
      env: AWS_ENV,
      secrets: ['default', 'rc-app', 'kube-system'].map((n) => ({
        namespace: n,
        name: 'awsecr-cred',
        check: (s: V1Secret) => {
          check(s);
          if (n === 'rc-app') assert.equal(s.metadata?.uid, old.metadata?.uid, 'registry-creds’ Secret updated in place');
        },
      })),
      // moto's tokens expired in 2015: the controller writes them and says so (CredentialExpired);
      // against AWS this is Ready=True.
      ready: (st) => {
        const r = readyOf(st);
        return st?.targets?.synced >= 3 && (r?.status === 'True' || (r?.status === 'False' && r.reason === 'CredentialExpired'));
      },
      during: async () => {
        for (const n of ['default', 'rc-app']) {
          await eventually(`default service account of ${n} patched`, async () => {
            const sa = await core.readNamespacedServiceAccount({ namespace: n, name: 'default' });
            return sa.imagePullSecrets?.some((r) => r.name === 'awsecr-cred');
          });
        }
        const sa = await core.readNamespacedServiceAccount({ namespace: 'rc-app', name: 'default' });
        assert.deepEqual(sa.imagePullSecrets?.map((r) => r.name), ['awsecr-cred'], 'the reference registry-creds added is kept, not duplicated');
      },
    });
    console.log(`# registry-creds ecr: awsecr-cred written ${ms} ms after the controller started`);
  });

  test('registry-creds-gcr.yaml: gcr-secret with an access token for each gcr.io host, from the user’s application_default_credentials.json', async () => {
    const ns = 'mig-rc-gcr';
    const values = guideValues('registry-creds-gcr.yaml');
    const g = provider(values, 'gcp');
    await namespace(ns);
    // registry-creds-gcr as registry-creds' README has it made: a user's
    // application_default_credentials.json (`gcloud auth application-default login`). Its token_uri
    // (absent in gcloud's file: Google's token endpoint) is the endpoint override: the double.
    const adc = { type: 'authorized_user', client_id: GCP_ADC_CLIENT, client_secret: GCP_ADC_SECRET, refresh_token: GCP_ADC_REFRESH, quota_project_id: 'my-project', token_uri: gcp.tokenUri };
    await sourceSecret(ns, 'registry-creds-gcr', { 'application_default_credentials.json': JSON.stringify(adc) });
    const ms = await runControllerGuide({
      guide: 'registry-creds gcr',
      file: 'registry-creds-gcr.yaml',
      ns,
      values,
      secrets: ['default', 'rc-app'].map((n) => ({
        namespace: n,
        name: 'gcr-secret',
        check: (s) => {
          const auths = authsOf(s);
          assert.deepEqual(Object.keys(auths).sort(), [...(g['registries'] as string[])].sort());
          for (const r of g['registries'] as string[]) assertEntry(auths, r, 'oauth2accesstoken', (p) => gcp.issued.key.includes(p) && p.startsWith('ya29.user.'), 'an access token the token endpoint issued for the refresh token');
        },
      })),
      ready: (st) => readyOf(st)?.status === 'True',
    });
    console.log(`# registry-creds gcr: gcr-secret written ${ms} ms after the controller started`);
  });

  test('registry-creds-dpr.yaml: dpr-secret copies the private registry login', async () => {
    const ns = 'mig-rc-dpr';
    const values = guideValues('registry-creds-dpr.yaml');
    await namespace(ns);
    // registry-creds-dpr's DOCKER_PRIVATE_REGISTRY_SERVER/_USER/_PASSWORD as registry/username/password.
    await sourceSecret(ns, 'dpr-source', { registry: 'registry.example.com:5000', username: 'deploy', password: DPR_PASSWORD });
    const ms = await runControllerGuide({
      guide: 'registry-creds dpr',
      file: 'registry-creds-dpr.yaml',
      ns,
      values,
      secrets: ['default', 'rc-app'].map((n) => ({
        namespace: n,
        name: 'dpr-secret',
        check: (s) => assertEntry(authsOf(s), 'registry.example.com:5000', 'deploy', (p) => p === DPR_PASSWORD, 'the source password'),
      })),
      ready: (st) => readyOf(st)?.status === 'True',
    });
    console.log(`# registry-creds dpr: dpr-secret written ${ms} ms after the controller started`);
  });

  test('registry-creds-acr.yaml: acr-secret holds an ACR refresh token, not the service principal’s password', async () => {
    const ns = 'mig-rc-acr';
    const values = guideValues('registry-creds-acr.yaml');
    const a = provider(values, 'acr');
    await namespace(ns);
    // registry-creds-acr's ACR_PASSWORD as AZURE_CLIENT_SECRET.
    await sourceSecret(ns, 'acr-sp', { AZURE_CLIENT_SECRET: ACR_SECRET });
    a['authorityHost'] = az.authorityHost;
    a['endpoint'] = az.acrEndpoint;
    const ms = await runControllerGuide({
      guide: 'registry-creds acr',
      file: 'registry-creds-acr.yaml',
      ns,
      values,
      env: { NODE_EXTRA_CA_CERTS: az.tls.caPath },
      secrets: ['default', 'rc-app'].map((n) => ({
        namespace: n,
        name: 'acr-secret',
        check: (s) => assertEntry(authsOf(s), a['registry'], '00000000-0000-0000-0000-000000000000', (p) => az.refreshTokens.has(p), 'a refresh token the ACR exchange issued'),
      })),
      ready: (st) => readyOf(st)?.status === 'True',
    });
    console.log(`# registry-creds acr: acr-secret written ${ms} ms after the controller started`);
  });

  test('chainguard-pull-secret-updater.yaml, then chainguard-credential.yaml: annotated pull-secret filled in place (compat mode), then taken over by a credential', async () => {
    const values = guideValues('chainguard-pull-secret-updater.yaml');
    assert.equal(values.controller?.chainguardCompat?.enabled, true);
    await namespace(CG_NS);
    await namespace('cg-app');
    // As the updater's README has users create them: empty, annotated with the identity.
    const created: V1Secret[] = [];
    for (const n of ['default', 'cg-app']) {
      created.push(
        await core.createNamespacedSecret({
          namespace: n,
          body: { metadata: { name: 'pull-secret', annotations: { 'pull-secret-updater.chainguard.dev/identity': CG_IDENTITY } }, type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': '{}' } },
        }),
      );
    }
    values.controller!.chainguardCompat!.issuer = cg.url;
    const ms = await runControllerGuide({
      guide: 'chainguard',
      file: 'chainguard-pull-secret-updater.yaml',
      ns: CG_NS,
      values,
      keep: true,
      secrets: ['default', 'cg-app'].map((n, i) => ({
        namespace: n,
        name: 'pull-secret',
        check: (s) => {
          assert.equal(s.metadata?.uid, created[i]!.metadata?.uid, 'the same Secret');
          assert.equal(s.metadata?.annotations?.['pull-secret-updater.chainguard.dev/identity'], CG_IDENTITY, 'its annotation kept');
          assertEntry(authsOf(s), 'cgr.dev', '_token', (p) => cg.issued.includes(p), 'a token the Chainguard STS issued');
        },
      })),
    });
    assert.ok(cg.requests.some((r) => r.status === 200 && r.subject === `system:serviceaccount:${CG_NS}:regcred`), 'exchanged as the chart’s service account');
    console.log(`# chainguard: annotated pull-secret filled ${ms} ms after the controller started`);

    // "Afterwards": the annotation removed, then helm upgrade with the credential file; the
    // controller restarted with the upgraded Deployment's arguments (compatibility mode off).
    for (const n of ['default', 'cg-app']) {
      await core.patchNamespacedSecret({ namespace: n, name: 'pull-secret', body: [{ op: 'remove', path: '/metadata/annotations/pull-secret-updater.chainguard.dev~1identity' }] });
    }
    const second = guideValues('chainguard-credential.yaml');
    assert.equal(second.controller?.chainguardCompat?.enabled ?? false, false);
    provider(second, 'chainguard')['issuer'] = cg.url;
    const ms2 = await runControllerGuide({
      guide: 'chainguard credential',
      file: 'chainguard-credential.yaml',
      ns: CG_NS,
      values: second,
      // The compatibility mode's Secrets carry regcred.dev/expires-at already: wait for the adoption.
      written: managedByRegcred,
      secrets: ['default', 'cg-app', 'mig-jit'].map((n) => ({
        namespace: n,
        name: 'pull-secret',
        check: (s) => {
          const i = ['default', 'cg-app'].indexOf(n);
          if (i >= 0) assert.equal(s.metadata?.uid, created[i]!.metadata?.uid, `${n}: the annotated Secret taken over in place`);
          assert.equal(s.metadata?.labels?.['regcred.dev/owner-name'], 'chainguard');
          assertEntry(authsOf(s), 'cgr.dev', '_token', (p) => cg.issued.includes(p), 'a token the Chainguard STS issued');
        },
      })),
      ready: (st) => readyOf(st)?.status === 'True',
    });
    assert.equal(await secretOrUndefined(core, 'kube-system', 'pull-secret'), undefined, 'kube-system excluded');
    console.log(`# chainguard: the credential took the Secrets over ${ms2} ms after the controller restarted`);
  });

  test('ecr-cronjob.yaml (mode: cronjob): the CronJob’s sync takes over ecr-docker-creds in every namespace in place', async () => {
    const ns = 'mig-ecr-cron';
    const values = guideValues('ecr-cronjob.yaml');
    assert.equal(values.mode, 'cronjob');
    const ecr = provider(values, 'ecr');
    await namespace(ns);
    await namespace('cron-app');
    // The old helper's aws-conf Secret (lower-case keys, in `default` where its script reads it) ...
    await sourceSecret('default', 'aws-conf', {
      aws_access_key_id: AWS_KEY_ID,
      aws_secret_access_key: AWS_SECRET_KEY,
      region: ecr['region'],
      output: 'json',
      account_id: (ecr['registryIds'] as string[])[0]!,
    });
    // ... made into regcred's source Secret the way the guide's one-liner does (jq over the base64 data).
    const awsConf = await core.readNamespacedSecret({ namespace: 'default', name: 'aws-conf' });
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'aws-ecr-reader' }, type: 'Opaque', data: { AWS_ACCESS_KEY_ID: awsConf.data!['aws_access_key_id']!, AWS_SECRET_ACCESS_KEY: awsConf.data!['aws_secret_access_key']! } },
    });
    // The helper's last run: ecr-docker-creds in each namespace, server with https://.
    const host = `${(ecr['registryIds'] as string[])[0]}.dkr.ecr.${ecr['region']}.amazonaws.com`;
    const uids = new Map<string, string>();
    for (const n of ['default', 'cron-app']) {
      const s = await core.createNamespacedSecret({ namespace: n, body: oldPullSecret('ecr-docker-creds', `https://${host}`, 'AWS', 'old-token') });
      uids.set(n, s.metadata!.uid!);
    }
    ecr['endpoint'] = moto.endpoint;
    // --no-hooks: the initial Job would wait for a kubelet that does not run here; its command is the CronJob's.
    await install(ns, ns, values, ['--no-hooks']);
    installedFiles.add('ecr-cronjob.yaml');
    const objects = await renderChart(values, { release: ns, namespace: ns });
    const cron = find(objects, 'CronJob');
    assert.equal(cron['spec'].schedule, '0 */4 * * *');
    const container = cron['spec'].jobTemplate.spec.template.spec.containers[0] as { args: string[] };
    const config = find(objects, 'ConfigMap')['data']['credentials.yaml'] as string;
    const args = container.args.map((a) => (a === '--filename=/etc/regcred/credentials.yaml' ? '--filename=-' : a));
    const t0 = Date.now();
    const res = await runCli([...args, '--kubeconfig', await cp.kubeconfigFor(ns, 'regcred')], { input: config, env: AWS_ENV });
    const ms = Date.now() - t0;
    printed.push(res.stdout, res.stderr);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.match(res.stdout, /ClusterRegistryCredential\/ecr: synced \d+\/\d+ namespaces/);
    assert.match(res.stderr, /adopted existing Secret ecr-docker-creds/);
    for (const n of ['default', 'cron-app', 'kube-system', ns]) {
      const s = await secretOrUndefined(core, n, 'ecr-docker-creds');
      const auths = authsOf(s);
      assert.deepEqual(Object.keys(auths), [host], `${n}: one entry, the bare host (the old Secret's https:// key is replaced)`);
      assertEntry(auths, host, 'AWS', (p) => p.length > 0 && p !== 'old-token', 'a fresh ECR token');
      assert.equal(s?.metadata?.labels?.['app.kubernetes.io/managed-by'], 'regcred');
      if (uids.has(n)) assert.equal(s?.metadata?.uid, uids.get(n), `${n}: the old Secret updated in place`);
    }
    // A second run (the next schedule): nothing to adopt, nothing changed.
    const again = await runCli([...args, '--kubeconfig', await cp.kubeconfigFor(ns, 'regcred')], { input: config, env: AWS_ENV });
    printed.push(again.stdout, again.stderr);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.doesNotMatch(again.stderr, /adopted/);
    await uninstall(ns, ns);
    console.log(`# ecr-cronjob: one sync run took over ecr-docker-creds in every namespace in ${ms} ms`);
  });

  test('every values file of docs/migrating/values was installed above; every credential adopts and retains', () => {
    const files = readdirSync(VALUES_DIR).filter((f) => f.endsWith('.yaml')).sort();
    assert.deepEqual([...installedFiles].sort(), files);
    for (const f of files) {
      for (const c of guideValues(f).credentials ?? []) {
        assert.equal((c.spec.target as { adopt?: boolean }).adopt, true, `${f}: ${c.name}: target.adopt`);
        assert.equal((c.spec as { cleanupPolicy?: string }).cleanupPolicy, 'Retain', `${f}: ${c.name}: cleanupPolicy`);
      }
    }
  });
});
