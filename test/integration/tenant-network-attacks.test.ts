// The tenant boundary on the network, against the real API server and `regcred controller` processes:
// a team's RegistryCredential tries to make the controller call loopback, metadata and private
// addresses (by IP, by a name that resolves to loopback, on an allowlisted host), to starve it with
// a huge or a silent answer, and to read a remote error through its status. Two installations run
// side by side, each watching one team's namespace: a strict one (the default policy plus the team's
// broker host on the allowlist) and one whose administrator allowed the broker's address.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { start, type ControlPlane } from '../harness/controlplane.js';
import { installCrds } from '../harness/crds.js';
import { spawnController, type ControllerProcess } from '../harness/controller-process.js';
import { startHttpBroker, type HttpBroker } from '../harness/doubles/http-broker.js';
import { eventually } from '../harness/eventually.js';

const GROUP = 'regcred.dev';
const VERSION = 'v1alpha1';
const STRICT = 'team-strict';
const LOOSE = 'team-loose';

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

describe('tenant network attacks: loopback, metadata, private addresses, huge and silent answers', { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let broker: HttpBroker;
  let huge: HttpBroker;
  let silent: HttpBroker;
  let failing: HttpBroker;
  const controllers: ControllerProcess[] = [];

  const healthPort = async (c: ControllerProcess) =>
    eventually('the controller prints its health port', async () => {
      const m = /"healthPort":(\d+)/.exec(c.output.join(''));
      return m ? Number(m[1]) : undefined;
    });

  /** regcred_policy_refusals_total of one credential and rule, read from the controller's /metrics. */
  async function refusals(c: ControllerProcess, namespace: string, name: string, rule: string): Promise<number> {
    const port = /"metricsPort":(\d+)/.exec(c.output.join(''))?.[1];
    assert.ok(port, 'the controller printed its metrics port');
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('regcred_policy_refusals_total{') && l.includes(`namespace="${namespace}"`) && l.includes(`name="${name}"`) && l.includes(`rule="${rule}"`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  }

  /** The notes of the Warning Events about a credential, once there is at least one. */
  async function warnings(namespace: string, name: string): Promise<Array<{ reason: string; note: string }>> {
    return eventually(`a Warning Event about ${namespace}/${name}`, async () => {
      const events = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
      const found = events.items.filter((e) => e.type === 'Warning').map((e) => ({ reason: e.reason ?? '', note: e.message ?? '' }));
      return found.length > 0 ? found : undefined;
    });
  }

  /** The `remote` fields (the remote's own words or the resolved address, log only) a controller logged about a credential. */
  function remoteLogged(c: ControllerProcess, namespace: string, name: string): string[] {
    const found: string[] = [];
    for (const line of c.output.join('').split('\n')) {
      try {
        const entry = JSON.parse(line) as { credential?: unknown; remote?: unknown };
        if (entry.credential === `RegistryCredential/${namespace}/${name}` && typeof entry.remote === 'string') found.push(entry.remote);
      } catch {
        // not a JSON log line
      }
    }
    return found;
  }

  before(async () => {
    cp = await start();
    await installCrds(cp.kubeConfig);
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    for (const ns of [STRICT, LOOSE, 'regcred-system']) await core.createNamespace({ body: { metadata: { name: ns } } });
    broker = await startHttpBroker({ tls: true });
    huge = await startHttpBroker({ tls: true });
    huge.fail('oversized');
    silent = await startHttpBroker({ tls: true });
    silent.fail('hang');
    failing = await startHttpBroker({ tls: true });
    failing.fail(503);
    // One self-signed certificate per broker: a combined bundle lets the controllers trust them all.
    const bundle = `${cp.dir}/brokers-ca.pem`;
    writeFileSync(bundle, [broker, huge, silent, failing].map((b) => readFileSync(b.caPath!, 'utf8')).join('\n'));
    const env = { NODE_EXTRA_CA_CERTS: bundle };
    const common = ['--log-format', 'json', '--tenant-allowed-host', '127.0.0.1', '--tenant-allowed-host', 'localhost', '--mint-timeout', '3s', '--tenant-min-refresh-interval', '1m'];
    // The strict installation allowlists a private address as a host: the default address policy still refuses it.
    controllers.push(spawnController(cp.kubeconfigPath, { env, strictNetwork: true, args: [...common, '--watch-namespace', STRICT, '--tenant-allowed-host', '10.0.0.1'] }));
    // The loose installation also allowlists the metadata address as a host: its address is refused all the same.
    controllers.push(
      spawnController(cp.kubeconfigPath, {
        env,
        strictNetwork: true,
        args: [...common, '--watch-namespace', LOOSE, '--tenant-allowed-cidr', '127.0.0.1/32', '--tenant-allowed-host', '169.254.169.254'],
      }),
    );
    for (const c of controllers) await healthPort(c);
  });

  after(async () => {
    for (const c of controllers) await c.stop();
    for (const b of [broker, huge, silent, failing]) await b?.stop();
    await cp?.stop();
  });

  async function create(namespace: string, name: string, url: string, extra: Record<string, unknown> = {}): Promise<void> {
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: 'registrycredentials',
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'RegistryCredential',
        metadata: { name },
        spec: {
          provider: { http: { url, registry: 'r.example.com', response: { username: '$.data.username', password: '$.data.password', expiresAt: '$.data.expires_at' }, ...extra } },
          target: { secretName: name, serviceAccounts: [] },
        },
      },
    });
  }

  async function ready(namespace: string, name: string, want: (c: Condition) => boolean, timeoutMs = 30_000): Promise<Condition> {
    return eventually(
      `${namespace}/${name} Ready as expected`,
      async () => {
        const obj = (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'registrycredentials', name })) as { status?: { conditions?: Condition[] } };
        const c = obj.status?.conditions?.find((x) => x.type === 'Ready');
        return c && want(c) ? c : undefined;
      },
      timeoutMs,
      () => controllers.map((c) => c.output.join('')).join('\n'),
    );
  }

  async function noSecret(namespace: string, name: string): Promise<void> {
    await assert.rejects(core.readNamespacedSecret({ namespace, name }), (err: unknown) => (err as { code?: number }).code === 404, `no Secret ${namespace}/${name}`);
  }

  test('an allowlisted host on a loopback or private address is refused at connect time, by IP and by a name resolving to it; the broker sees nothing', async () => {
    const port = new URL(broker.url).port;
    await create(STRICT, 'by-ip', `https://127.0.0.1:${port}/token`);
    await create(STRICT, 'by-name', `https://localhost:${port}/token`);
    for (const [name, host] of [['by-ip', '127.0.0.1'], ['by-name', 'localhost']] as const) {
      const c = await ready(STRICT, name, (x) => x.status === 'False' && x.reason === 'AddressNotAllowed');
      assert.equal(c.message, `http GET https://${host}:${port}/token: the address of ${host} is not allowed by the network policy`);
      await noSecret(STRICT, name);
      const notes = await warnings(STRICT, name);
      assert.ok(notes.some((e) => e.reason === 'AddressNotAllowed'), `a Warning Event with the rule: ${JSON.stringify(notes)}`);
      assert.equal(await refusals(controllers[0]!, STRICT, name, 'AddressNotAllowed'), 1, 'counted once, then the longest delay');
    }
    // A private range (where pods, services and nodes live), its host allowlisted: refused by default for a tenant.
    await create(STRICT, 'private', 'https://10.0.0.1/token');
    const priv = await ready(STRICT, 'private', (x) => x.status === 'False');
    assert.equal(priv.reason, 'AddressNotAllowed');
    assert.equal(priv.message, 'http GET https://10.0.0.1/token: the address of 10.0.0.1 is not allowed by the network policy');
    await noSecret(STRICT, 'private');
    // The address a name resolved to goes to the controller's log only.
    assert.ok(remoteLogged(controllers[0]!, STRICT, 'by-name').some((r) => /^localhost -> (127\.0\.0\.1|::1)$/.test(r)));
    assert.equal(broker.requests.length, 0);
  });

  test('metadata addresses, hosts off the allowlist and metadata headers are refused before any request', async () => {
    await create(STRICT, 'metadata', 'https://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token');
    await create(STRICT, 'flavor', broker.url, { headers: [{ name: 'Metadata-Flavor', value: 'Google' }] });
    const metadata = await ready(STRICT, 'metadata', (x) => x.status === 'False');
    assert.equal(metadata.reason, 'HostNotAllowed');
    assert.equal(metadata.message, "refused by the tenant policy: spec.provider.http.url host 169.254.169.254 is not on the installation's allowlist for RegistryCredentials");
    const flavor = await ready(STRICT, 'flavor', (x) => x.status === 'False');
    assert.equal(flavor.reason, 'HeaderNotAllowed');
    assert.equal(flavor.message, 'refused by the tenant policy: spec.provider.http.headers[0].name header Metadata-Flavor is not allowed in a RegistryCredential');
    for (const [name, rule] of [['metadata', 'HostNotAllowed'], ['flavor', 'HeaderNotAllowed']] as const) {
      await noSecret(STRICT, name);
      assert.ok((await warnings(STRICT, name)).some((e) => e.reason === rule), `a Warning Event ${rule} about ${name}`);
      assert.equal(await refusals(controllers[0]!, STRICT, name, rule), 1);
    }
    // The metadata address with its host on the allowlist (the loose installation): the address check refuses it.
    await create(LOOSE, 'metadata-allowlisted', 'https://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token');
    const address = await ready(LOOSE, 'metadata-allowlisted', (x) => x.status === 'False');
    assert.equal(address.reason, 'AddressNotAllowed');
    assert.match(address.message, /the address of 169\.254\.169\.254 is not allowed by the network policy$/);
    await noSecret(LOOSE, 'metadata-allowlisted');
    assert.equal(await refusals(controllers[1]!, LOOSE, 'metadata-allowlisted', 'AddressNotAllowed'), 1);
    assert.equal(broker.requests.length, 0);
  });

  test('where the administrator allowed the address, the broker works; its error text never reaches status or events', async () => {
    await create(LOOSE, 'works', broker.url);
    await ready(LOOSE, 'works', (x) => x.status === 'True');
    const secret = await core.readNamespacedSecret({ namespace: LOOSE, name: 'works' });
    assert.equal(secret.type, 'kubernetes.io/dockerconfigjson');

    await create(LOOSE, 'failing', failing.url);
    const c = await ready(LOOSE, 'failing', (x) => x.status === 'False');
    assert.equal(c.message, `http GET ${failing.url}: HTTP 503 server_error`);
    const notes = await warnings(LOOSE, 'failing');
    const said = [c.message, ...notes.map((e) => e.note)].join('\n');
    assert.doesNotMatch(said, /on purpose/, 'the broker\'s own words stay out of what the tenant reads');
    // ... and are in the controller's log, for the administrator.
    await eventually('the broker\'s text in the log\'s remote field', async () => remoteLogged(controllers[1]!, LOOSE, 'failing').find((r) => /failing on purpose/.test(r)));
  });

  test('a huge answer is cut off at the size cap and a silent one at the mint deadline; the controller stays healthy', async () => {
    await create(LOOSE, 'huge', huge.url);
    await create(LOOSE, 'silent', silent.url);
    const big = await ready(LOOSE, 'huge', (x) => x.status === 'False');
    assert.match(big.message, /large|size|MiB/i);
    assert.ok(huge.oversizedBytesSent < 16 * 1024 * 1024, `the broker sent ${huge.oversizedBytesSent} bytes before the controller hung up`);
    const slow = await ready(LOOSE, 'silent', (x) => x.status === 'False', 45_000);
    assert.match(slow.message, /deadline|timed out/);
    for (const c of controllers) {
      const res = await fetch(`http://127.0.0.1:${await healthPort(c)}/healthz`);
      assert.equal(res.status, 200, await res.text());
    }
  });
});
