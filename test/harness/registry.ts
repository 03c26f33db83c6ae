// A real registry for end-to-end pulls: Debian's `docker-registry` (CNCF distribution 2.8) on
// loopback with htpasswd auth, and `skopeo` (Debian) as the client that proves a written
// .dockerconfigjson really authenticates. hack/install-deps.sh installs both.
// distribution re-reads the htpasswd file when its modification time changes
// (registry/auth/htpasswd/access.go), so rotating a password is rewriting the file.
// htpasswd entries must be bcrypt: made with Python's crypt module (libxcrypt), at the lowest cost
// (2^4 rounds), since the registry checks the hash on every request and these are test secrets.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { freePort } from './controlplane.js';
import { startHttpBroker, type HttpBroker } from './doubles/http-broker.js';
import { rememberLogin } from './leak-guard.js';

export interface Registry {
  /** 127.0.0.1:<port>: the auths key and the image reference host. */
  host: string;
  /** Replaces the users the registry accepts (user → password). */
  setUsers(users: Record<string, string>): void;
  stop(): Promise<void>;
}

function need(command: string, pkg: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`${command} is required for the registry tests: apt-get install ${pkg} (hack/install-deps.sh installs it)`);
  }
}

/** bcrypt hashes for htpasswd, all in one python3 run. */
function bcrypt(passwords: string[]): string[] {
  const out = execFileSync(
    'python3',
    ['-W', 'ignore', '-c', 'import crypt,sys,json\nfor p in json.load(sys.stdin): print(crypt.crypt(p, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))'],
    { input: JSON.stringify(passwords), encoding: 'utf8' },
  );
  return out.trim().split('\n');
}

