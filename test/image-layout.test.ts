/**
 * What the image runs, without a Docker engine: `npm run build` writes dist/, a temporary folder is laid out the way
 * the Dockerfile's run stage lays out /app (its COPY lines, `npm ci --omit=dev`, `.data`), and the targets start
 * from there as the container starts them (`sh docker/entrypoint.sh` with FUNCTION_TARGET, plain node) on the real
 * PostgreSQL, Redis and RabbitMQ. Also: the naming rule the build derives each function's bundle from, and what the
 * bundles load at start (esbuild's metafile).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { builtinModules } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { Metafile } from 'esbuild';
import type { Socket } from 'socket.io-client';
import { eventFunctions, functions } from '../functions/registry.ts';
import { cliBundle, dashboardDir, distDir, functionBundle, functionSource, metafilePath, optionalNatives } from '../deploy/build.ts';
import { healthProbe } from '../deploy/renderers/container.ts';
import { services } from './support/services.ts';
import { freePort, freshSigningKeyPem, repoRoot, stopChildProcess } from './support/processes.ts';
import { relaySocket } from './support/relay-socket.ts';

const goodPassword = 'correct horse battery staple';

const root = mkdtempSync(join(tmpdir(), 'iotfn-image-'));
const ctx: {
  /** The build stage's /app: where `npm run build` writes the dist/ the run stage copies. */
  build: string;
  /** The run stage's /app. */
  app: string;
  metafile?: Metafile;
  started: Target[];
  sockets: Socket[];
  coldStarts: string[];
  redisPrefix: string;
  signingKey: string;
  accessToken?: string;
  jwks?: Target;
  login?: Target;
} = {
  build: join(root, 'build'),
  app: join(root, 'app'),
  started: [],
  sockets: [],
  coldStarts: [],
  redisPrefix: `test-image-${randomBytes(4).toString('hex')}:`,
  signingKey: freshSigningKeyPem(),
};

// --- the build ---------------------------------------------------------------------------------------------

const build = suite('npm run build');

build.before(() => {
  const result = spawnSync('npm', ['run', '--silent', 'build', '--', join(ctx.build, distDir)], { cwd: repoRoot, encoding: 'utf8', timeout: 180_000 });
  assert.is(result.status, 0, `${result.stdout}${result.stderr}`);
  ctx.metafile = JSON.parse(readFileSync(join(ctx.build, metafilePath), 'utf8')) as Metafile;
});

build("every registered function's module is functions/<domain>/<kebab-case name>.ts, its default export the registry's entry", async () => {
  for (const fn of functions) {
    const file = join(repoRoot, functionSource(fn));
    assert.ok(existsSync(file), `${fn.name}: ${functionSource(fn)} exists`);
    const module = (await import(pathToFileURL(file).href)) as { default?: unknown };
    assert.ok(module.default === fn, `${functionSource(fn)}'s default export is the registry's ${fn.name}`);
  }
});

build('one bundle per function and the CLI, each with its source map, the dashboard and the metafile', () => {
  for (const bundle of [...functions.map((fn) => functionBundle(fn.name)), cliBundle]) {
    assert.ok(existsSync(join(ctx.build, bundle)), `${bundle} is built`);
    assert.ok(existsSync(join(ctx.build, `${bundle}.map`)), `${bundle}.map is built`);
  }
  for (const file of ['index.html', 'app.js', 'styles.css', 'uPlot.min.css']) assert.ok(existsSync(join(ctx.build, dashboardDir, file)), `${dashboardDir}/${file}`);
  assert.ok(Object.keys(ctx.metafile!.outputs).some((file) => /\/chunks\/.+\.js$/.test(file)), 'shared code is split into chunks');
});

/** The outputs and packages a bundle loads before its first line runs: its static imports, chunk by chunk. */
function staticLoad(bundle: string): { outputs: string[]; inputs: string[]; externals: string[] } {
  const outputs = ctx.metafile!.outputs;
  const key = relative(repoRoot, join(ctx.build, bundle));
  const seen = new Set<string>();
  const pending = [key];
  const externals = new Set<string>();
  while (pending.length > 0) {
    const output = pending.pop()!;
    if (seen.has(output)) continue;
    seen.add(output);
    for (const imported of outputs[output]!.imports) {
      if (imported.kind === 'dynamic-import') continue;
      if (imported.external) externals.add(imported.path);
      else pending.push(imported.path);
    }
  }
  const inputs = [...seen].flatMap((output) => Object.keys(outputs[output]!.inputs));
  return { outputs: [...seen], inputs, externals: [...externals] };
}

