/**
 * `npm run bench`: throughput and start-up figures for the platform on this machine, one JSON line each on
 * stdout (progress on stderr), e.g.
 *
 *   {"bench":"signing.me.gateway","value":2523.6,"unit":"req/s","connections":50,...,"p99":83,"ratioToBaseline":0.1044}
 *
 * Every server runs in its own process against the real PostgreSQL and Redis on loopback, so the load
 * generator (this process) never shares an event loop with what it measures. The bare node:http figure
 * comes first and every later req/s figure carries its ratio to it: absolute numbers move from machine to
 * machine, the ratio much less. Each load run lasts BENCH_DURATION_S seconds (default 8) after a 1 s
 * warm-up, and every child is stopped at the end, also when a step fails.
 *
 * The run starts with `npm run build`: functions and processes run as the image runs them, the rendered
 * docker/entrypoint.sh starting their bundles from dist/ with plain node. Cold starts (spawn → first 2xx of
 * the function's own route, median of 5, resident memory after that answer) stand beside a bare node:http
 * server's spawn → first answer, and beside the development path (tsx, sources) that the image ran before.
 *
 * The devices figures (devices.ts, telemetry.ts) add RabbitMQ and Mosquitto: bulk creation and search over
 * 100,000 devices, and telemetry over HTTP and MQTT with proof that every accepted message reached the broker
 * (`lost` must be 0; a figure with lost messages counts as failed). All children of one run share one Redis
 * key prefix, whose keys are deleted at the end.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, logsSince, spawnChild, startServer, stopAll, stopChild, waitForHttp, type Child } from './lib/children.ts';
import { measureThroughput, type LoadOptions } from './lib/load.ts';
import { platformEnv } from './lib/platform-env.ts';
import { removeOpenProbes } from './lib/delivery-probe.ts';
import { deleteRunKeys } from './lib/redis-cleanup.ts';
import { emit, progress, round, type Figure } from './lib/report.ts';
import { coldStart, median } from './lib/cold-start.ts';
import { checkMe, logIn, registerBenchUser, type Credentials } from './signing.ts';
import { deviceFigures } from './devices.ts';

const durationS = benchDuration(process.env.BENCH_DURATION_S);
const WARMUP_S = 1;
const COLD_START_RUNS = 5;
const SOURCE_COLD_START_RUNS = 3;
const baselineServer = 'bench/lib/baseline-server.mjs';
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const frameworkBin = 'node_modules/.bin/functions-framework';
const frameworkMain = 'node_modules/@google-cloud/functions-framework/build/src/main.js';
const env = platformEnv();
/** BENCH_ONLY=regex runs only the figures whose names match (the devices' setup only when one of theirs does). */
const only = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : undefined;
let baseline: number | undefined;
const failures: string[] = [];

function benchDuration(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 8;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || value > 600) throw new Error(`BENCH_DURATION_S: expected seconds between 0 and 600, got ${JSON.stringify(raw)}`);
  return value;
}

/** Runs one figure's step; a failure is reported and remembered, and the remaining figures still run. */
async function figure(name: string, step: () => Promise<Figure>): Promise<Figure | undefined> {
  if (only && !only.test(name)) return undefined;
  progress(`${name} ...`);
  try {
    const result = await step();
    if (result.unit === 'req/s' && baseline !== undefined) result.ratioToBaseline = round(result.value / baseline, 4);
    emit(result);
    progress(`${name}: ${result.value} ${result.unit}${summary(result)}`);
    // A throughput with messages missing from the broker is not a figure to quote.
    if (Number(result.lost ?? 0) > 0) failures.push(`${name} (lost ${String(result.lost)})`);
    return result;
  } catch (error) {
    progress(`${name} FAILED: ${(error as Error).message}`);
    failures.push(name);
    return undefined;
  }
}

