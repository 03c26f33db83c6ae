#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { createLogger } from './log.js';
import { VERSION } from './version.js';
import { runValidate } from './commands/validate.js';
import { runSync } from './commands/sync.js';
import { runGet } from './commands/get.js';
import { runKubeletConfig } from './commands/kubelet-config.js';
import { runController } from './commands/controller.js';
import { EXIT_INVALID, processOutput, type GlobalOptions } from './commands/common.js';
import { DEFAULT_CONTROLLER_NAMESPACE } from './kube/sources.js';
import { DEFAULT_KUBE_BURST, DEFAULT_KUBE_QPS } from './kube/api/rate-limit.js';
import { parseDuration } from './config/common.js';
import { DEFAULT_TENANT_MIN_REFRESH_MS, defaultTenantPolicy, type TenantPolicy } from './config/tenant-policy.js';
import { validateNetworkPolicy } from './providers/internal/address-policy.js';
import { errorMessage } from './errors.js';
import { providerRegistry } from './providers/registry.js';
import { silenceBundledLibraryDeprecations } from './node-warnings.js';

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CommanderError(EXIT_INVALID, 'regcred.invalidArgument', `must be a positive integer: ${value}`);
  return n;
}

/** --kube-qps: any number; 0 or negative turns the client-side rate limit off. */
function qps(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new CommanderError(EXIT_INVALID, 'regcred.invalidArgument', `must be a number (0 or less: no limit): ${value}`);
  return n;
}

/** The client-side rate limit's flags: the same on `controller` and `sync`. */
function rateLimitOptions(cmd: Command): Command {
  return cmd
    .option('--kube-qps <n>', 'API requests per second after the burst (client-side limit; 0 or less: none)', qps, DEFAULT_KUBE_QPS)
    .option('--kube-burst <n>', 'API requests that may go at once before --kube-qps applies', positiveInt, DEFAULT_KUBE_BURST);
}

function durationMs(value: string): number {
  try {
    const ms = parseDuration(value);
    if (ms < 100) throw new Error('too short');
    return ms;
  } catch {
    throw new CommanderError(EXIT_INVALID, 'regcred.invalidArgument', `must be a duration of at least 100ms such as "30s" or "2m": ${value}`);
  }
}

interface TenantPolicyFlags {
  tenantAllowAmbientCredentials: boolean;
  tenantAllowedHost?: string[];
  tenantAllowedCidr?: string[];
  deniedCidr?: string[];
  tenantMinRefreshInterval: number;
}

/** The tenant policy's flags: the same on `controller` and `validate`, so a team checks a file as the controller will. */
function tenantPolicyOptions(cmd: Command): Command {
  return cmd
    .option('--tenant-allow-ambient-credentials', "let RegistryCredentials use the controller's own cloud identity (ECR/ECR Public default chain, GCP metadata server, Azure managed identity)", false)
    .option('--tenant-allowed-host <pattern>', 'a host RegistryCredentials may reach, besides the providers\' public endpoints: "registry.example.com", "*.example.com", "broker.example.com:8443" (repeatable)', collect)
    .option('--tenant-allowed-cidr <cidr>', 'addresses RegistryCredentials may connect to although refused by default (private ranges, loopback, link-local): e.g. an in-cluster broker\'s (repeatable)', collect)
    .option('--denied-cidr <cidr>', 'addresses no provider call may connect to, for either kind: e.g. the cluster\'s service and pod ranges (repeatable)', collect)
    .option('--tenant-min-refresh-interval <duration>', 'no RegistryCredential is refreshed more often than this, whatever its expiry', durationMs, DEFAULT_TENANT_MIN_REFRESH_MS);
}

function tenantPolicyFromFlags(flags: TenantPolicyFlags): TenantPolicy {
  const policy = defaultTenantPolicy(providerRegistry, {
    allowAmbientCredentials: flags.tenantAllowAmbientCredentials,
    extraHosts: flags.tenantAllowedHost ?? [],
    deniedCidrs: flags.deniedCidr ?? [],
    allowedCidrs: flags.tenantAllowedCidr ?? [],
    minRefreshIntervalMs: flags.tenantMinRefreshInterval,
  });
  try {
    validateNetworkPolicy(policy.network);
  } catch (err) {
    throw new CommanderError(EXIT_INVALID, 'regcred.invalidArgument', errorMessage(err));
  }
  return policy;
}

function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

