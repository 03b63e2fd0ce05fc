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
 * The devices figures (devices.ts, telemetry.ts) add RabbitMQ and Mosquitto: bulk creation and search over
 * 100,000 devices, and telemetry over HTTP and MQTT with proof that every accepted message reached the broker
 * (`lost` must be 0; a figure with lost messages counts as failed). All children of one run share one Redis
 * key prefix, whose keys are deleted at the end.
 */
import { performance } from 'node:perf_hooks';
import { freePort, logsSince, spawnChild, startServer, stopAll, stopChild, waitForHttp, type Child } from './lib/children.ts';
import { measureThroughput, type LoadOptions } from './lib/load.ts';
import { platformEnv } from './lib/platform-env.ts';
import { removeOpenProbes } from './lib/delivery-probe.ts';
import { deleteRunKeys } from './lib/redis-cleanup.ts';
import { emit, progress, round, type Figure } from './lib/report.ts';
import { checkMe, logIn, registerBenchUser, type Credentials } from './signing.ts';
import { deviceFigures } from './devices.ts';

const durationS = benchDuration(process.env.BENCH_DURATION_S);
const WARMUP_S = 1;
const COLD_START_RUNS = 3;
const frameworkBin = 'node_modules/.bin/functions-framework';
const env = platformEnv();
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

function startFunction(target: string, port: number): Child {
  return spawnChild(`ff:${target}`, frameworkBin, ['--source=functions/index.ts', `--target=${target}`, `--port=${port}`], {
    ...env,
    NODE_OPTIONS: '--import tsx',
  });
}

async function baselineFigure(): Promise<void> {
  const result = await figure('http.baseline.node-http', async () => {
    const port = await freePort();
    const server = await startServer('baseline', process.execPath, ['--import', 'tsx', 'bench/lib/baseline-server.ts'], { PORT: String(port) }, port);
    try {
      return await loadWith('http.baseline.node-http', server, { url: `http://127.0.0.1:${port}/`, connections: 50 });
    } finally {
      await stopChild(server);
    }
  });
  baseline = result?.value;
}

async function signingFigures(): Promise<void> {
  const gatewayPort = await freePort();
  let gateway: Child;
  let credentials: Credentials;
  let token: string;
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  try {
    gateway = await startServer('gateway', process.execPath, ['--import', 'tsx', 'bin/iotfn.ts', 'dev'], { ...env, PORT: String(gatewayPort) }, gatewayPort);
    credentials = await registerBenchUser(gatewayUrl);
    token = await logIn(gatewayUrl, credentials);
    await checkMe(gatewayUrl, token, credentials.email);
    progress(`bench user ${credentials.email} registered and logged in`);
  } catch (error) {
    progress(`gateway setup FAILED: ${(error as Error).message}`);
    failures.push('signing.me.gateway', 'signing.me.functions-framework', 'signing.login.gateway');
    return;
  }
  const bearer = { authorization: `Bearer ${token}` };

  await figure('signing.me.gateway', () => loadWith('signing.me.gateway', gateway, { url: `${gatewayUrl}/auth/me`, connections: 50, headers: bearer }));

  await figure('signing.me.functions-framework', async () => {
    const port = await freePort();
    const fn = startFunction('me', port);
    try {
      const ms = await waitForHttp(`http://127.0.0.1:${port}/healthz`, { child: fn, timeoutMs: 60_000 });
      progress(`ff:me ready on port ${port} after ${Math.round(ms)} ms`);
      await checkMe(`http://127.0.0.1:${port}`, token, credentials.email);
      return await loadWith('signing.me.functions-framework', fn, { url: `http://127.0.0.1:${port}/auth/me`, connections: 50, headers: bearer });
    } finally {
      await stopChild(fn);
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
}

/** Spawn to first 2xx answer of the function's own route: what a scale-from-zero request waits for. */
async function coldStartFigure(): Promise<void> {
  await figure('functions-framework.cold-start', async () => {
    const samples: number[] = [];
    for (let run = 0; run < COLD_START_RUNS; run += 1) {
      const port = await freePort();
      const started = performance.now();
      const fn = startFunction('jwks', port);
      try {
        await waitForHttp(`http://127.0.0.1:${port}/auth/jwks.json`, { child: fn, intervalMs: 20, timeoutMs: 60_000 });
        samples.push(Math.round(performance.now() - started));
      } finally {
        await stopChild(fn);
      }
      progress(`cold start ${run + 1}/${COLD_START_RUNS}: ${samples.at(-1)} ms`);
    }
    const sorted = [...samples].sort((a, b) => a - b);
    return { bench: 'functions-framework.cold-start', value: sorted[Math.floor(sorted.length / 2)]!, unit: 'ms', target: 'jwks', pollMs: 20, samples };
  });
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
    await baselineFigure();
    await signingFigures();
    await coldStartFigure();
    await deviceFigures({ figure, env, durationS, warmupS: WARMUP_S });
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