build('the me and jwks bundles load no PGlite, aedes, mongodb or argon2 at start (only a dynamic import may)', () => {
  const heavy = /(^|\/)(@electric-sql\/pglite|aedes|mongodb|argon2)(\/|$)/;
  for (const name of ['me', 'jwks']) {
    const { inputs, externals } = staticLoad(functionBundle(name));
    assert.equal(inputs.filter((input) => heavy.test(input)), [], `${name} bundles none of them`);
    assert.equal(externals.filter((external) => heavy.test(external)), [], `${name} imports none of them from node_modules`);
  }
});

build('an HTTP function loads no express, body-parser, iconv-lite, mime-db or zod locale at start; an event function loads them on demand', () => {
  // The server half of functions-framework (framework-module.ts): only an event function's process imports it.
  const serverHalf = /node_modules\/(express|body-parser|iconv-lite|mime-db|router)\//;
  const otherLocales = /node_modules\/zod\/v4\/locales\/(?!en\.js|index\.js)/;
  for (const name of ['me', 'jwks', 'login', 'searchDevices']) {
    const { inputs } = staticLoad(functionBundle(name));
    assert.ok(inputs.some((input) => input.includes('functions-framework/build/src/function_registry.js')), `${name} bundles functions-framework's registry`);
    assert.equal(inputs.filter((input) => serverHalf.test(input)), [], `${name} loads none of the express server at start`);
    assert.equal(inputs.filter((input) => otherLocales.test(input)), [], `${name} loads zod's English messages only`);
  }
  const event = eventFunctions[0]!;
  const { inputs: eventStart } = staticLoad(functionBundle(event.name));
  assert.equal(eventStart.filter((input) => serverHalf.test(input)), [], `${event.name} loads the express server only when it starts it`);
  const everything = Object.values(ctx.metafile!.outputs).flatMap((output) => Object.keys(output.inputs));
  assert.ok(everything.some((input) => /node_modules\/express\//.test(input)), 'express is bundled, in a chunk of its own');
});

build('every package a bundle leaves to node_modules is a production dependency (but esbuild and the optional natives)', () => {
  const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const packages = new Set<string>();
  for (const output of Object.values(ctx.metafile!.outputs)) {
    for (const imported of output.imports) {
      // Relative: the deploy commands, left out of the CLI bundle (deploy/build.ts).
      if (!imported.external || imported.path.startsWith('node:') || imported.path.startsWith('.')) continue;
      const name = imported.path.startsWith('@') ? imported.path.split('/').slice(0, 2).join('/') : imported.path.split('/')[0]!;
      if (!builtinModules.includes(name)) packages.add(name);
    }
  }
  assert.ok(packages.has('argon2'), [...packages].join(', '));
  // Bundled since its internals are reached through static requires (deploy/build.ts, bundledFrameworkModule).
  assert.not.ok(packages.has('@google-cloud/functions-framework'), 'functions-framework is bundled, not loaded from node_modules');
  const missing = [...packages].filter((name) => !(name in manifest.dependencies) && name !== 'esbuild' && !optionalNatives.includes(name));
  assert.equal(missing, [], `loaded from node_modules but left out by npm ci --omit=dev: ${missing.join(', ')}`);
});

build.run();

// --- the run stage, laid out in a folder ---------------------------------------------------------------------

const image = suite("the image's run stage, laid out in a folder and started with plain node");

/** The run stage of the Dockerfile: its COPY lines (from the context or the build stage) and its npm ci. */
function layOutRunStage(): void {
  const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
  const run = dockerfile.split(/^FROM /m).at(-1)!;
  mkdirSync(ctx.app, { recursive: true });
  for (const [, from, args] of run.matchAll(/^COPY (?:--from=(\w+) )?(.+)$/gm)) {
    const parts = args!.split(' ');
    const destination = join(ctx.app, parts.pop()!);
    for (const source of parts) {
      const path = from === 'build' ? join(ctx.build, relative('/app', source)) : join(repoRoot, source);
      const target = parts.length > 1 || destination.endsWith('/') ? join(destination, source.split('/').at(-1)!) : destination;
      mkdirSync(dirname(target), { recursive: true });
      cpSync(path, target, { recursive: true });
    }
    // The dependencies are installed right after the manifest is copied, as the RUN line that follows does.
    if (args!.startsWith('package.json package-lock.json')) {
      assert.match(run, /^RUN npm ci --omit=dev --no-audit --no-fund/m);
      // --prefer-offline reuses this machine's npm cache; the cache clean of the RUN line is left out, since this
      // cache is shared.
      const installed = spawnSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: ctx.app, encoding: 'utf8', timeout: 300_000 });
      assert.is(installed.status, 0, installed.stderr);
    }
  }
  assert.match(run, /^RUN mkdir -p \.data/m);
  mkdirSync(join(ctx.app, '.data'), { recursive: true });
}