export async function startRegistry(users: Record<string, string>): Promise<Registry> {
  need('docker-registry', 'docker-registry');
  need('skopeo', 'skopeo');
  const dir = mkdtempSync(join(tmpdir(), 'regcred-registry-'));
  const htpasswd = join(dir, 'htpasswd');
  let generation = 0;
  const writeUsers = (u: Record<string, string>) => {
    const names = Object.keys(u);
    for (const n of names) rememberLogin(n, u[n]!);
    const hashes = bcrypt(names.map((n) => u[n]!));
    const tmp = `${htpasswd}.tmp`;
    writeFileSync(tmp, names.map((n, i) => `${n}:${hashes[i]}\n`).join(''));
    // The registry compares modification times: make each version's distinct even within a second.
    const t = new Date(Date.now() + ++generation * 1000);
    utimesSync(tmp, t, t);
    renameSync(tmp, htpasswd);
  };
  writeUsers(users);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  writeFileSync(
    join(dir, 'config.yml'),
    [
      'version: 0.1',
      'log: {level: error, accesslog: {disabled: true}}',
      `storage: {filesystem: {rootdirectory: ${join(dir, 'data')}}}`,
      `http: {addr: "${host}", secret: ${randomBytes(8).toString('hex')}}`,
      `auth: {htpasswd: {realm: regcred-test, path: ${htpasswd}}}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const res = await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(500) });
      await res.arrayBuffer();
      if (res.status === 401) break;
    } catch {
      // not up yet
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`docker-registry did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    setUsers: writeUsers,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SkopeoResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function skopeo(args: string[]): Promise<SkopeoResult> {
  return new Promise((resolve) => {
    execFile('skopeo', args, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `skopeo inspect` of docker://<host>/<repo>:<tag> with a docker config file as the only credentials. */
export function inspectWithAuthfile(authfile: string, ref: string): Promise<SkopeoResult> {
  return skopeo(['inspect', '--tls-verify=false', '--authfile', authfile, `docker://${ref}`]);
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * An OCI image layout holding one tiny image (one layer with one file), built here byte by byte
 * (https://github.com/opencontainers/image-spec/blob/main/image-layout.md), and pushed with
 * `skopeo copy`, so the registry has something to pull.
 */
export async function pushTestImage(registry: Registry, repo: string, tag: string, user: string, password: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'regcred-oci-'));
  try {
    const blobs = join(dir, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    const blob = (data: Buffer) => {
      const digest = sha256(data);
      writeFileSync(join(blobs, digest), data);
      return { digest: `sha256:${digest}`, size: data.length };
    };
    const layerTar = tarWithOneFile('hello.txt', Buffer.from(`hello from ${repo}:${tag}\n`));
    const layer = blob(gzipSync(layerTar));
    const config = blob(
      Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(layerTar)}`] } })),
    );
    const manifest = blob(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
        }),
      ),
    );
    writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(
      join(dir, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } }],
      }),
    );
    const res = await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `${user}:${password}`, `oci:${dir}:${tag}`, `docker://${registry.host}/${repo}:${tag}`]);
    if (res.code !== 0) throw new Error(`skopeo copy failed: ${res.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A POSIX ustar archive with one regular file. */
function tarWithOneFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const put = (s: string, off: number, len: number) => header.write(s, off, len, 'ascii');
  put(name, 0, 100);
  put('0000644\0', 100, 8);
  put('0000000\0', 108, 8);
  put('0000000\0', 116, 8);
  put(`${content.length.toString(8).padStart(11, '0')}\0`, 124, 12);
  put('00000000000\0', 136, 12);
  put('        ', 148, 8); // checksum placeholder: spaces
  put('0', 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const b of header) sum += b;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  const body = Buffer.concat([content, Buffer.alloc((512 - (content.length % 512)) % 512)]);
  return Buffer.concat([header, body, Buffer.alloc(1024)]);
}

export interface RotatingCredentials {
  /** The broker the `http` provider asks: {"data": {"username", "password", "expires_at"}}. */
  broker: HttpBroker;
  /** Every robot user so far; the last is current, the one before it valid until `retireAt`. */
  robots: Array<{ user: string; password: string; issuedAt: number; retireAt?: number; removedAt?: number }>;
  /** Rotates now (also runs every `rotateMs`). */
  rotate(): void;
  stop(): Promise<void>;
}

/**
 * A token broker that rotates the registry's credential on a schedule: every `rotateMs` a new robot
 * user with a fresh password is added to the registry's htpasswd and becomes the broker's answer,
 * with the expiry it really has (the next rotation plus the overlap); the previous robot stays
 * valid `overlapMs` longer (the provider's own overlap window), then is removed, so its password
 * stops working. `keepUsers` (e.g. a pusher) are always kept.
 */
export async function startRotatingCredentials(
  registry: Registry,
  opts: { rotateMs: number; overlapMs: number; keepUsers?: Record<string, string> },
): Promise<RotatingCredentials> {
  const broker = await startHttpBroker({ path: '/token' });
  const robots: RotatingCredentials['robots'] = [];
  const timers = new Set<NodeJS.Timeout>();
  const apply = () => {
    const users: Record<string, string> = { ...opts.keepUsers };
    for (const r of robots) if (r.retireAt === undefined || r.retireAt > Date.now()) users[r.user] = r.password;
    registry.setUsers(users);
  };
  const rotate = () => {
    const now = Date.now();
    const previous = robots.at(-1);
    if (previous) previous.retireAt = now + opts.overlapMs;
    const next = { user: `robot-${robots.length}`, password: `pw-${randomBytes(16).toString('base64url')}`, issuedAt: now };
    robots.push(next);
    apply();
    broker.setCredential(next.user, next.password, new Date(now + opts.rotateMs + opts.overlapMs));
    if (previous) {
      const t = setTimeout(() => {
        timers.delete(t);
        apply();
        // The htpasswd without it is written (bcrypt runs in a child process, slow on a busy machine).
        previous.removedAt = Date.now();
      }, opts.overlapMs + 50);
      timers.add(t);
    }
  };
  rotate();
  const interval = setInterval(rotate, opts.rotateMs);
  return {
    broker,
    robots,
    rotate,
    async stop() {
      clearInterval(interval);
      for (const t of timers) clearTimeout(t);
      await broker.stop();
    },
  };
}
