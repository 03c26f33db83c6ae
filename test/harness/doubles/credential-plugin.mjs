// A kubelet image credential provider plugin for the `exec` provider's tests. It speaks
// credentialprovider.kubelet.k8s.io/v1 as the kubelet's plugins do
// (https://kubernetes.io/docs/reference/config-api/kubelet-credentialprovider.v1/,
// https://kubernetes.io/docs/tasks/administer-cluster/kubelet-credential-provider/): it reads a
// CredentialProviderRequest from stdin, CHECKS it (apiVersion, kind, image, and the service-account
// token field when one is expected), and writes a CredentialProviderResponse on stdout.
//
// Plain JavaScript, not compiled: tests run it from the source tree (test/harness/doubles/) as
// `node <absolute path>/credential-plugin.mjs [args]`, the way regcred's bundle runs any plugin.
// Everything comes from the environment, which regcred builds from the spec's `env` only:
//   PLUGIN_MODE            ok (default) | fail | invalid-json | hang | echo-secret | wrong-kind | bad-auth | env-keys
//   PLUGIN_USERNAME        the username answered (default "plugin-user")
//   PLUGIN_PASSWORD        the password answered (default "plugin-password-<image host>")
//   PLUGIN_AUTH_KEYS       comma-separated auth keys (default: the image's host); "{host}" is replaced by it
//   PLUGIN_CACHE_DURATION  the cacheDuration answered (omitted when unset)
//   PLUGIN_CACHE_KEY_TYPE  the cacheKeyType answered (default "Registry")
//   PLUGIN_EXPECT_IMAGE    if set, the request's image must equal it
//   PLUGIN_EXPECT_ARGS     if set, the arguments (joined by spaces) must equal it
//   PLUGIN_EXPECT_TOKEN    "yes": the request must carry serviceAccountToken and serviceAccountAnnotations
//   PLUGIN_SECRET          a value the echo-secret mode prints to stderr (to prove regcred scrubs it)
//   PLUGIN_RECORD          a file: each request (and in hang mode the grandchild's pid) is appended as a JSON line
import { appendFileSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';

const env = process.env;
const mode = env.PLUGIN_MODE || 'ok';
const args = process.argv.slice(2);

function fail(message, code = 1) {
  process.stderr.write(`credential-plugin: ${message}\n`);
  process.exit(code);
}

let request;
try {
  request = JSON.parse(readFileSync(0, 'utf8'));
} catch {
  fail('stdin is not a JSON CredentialProviderRequest', 2);
}
if (env.PLUGIN_RECORD) appendFileSync(env.PLUGIN_RECORD, JSON.stringify({ request, args, envKeys: Object.keys(env).sort() }) + '\n');

if (request.apiVersion !== 'credentialprovider.kubelet.k8s.io/v1') fail(`unsupported apiVersion ${JSON.stringify(request.apiVersion)}`);
if (request.kind !== 'CredentialProviderRequest') fail(`unexpected kind ${JSON.stringify(request.kind)}`);
if (typeof request.image !== 'string' || request.image === '') fail('the request has no image');
if (env.PLUGIN_EXPECT_IMAGE && request.image !== env.PLUGIN_EXPECT_IMAGE) fail(`image ${request.image}, expected ${env.PLUGIN_EXPECT_IMAGE}`);
if (env.PLUGIN_EXPECT_ARGS !== undefined && args.join(' ') !== env.PLUGIN_EXPECT_ARGS) fail(`arguments "${args.join(' ')}", expected "${env.PLUGIN_EXPECT_ARGS}"`);
if (env.PLUGIN_EXPECT_TOKEN === 'yes') {
  if (typeof request.serviceAccountToken !== 'string' || request.serviceAccountToken.split('.').length !== 3) fail('the request has no serviceAccountToken (a JWT)');
  if (typeof request.serviceAccountAnnotations !== 'object' || request.serviceAccountAnnotations === null) fail('the request has no serviceAccountAnnotations');
} else if ('serviceAccountToken' in request) {
  fail('unexpected serviceAccountToken');
}

const host = request.image.split('/')[0];

switch (mode) {
  case 'fail':
    fail(`cannot get credentials for ${host}: AccessDenied: the role may not call ecr:GetAuthorizationToken`);
    break;
  case 'invalid-json':
    process.stdout.write('Credentials: {not json\n');
    process.exit(0);
    break;
  case 'echo-secret':
    process.stderr.write(`debug: using key ${env.PLUGIN_SECRET}\n`);
    fail(`login failed with key ${env.PLUGIN_SECRET}`);
    break;
  case 'hang': {
    // A grandchild in the same process group, holding stdout open: the timeout must kill both.
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (env.PLUGIN_RECORD) appendFileSync(env.PLUGIN_RECORD, JSON.stringify({ grandchild: child.pid, pid: process.pid }) + '\n');
    process.stderr.write('credential-plugin: waiting forever\n');
    setInterval(() => {}, 1000);
    break;
  }
  default: {
    const keys = (env.PLUGIN_AUTH_KEYS || '{host}').split(',').map((k) => k.trim().replace('{host}', host)).filter((k) => k !== '');
    const password = mode === 'env-keys' ? Object.keys(env).sort().join(',') : env.PLUGIN_PASSWORD || `plugin-password-${host}`;
    const response = {
      apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
      kind: mode === 'wrong-kind' ? 'CredentialProviderRequest' : 'CredentialProviderResponse',
      cacheKeyType: env.PLUGIN_CACHE_KEY_TYPE || 'Registry',
      ...(env.PLUGIN_CACHE_DURATION ? { cacheDuration: env.PLUGIN_CACHE_DURATION } : {}),
      auth: Object.fromEntries(keys.map((k) => [k, { username: env.PLUGIN_USERNAME || 'plugin-user', password: mode === 'bad-auth' ? 12345 : password }])),
    };
    process.stdout.write(JSON.stringify(response));
  }
}