image.before(() => {
  layOutRunStage();
});

/** Every file of a folder, relative to it. */
const filesIn = (dir: string) => readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((file) => statSync(join(dir, file)).isFile());

image('the folder holds dist/, the entrypoint and production packages: no TypeScript source, no tsx, typescript or esbuild', () => {
  const files = filesIn(ctx.app);
  // Packages may ship TypeScript of their own (zod ships its sources, many ship .d.ts): only the project's counts.
  const ownFiles = files.filter((file) => !file.startsWith('node_modules/'));
  assert.equal(ownFiles.filter((file) => /\.[mc]?ts$/.test(file)), [], 'no .ts file of the project');
  assert.ok(ownFiles.includes(cliBundle) && ownFiles.includes(functionBundle('jwks')) && ownFiles.includes('docker/entrypoint.sh'));
  assert.equal(
    ownFiles.map((file) => file.split('/')[0]).filter((top, i, all) => all.indexOf(top) === i).sort(),
    ['dist', 'docker', 'package-lock.json', 'package.json'],
  );
  for (const tool of ['tsx', 'typescript', 'esbuild', '@esbuild', 'uvu']) assert.not.ok(existsSync(join(ctx.app, 'node_modules', tool)), `${tool} is not installed`);
  assert.ok(existsSync(join(ctx.app, 'node_modules/swagger-ui-dist/swagger-ui.css')), 'the API docs page is served from swagger-ui-dist');
});

interface Target {
  child: ChildProcess;
  port: number;
  metricsPort: number;
  spawnedAt: number;
  output(): string;
  stop(): Promise<void>;
}

