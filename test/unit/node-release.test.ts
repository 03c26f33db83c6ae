// Every test runs on the Node.js release regcred ships with (hack/node-release.env): the Makefile
// puts that release first on PATH, so this test runner, the processes the tests start by
// process.execPath and those that look `node` up on PATH (scripts, wrappers) all run on it, as do
// the container image (the Dockerfile's NODE_VERSION) and what package.json's engines ask for.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseDockerfile } from '../harness/dockerfile.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string) => readFileSync(`${ROOT}${path}`, 'utf8');
const PINNED = /^NODE_VERSION=(\d+\.\d+\.\d+)$/m.exec(read('hack/node-release.env'))?.[1];

test('the test runner is the pinned Node.js release (run the tests through make, or with its bin/ first on PATH)', () => {
  assert.ok(PINNED, 'hack/node-release.env names NODE_VERSION');
  assert.equal(process.versions.node, PINNED);
});

test('`node` on PATH, which scripts and wrappers start, is the pinned release too', () => {
  const r = spawnSync('node', ['-p', 'process.versions.node'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), PINNED);
});

test('the image and package.json ask for the same release', () => {
  assert.equal(parseDockerfile(read('Dockerfile')).globalArgs['NODE_VERSION'], PINNED, "the Dockerfile's ARG NODE_VERSION");
  const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
  assert.equal(engines, `>=${PINNED!.split('.')[0]}`, 'engines.node: the pinned major release or newer');
});