function summary(result: Figure): string {
  const parts: string[] = [];
  if (result.p50 !== undefined) parts.push(`p50 ${String(result.p50)} ms, p99 ${String(result.p99)} ms`);
  if (result.sent !== undefined) parts.push(`sent ${String(result.sent)}, in queue ${String(result.confirmedInQueue)}`);
  const trouble = ['errors', 'timeouts', 'non2xx', 'serverErrorLogs', 'serverWarnLogs', 'lost', 'extra', 'failedPublishes', 'noSubscribers', 'outboxPending', 'ingestLeft', 'deadLettered', 'stoppedEarly'];
  for (const key of trouble) if (Number(result[key] ?? 0) > 0) parts.push(`${key} ${String(result[key])}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** A warm-up the figure ignores (JIT, pools, lazy imports), then the measured run; server error logs are attached. */
async function loadWith(name: string, server: Child, options: Omit<LoadOptions, 'durationS'>): Promise<Figure> {
  await measureThroughput(`${name}.warmup`, { ...options, durationS: WARMUP_S });
  const logged = logsSince(server);
  const result = await measureThroughput(name, { ...options, durationS });
  return { ...result, ...logged() };
}

/**
 * A function or process as the image starts it: the rendered entrypoint, which runs the compiled bundle from
 * dist/ (built at the start of the run) with plain node.
 */
function startTarget(target: string, port: number): Child {
  return spawnChild(target, '/bin/sh', ['docker/entrypoint.sh'], { ...env, FUNCTION_TARGET: target, PORT: String(port) });
}

/** The development path, TypeScript through tsx and every function loaded: the figure before the build. */
function startFunctionFromSources(target: string, port: number): Child {
  return spawnChild(`ff:${target}`, frameworkBin, ['--source=functions/index.ts', `--target=${target}`, `--port=${port}`], {
    ...env,
    NODE_OPTIONS: '--import tsx',
  });
}

function buildDist(): void {
  progress('npm run build ...');
  const built = spawnSync('npm', ['run', '--silent', 'build'], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] });
  if (built.status !== 0) throw new Error(`npm run build failed (${built.status ?? built.signal})`);
}

async function baselineFigure(): Promise<void> {
  const result = await figure('http.baseline.node-http', async () => {
    const port = await freePort();
    const server = await startServer('baseline', process.execPath, [baselineServer], { PORT: String(port) }, port);
    try {
      return await loadWith('http.baseline.node-http', server, { url: `http://127.0.0.1:${port}/`, connections: 50 });
    } finally {
      await stopChild(server);
    }
  });
  baseline = result?.value;
}

/** The signing figures; resolves with the bench user's access token for the cold starts (undefined if setup failed). */
async function signingFigures(): Promise<string | undefined> {
  const gatewayPort = await freePort();
  let gateway: Child;
  let credentials: Credentials;
  let token: string;
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  try {
    gateway = await startServer('gateway', '/bin/sh', ['docker/entrypoint.sh'], { ...env, FUNCTION_TARGET: 'gateway', PORT: String(gatewayPort) }, gatewayPort);
    credentials = await registerBenchUser(gatewayUrl);
    token = await logIn(gatewayUrl, credentials);
    await checkMe(gatewayUrl, token, credentials.email);
    progress(`bench user ${credentials.email} registered and logged in`);
  } catch (error) {
    progress(`gateway setup FAILED: ${(error as Error).message}`);
    failures.push('signing.me.gateway', 'signing.me.functions-framework', 'signing.login.gateway');
    return undefined;
  }
  const bearer = { authorization: `Bearer ${token}` };

  await figure('signing.me.gateway', () => loadWith('signing.me.gateway', gateway, { url: `${gatewayUrl}/auth/me`, connections: 50, headers: bearer }));

  await figure('signing.me.functions-framework', async () => {
    const port = await freePort();
    const fn = startTarget('me', port);
    try {
      const ms = await waitForHttp(`http://127.0.0.1:${port}/healthz`, { child: fn, timeoutMs: 60_000 });
      progress(`ff:me ready on port ${port} after ${Math.round(ms)} ms`);
      await checkMe(`http://127.0.0.1:${port}`, token, credentials.email);
      return await loadWith('signing.me.functions-framework', fn, { url: `http://127.0.0.1:${port}/auth/me`, connections: 50, headers: bearer });
    } finally {
      await stopChild(fn);
    }
  });

  await figure('functions-framework.baseline.hello', async () => {
    const port = await freePort();
    const hello = spawnChild('ff:hello', process.execPath, [frameworkMain, '--source=bench/lib/framework-hello.cjs', '--target=hello', `--port=${port}`], { NODE_ENV: 'production' });
    try {
      await waitForHttp(`http://127.0.0.1:${port}/`, { child: hello, timeoutMs: 30_000 });
      return await loadWith('functions-framework.baseline.hello', hello, { url: `http://127.0.0.1:${port}/`, connections: 50 });
    } finally {
      await stopChild(hello);
    }
  });

  await figure('signing.login.gateway', () =>
    loadWith('signing.login.gateway', gateway, {
      url: `${gatewayUrl}/auth/login`,
      connections: 10,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(credentials),
    }),
  );
  await stopChild(gateway);
  return token;
}