function loggerFor(opts: GlobalOptions) {
  return createLogger({ level: opts.logLevel as 'info', format: opts.logFormat });
}

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('regcred')
    .description('Keeps Kubernetes image pull secrets filled with fresh, short-lived registry credentials')
    .version(VERSION, '--version', 'print the version')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--context <name>', 'kubeconfig context to use')
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'))
    .addOption(new Option('--log-format <format>', 'log format').choices(['json', 'text']).default('text'))
    .showHelpAfterError()
    .exitOverride();

  const sourceOptions = (cmd: Command) =>
    cmd
      .option('-n, --namespace <namespace>', "regcred's own namespace: where ClusterRegistryCredential source Secrets live", DEFAULT_CONTROLLER_NAMESPACE)
      .option('--allow-cross-namespace-refs', 'let ClusterRegistryCredential source Secrets live in any namespace', false);

  program
    .command('version')
    .description('print the version')
    .action(() => {
      process.stdout.write(`regcred ${VERSION}\n`);
      setExit(0);
    });

  tenantPolicyOptions(
    program
      .command('validate')
      .description('check credential files against the schema and, for RegistryCredentials, the tenant policy (flags as the controller\'s); prints each error with its path')
      .requiredOption('-f, --filename <file>', 'a YAML file of credentials ("-" for stdin); repeatable', collect),
  ).action(async (opts: { filename: string[] } & TenantPolicyFlags) => {
    setExit(await runValidate(opts.filename, processOutput, tenantPolicyFromFlags(opts)));
  });

  rateLimitOptions(
    sourceOptions(
      program
        .command('sync')
        .description('one pass over the credentials in the files: mint each once, write its pull Secrets, patch service accounts')
        .requiredOption('-f, --filename <file>', 'a YAML file of credentials ("-" for stdin); repeatable', collect)
        .option('--concurrency <n>', 'namespaces written in parallel', positiveInt, 16),
    ),
  ).action(async (opts: { filename: string[]; concurrency: number; namespace: string; allowCrossNamespaceRefs: boolean; kubeQps: number; kubeBurst: number }, cmd: Command) => {
    const g = globalOptions(cmd);
    setExit(await runSync({ ...g, ...opts, files: opts.filename }, processOutput, loggerFor(g)));
  });

  sourceOptions(
    program
      .command('get')
      .description('mint the credentials in the files and print them; writes nothing to the cluster')
      .requiredOption('-f, --filename <file>', 'a YAML file of credentials ("-" for stdin); repeatable', collect)
      .option('--name <name>', 'only the credential with this metadata.name')
      .addOption(new Option('-o, --output <format>', 'output format').choices(['dockerconfigjson', 'json']).default('json')),
  ).action(async (opts: { filename: string[]; name?: string; output: 'json' | 'dockerconfigjson'; namespace: string; allowCrossNamespaceRefs: boolean }, cmd: Command) => {
    const g = globalOptions(cmd);
    setExit(await runGet({ ...g, ...opts, files: opts.filename }, processOutput, loggerFor(g), (t) => process.stdout.write(t)));
  });

  program
    .command('kubelet-config')
    .description('print the kubelet CredentialProviderConfig for the credentials node plugins can serve (exec, ecr, gcp, acr): secretless pulls, docs/secretless.md')
    .requiredOption('-f, --filename <file>', 'a YAML file of credentials ("-" for stdin); repeatable', collect)
    .action(async (opts: { filename: string[] }) => {
      setExit(await runKubeletConfig({ files: opts.filename }, processOutput, (t) => process.stdout.write(t)));
    });

  const controller = program
    .command('controller')
    .description('run the controller: watch credentials and namespaces, refresh from expiry, keep Secrets and status current')
    .option('-n, --namespace <namespace>', 'the controller\'s own namespace (ClusterRegistryCredential source Secrets, the leader Lease)', process.env['POD_NAMESPACE'] ?? DEFAULT_CONTROLLER_NAMESPACE)
    .option('--allow-cross-namespace-refs', 'let ClusterRegistryCredential source Secrets live in any namespace', false)
    .option('--metrics-bind-address <addr>', 'where /metrics is served ("0" disables)', ':8080')
    .option('--health-probe-bind-address <addr>', 'where /healthz and /readyz are served ("0" disables)', ':8081')
    .option('--leader-elect', 'elect a leader with a Lease, so several replicas can run', false)
    .option('--leader-election-id <name>', 'the Lease name', 'regcred-controller')
    .option('--min-refresh-delay <duration>', 'never refresh a credential sooner than this after its last mint (no hot loop on short-lived or expired credentials); lower it only for credentials that live less than a few minutes', durationMs, 30_000)
    .option('--watch-namespace <namespace>', 'namespaced mode: only RegistryCredentials in this namespace, nothing cluster-wide (repeatable; for Role-only RBAC)', collect)
    .option('--chainguard-compat', 'also fill dockerconfigjson Secrets annotated pull-secret-updater.chainguard.dev/identity=<UID> (as chainguard-dev/pull-secret-updater did)', false)
    .option('--chainguard-issuer <url>', 'the Chainguard issuer for --chainguard-compat', 'https://issuer.enforce.dev')
    .option('--chainguard-service-account <[namespace/]name>', 'the service account whose token --chainguard-compat exchanges (default: the one regcred runs as, else "regcred")')
    .option('--chainguard-compat-identities <uid>', 'a Chainguard identity --chainguard-compat may mint tokens for (repeatable or comma-separated; required with it; "*" for any)', collect)
    .option('--chainguard-compat-namespaces <namespace>', 'only fill annotated Secrets in this namespace (repeatable or comma-separated; default every namespace)', collect)
    .option('--webhook-bind-address <addr>', 'serve the mutating admission webhook (HTTPS) here, e.g. ":9443"; "0" disables', '0')
    .option('--webhook-cert-dir <dir>', 'serve tls.crt/tls.key from this directory (e.g. cert-manager\'s Secret, mounted), re-read on change; default: regcred makes and renews its own')
    .option('--webhook-secret-name <name>', 'the Secret (in --namespace) where regcred keeps its own webhook CA and certificate', 'regcred-webhook-tls')
    .option('--webhook-configuration-name <name>', 'the MutatingWebhookConfiguration that gets the CA bundle', 'regcred')
    .option('--webhook-service-name <name>', 'the webhook Service, whose DNS names go into the certificate', 'regcred-webhook')
    .option('--webhook-host <host>', 'a DNS name or IP for the certificate instead of the Service\'s (repeatable)', collect)
    .option('--webhook-cert-validity <duration>', 'lifetime of the serving certificate regcred issues (renewed at 2/3)', durationMs, 365 * 24 * 3600_000)
    .option('--webhook-ca-validity <duration>', 'lifetime of the CA regcred creates (renewed at 2/3, the old one trusted until it expires)', durationMs, 10 * 365 * 24 * 3600_000)
    .option('--webhook-max-in-flight <n>', 'admission requests the webhook handles at once; more are answered 429 (the API server then applies the failurePolicy)', positiveInt, 16)
    .option('--api-audience <audience>', 'an audience the API server accepts (its --api-audiences), refused for RegistryCredentials\' service-account tokens; the issuer and in-cluster names are always refused (repeatable)', collect)
    .option('--allowed-cidr <cidr>', 'addresses ClusterRegistryCredentials may connect to although always refused otherwise (loopback, link-local, metadata): e.g. a broker on the node (repeatable)', collect)
    .option('--mint-timeout <duration>', 'deadline of each mint; a provider call running well past it makes /healthz fail', durationMs, 60_000);
  tenantPolicyOptions(rateLimitOptions(controller)).action(async (
      opts: {
        namespace: string;
        allowCrossNamespaceRefs: boolean;
        metricsBindAddress: string;
        healthProbeBindAddress: string;
        leaderElect: boolean;
        leaderElectionId: string;
        chainguardCompat: boolean;
        chainguardIssuer: string;
        chainguardServiceAccount?: string;
        chainguardCompatIdentities?: string[];
        chainguardCompatNamespaces?: string[];
        watchNamespace?: string[];
        minRefreshDelay: number;
        webhookBindAddress: string;
        webhookCertDir?: string;
        webhookSecretName: string;
        webhookConfigurationName: string;
        webhookServiceName: string;
        webhookHost?: string[];
        webhookCertValidity: number;
        webhookCaValidity: number;
        webhookMaxInFlight: number;
        apiAudience?: string[];
        allowedCidr?: string[];
        mintTimeout: number;
        kubeQps: number;
        kubeBurst: number;
      } & TenantPolicyFlags,
      cmd: Command,
    ) => {
      const g = globalOptions(cmd);
      const tenantPolicy = tenantPolicyFromFlags(opts);
      const clusterNetwork = { deniedCidrs: opts.deniedCidr ?? [], allowedCidrs: opts.allowedCidr ?? [] };
      const code = await runController({ ...g, ...opts, tenantPolicy, clusterNetwork }, processOutput, loggerFor(g));
      setExit(code);
      // Stopped: work abandoned at the end of the shutdown grace (a provider call that ignores its
      // abort, a write still retrying) must not keep the process alive.
      setTimeout(() => process.exit(code), 500).unref();
    });

  return program;
}

async function main(): Promise<void> {
  silenceBundledLibraryDeprecations();
  let code = 0;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; usage errors are invalid input.
      code = err.exitCode === 0 ? 0 : EXIT_INVALID;
    } else {
      // One line, scrubbed (processOutput scrubs), whatever the error holds.
      const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 500);
      processOutput.err(`error: ${message}`);
      code = 1;
    }
  }
  process.exitCode = code;
}

await main();