/** A container of the image, as far as a folder can be one: `sh docker/entrypoint.sh` in /app with its environment. */
async function startTarget(target: string, extra: Record<string, string> = {}): Promise<Target> {
  const port = await freePort();
  const metricsPort = await freePort();
  const spawnedAt = performance.now();
  // PATH and HOME only of this process's environment: what the container's processes see is given here.
  const child = spawn('sh', ['docker/entrypoint.sh'], {
    cwd: ctx.app,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? root,
      NODE_ENV: 'production',
      FUNCTION_TARGET: target,
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      DATABASE_URL: services.databaseUrl,
      REDIS_URL: services.redisUrl,
      AMQP_URL: services.amqpUrl,
      REDIS_KEY_PREFIX: ctx.redisPrefix,
      JWT_PRIVATE_KEY: ctx.signingKey,
      ...extra,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  const started: Target = {
    child,
    port,
    metricsPort,
    spawnedAt,
    output: () => text,
    stop: () => stopChildProcess(child),
  };
  ctx.started.push(started);
  return started;
}

/** Polls a path of a target until it answers 200: the spawn → first 200 a scale-from-zero request meets. */
async function firstOk(target: Target, path: string, label: string, timeoutMs = 30_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (target.child.exitCode !== null) throw new Error(`${label} exited with ${target.child.exitCode}: ${target.output()}`);
    const response = await fetch(`http://127.0.0.1:${target.port}${path}`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
    if (response?.status === 200) {
      const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${target.child.pid}/status`, 'utf8'))?.[1];
      ctx.coldStarts.push(`${label}: spawn → first 200 on ${path} in ${Math.round(performance.now() - target.spawnedAt)} ms, RSS ${Math.round(Number(rss) / 1024)} MB`);
      return response;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`${label}: ${path} did not answer 200 within ${timeoutMs} ms: ${target.output()}`);
}

const probe = (port: number) => spawnSync(healthProbe[0]!, healthProbe.slice(1), { cwd: ctx.app, env: { PATH: process.env.PATH, PORT: String(port) }, timeout: 10_000 }).status;

image('FUNCTION_TARGET=jwks: its bundle answers its route with the key, and the HEALTHCHECK probe passes', async () => {
  const jwks = await startTarget('jwks');
  ctx.jwks = jwks;
  const response = await firstOk(jwks, '/auth/jwks.json', 'jwks');
  assert.is(((await response.json()) as { keys: unknown[] }).keys.length, 1);
  assert.is(probe(jwks.port), 0);
  assert.match(jwks.child.spawnargs.join(' '), /entrypoint\.sh/);
});

image('jwks answers its first request without PostgreSQL or Redis, then a wrong DATABASE_URL stops it with one line naming it', async () => {
  // Both unreachable: jwks touches neither on a request, so its first answer cannot have waited for them.
  const jwks = await startTarget('jwks', { DATABASE_URL: 'postgres://iotfn:secret@127.0.0.1:1/test', REDIS_URL: 'redis://127.0.0.1:1/0' });
  const response = await firstOk(jwks, '/auth/jwks.json', 'jwks, no servers reachable');
  assert.is(((await response.json()) as { keys: unknown[] }).keys.length, 1);
  const code = await new Promise<number | null>((resolve) => (jwks.child.exitCode !== null ? resolve(jwks.child.exitCode) : jwks.child.once('exit', resolve)));
  assert.is(code, 1, jwks.output());
  assert.match(jwks.output(), /^(?:ConfigError: )?(DATABASE_URL: cannot use postgres:\/\/iotfn:\*\*\*@127\.0\.0\.1:1\/test|REDIS_URL: cannot use redis:\/\/127\.0\.0\.1:1\/0): nothing listens there/m);
  assert.not.match(jwks.output(), /secret/);
});

image('register and login (argon2, from node_modules) then me answers 200 to the access token, each its own bundle', async () => {
  const [register, login, me] = await Promise.all([startTarget('register'), startTarget('login'), startTarget('me')]);
  ctx.login = login;
  await Promise.all([firstOk(register, '/healthz', 'register'), firstOk(login, '/healthz', 'login'), firstOk(me, '/healthz', 'me')]);
  const email = `image-${randomBytes(4).toString('hex')}@example.com`;
  const post = (target: Target, path: string, body: unknown) =>
    fetch(`http://127.0.0.1:${target.port}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  const registered = await post(register, '/auth/register', { email, password: goodPassword });
  assert.is(registered.status, 201, await registered.clone().text());
  const loggedIn = await post(login, '/auth/login', { email, password: goodPassword });
  assert.is(loggedIn.status, 200, await loggedIn.clone().text());
  const { accessToken } = (await loggedIn.json()) as { accessToken: string };
  const answer = await fetch(`http://127.0.0.1:${me.port}/auth/me`, { headers: { authorization: `Bearer ${accessToken}` }, signal: AbortSignal.timeout(10_000) });
  assert.is(answer.status, 200, await answer.clone().text());
  assert.is(((await answer.json()) as { email: string }).email, email);
  const refused = await fetch(`http://127.0.0.1:${me.port}/auth/me`, { signal: AbortSignal.timeout(10_000) });
  assert.is(refused.status, 401);
  ctx.accessToken = accessToken;
});

image("an HTTP function's own server refuses what the gateway refuses, with problem+json", async () => {
  const { jwks, login } = ctx;
  assert.ok(jwks && login, 'the jwks and login targets started above');
  const url = `http://127.0.0.1:${jwks.port}`;
  const problem = async (response: Response, status: number, type: RegExp) => {
    assert.is(response.status, status, await response.clone().text());
    assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.match(((await response.json()) as { type: string }).type, type);
  };
  await problem(await fetch(`${url}/auth/jwks.json`, { method: 'DELETE', signal: AbortSignal.timeout(5000) }), 405, /method-not-allowed/);
  await problem(await fetch(`${url}/elsewhere`, { signal: AbortSignal.timeout(5000) }), 404, /not-found/);
  await problem(await fetch(`${url}/auth/jwks.json?${'q'.repeat(9 * 1024)}`, { signal: AbortSignal.timeout(5000) }), 414, /uri-too-long/);
  const big = 'x'.repeat(2 * 1024 * 1024);
  await problem(await fetch(`http://127.0.0.1:${login.port}/auth/login`, { method: 'POST', body: big, headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(5000) }), 413, /payload-too-large/);
  // A head Node's parser refuses (a space in a header name) is answered before any handler runs.
  const raw = await new Promise<string>((resolve, reject) => {
    const socket = connect(jwks.port, '127.0.0.1', () => socket.end('GET /auth/jwks.json HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n'));
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
  assert.match(raw, /^HTTP\/1\.1 400 /);
  assert.match(raw, /application\/problem\+json/);
});

image('a cold me: spawn → first 200 on /auth/me with a valid token', async () => {
  const me = await startTarget('me');
  const deadline = Date.now() + 30_000;
  let status = 0;
  while (Date.now() < deadline && status !== 200) {
    if (me.child.exitCode !== null) throw new Error(me.output());
    status = (await fetch(`http://127.0.0.1:${me.port}/auth/me`, { headers: { authorization: `Bearer ${ctx.accessToken}` }, signal: AbortSignal.timeout(2000) }).catch(() => undefined))?.status ?? 0;
    if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.is(status, 200);
  ctx.coldStarts.push(`me: spawn → first 200 on /auth/me (with a token) in ${Math.round(performance.now() - me.spawnedAt)} ms`);
});

image('FUNCTION_TARGET=<event function>: functions-framework serves it, probes on PORT, metrics on METRICS_PORT only', async () => {
  const fn = eventFunctions[0]!;
  const target = await startTarget(fn.name);
  await firstOk(target, '/healthz', fn.name);
  assert.is(probe(target.port), 0);
  const metrics = await fetch(`http://127.0.0.1:${target.metricsPort}/metrics`, { signal: AbortSignal.timeout(5000) });
  assert.is(metrics.status, 200);
  const exposed = await fetch(`http://127.0.0.1:${target.port}/metrics`, { signal: AbortSignal.timeout(5000) });
  assert.is(exposed.status, 404);
});

image('FUNCTION_TARGET=relay: ready, and a Socket.IO client signs in with the access token', async () => {
  const relay = await startTarget('relay');
  await firstOk(relay, '/readyz', 'relay');
  assert.match(relay.output(), /realtime relay/);
  const socket = await relaySocket(`http://127.0.0.1:${relay.port}`, ctx.accessToken!, ctx.sockets);
  assert.ok(socket.connected);
});

image('FUNCTION_TARGET=gateway: the prebuilt dashboard, the API docs from swagger-ui-dist, and a function', async () => {
  const gateway = await startTarget('gateway', { MQTT_LISTEN_PORT: '0', MQTT_URL: '' });
  await firstOk(gateway, '/healthz', 'gateway');
  const get = (path: string) => fetch(`http://127.0.0.1:${gateway.port}${path}`, { signal: AbortSignal.timeout(10_000) });
  const page = await get('/');
  assert.is(page.status, 200);
  assert.match(await page.text(), /<html/i);
  assert.is((await get('/app/app.js')).status, 200);
  assert.is((await get('/docs/swagger-ui.css')).status, 200);
  assert.is((await get('/auth/jwks.json')).status, 200);
});

image('an unknown FUNCTION_TARGET stops the container at once, naming the valid targets', async () => {
  const target = await startTarget('logn');
  const code = await new Promise<number | null>((resolve) => (target.child.exitCode !== null ? resolve(target.child.exitCode) : target.child.once('exit', resolve)));
  assert.is(code, 64);
  assert.match(target.output(), /FUNCTION_TARGET: expected one of register, login,/);
});

image('sizes: dist/ per function (its bundle and the chunks it loads at start) and the production node_modules', () => {
  const kb = (bytes: number) => `${Math.round(bytes / 1024)} KB`;
  const rows = functions.map((fn) => {
    const { outputs } = staticLoad(functionBundle(fn.name));
    const bytes = outputs.reduce((sum, output) => sum + ctx.metafile!.outputs[output]!.bytes, 0);
    return `  ${fn.name.padEnd(24)} ${kb(bytes).padStart(8)} in ${outputs.length} files`;
  });
  const du = (path: string) => Number(spawnSync('du', ['-sk', path], { encoding: 'utf8' }).stdout.split('\t')[0]) * 1024;
  process.stdout.write(
    [
      '',
      `dist/: ${kb(du(join(ctx.app, distDir)))} (dashboard ${kb(du(join(ctx.app, dashboardDir)))}, chunks ${kb(du(join(ctx.app, distDir, 'chunks')))}), production node_modules: ${kb(du(join(ctx.app, 'node_modules')))}`,
      'loaded at start, per function (source maps not counted):',
      ...rows,
      'cold starts from the folder:',
      ...ctx.coldStarts.map((line) => `  ${line}`),
      '',
    ].join('\n'),
  );
  assert.ok(rows.length === functions.length);
});

image.after(async () => {
  ctx.sockets.forEach((socket) => socket.close());
  await Promise.all(ctx.started.map((target) => target.stop()));
  rmSync(root, { recursive: true, force: true });
});

image.run();