/**
 * Spawn to first 2xx answer of a function's own route, what a scale-from-zero request waits for, beside a bare
 * node:http server's spawn to first answer; the resident memory right after that first answer.
 */
async function coldStartFigures(token: string | undefined): Promise<void> {
  const bare = await figure('http.baseline.cold-start', async () => {
    return coldStarts('http.baseline.cold-start', COLD_START_RUNS, (port) => spawnChild('baseline', process.execPath, [baselineServer], { PORT: String(port) }), '/');
  });
  const ratioTo = (ms: number) => (bare ? round(ms / bare.value, 2) : undefined);
  const targets: Array<[string, string, Record<string, string>]> = [
    ['jwks', '/auth/jwks.json', {}],
    ['me', '/auth/me', token ? { authorization: `Bearer ${token}` } : {}],
  ];
  for (const [target, path, headers] of targets) {
    await figure(`functions.cold-start.${target}`, async () => {
      if (target === 'me' && !token) throw new Error('no token: the gateway setup failed');
      const runs = await coldStarts(`functions.cold-start.${target}`, COLD_START_RUNS, (port) => startTarget(target, port), path, headers);
      return { ...runs, target, limitMs: 300, limitRssMb: 70, ratioToBareStart: ratioTo(runs.value), bareStartMs: bare?.value };
    });
  }
  await figure('functions.cold-start.jwks.tsx-sources', async () => {
    const runs = await coldStarts('functions.cold-start.jwks.tsx-sources', SOURCE_COLD_START_RUNS, (port) => startFunctionFromSources('jwks', port), '/auth/jwks.json');
    return { ...runs, target: 'jwks', note: 'the development path (tsx, every function loaded): what the image ran before the build', ratioToBareStart: ratioTo(runs.value) };
  });
}

async function coldStarts(bench: string, runs: number, spawnIt: (port: number) => Child, path: string, headers: Record<string, string> = {}): Promise<Figure> {
  const samples: number[] = [];
  const rss: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    const port = await freePort();
    const measured = await coldStart(() => spawnIt(port), `http://127.0.0.1:${port}${path}`, headers);
    samples.push(measured.ms);
    rss.push(measured.rssMb);
  }
  return { bench, value: median(samples), unit: 'ms', samples, rssMb: median(rss), rssSamplesMb: rss, pollMs: 5 };
}

/** What an interrupted run must not leave behind: probe queues collecting telemetry, children, its Redis keys. */
async function cleanUp(): Promise<void> {
  await removeOpenProbes();
  await stopAll();
  await deleteRunKeys();
}

async function main(): Promise<void> {
  // Bounds the whole run even if a child or a socket hangs in a way no single timeout above catches: 13 load
  // runs with their warm-ups, plus start-ups, the 100,000-device bulk, and the waits for queues and the outbox.
  const limitS = 13 * (durationS + WARMUP_S) + 420;
  const watchdog = setTimeout(() => {
    progress(`watchdog: still running after ${limitS} s, stopping`);
    void cleanUp().finally(() => process.exit(1));
  }, limitS * 1000);
  watchdog.unref();
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => void cleanUp().finally(() => process.exit(code)));
  }

  try {
    buildDist();
    await baselineFigure();
    const token = await signingFigures();
    await coldStartFigures(token);
    if (!only || only.test('devices.')) await deviceFigures({ figure, env, durationS, warmupS: WARMUP_S });
  } finally {
    await stopAll();
    await deleteRunKeys();
  }
  if (failures.length > 0) {
    progress(`failed: ${failures.join(', ')}`);
    process.exitCode = 1;
  }
  // Keep-alive sockets from fetch would otherwise hold the process open for a few seconds more.
  process.exit();
}

await main();
