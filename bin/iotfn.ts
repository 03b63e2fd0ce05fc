#!/usr/bin/env -S node --import tsx
/**
 * iotfn: the platform's command line.
 *
 *   iotfn dev                 run every function in one process (the local gateway); what `npm start` runs
 *   iotfn bridge              the MQTT bridge: broker (MQTT_URL) → checks → bus, plus probes on PORT
 *   iotfn relay               the realtime Socket.IO relay alone on PORT, with probes and metrics
 *   iotfn triggers            the event functions fed from their RabbitMQ queues (where no Knative trigger does it)
 *   iotfn functions           list the functions with their routes
 *   iotfn openapi [file]      write the OpenAPI document (stdout without a file)
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig } from '../shared/config.ts';
import { createPlatform, type Deps } from '../shared/platform.ts';
import { createGateway } from '../shared/http/gateway.ts';
import { buildOpenApi } from '../shared/http/openapi.ts';
import { version } from '../shared/version.ts';
import { eventFunctions, functions, httpFunctions } from '../functions/registry.ts';
import { startTrigger } from '../shared/bus/trigger.ts';
import { startDeviceEdge } from '../functions/devices/edge.ts';
import { startLocalPlatform } from '../functions/local-platform.ts';
import { buildDashboard } from '../dashboard/build.ts';
import { attachRelay } from '../realtime/relay.ts';
import { createServer, type Server } from 'node:http';
import { renderMetrics } from '../shared/metrics.ts';

const usage = `usage: iotfn <command>

  dev                 run every function in one process on PORT (default 8080)
  bridge              the MQTT bridge (needs MQTT_URL), with /healthz, /readyz, /metrics on PORT
  relay               the realtime Socket.IO relay on PORT, with /healthz, /readyz, /metrics
  triggers            the event functions fed from their RabbitMQ queues, with probes on PORT
  functions           list the functions with their routes
  openapi [file]      write the OpenAPI document (stdout without a file)
`;

async function dev(): Promise<void> {
  const config = loadConfig();
  const { outDir } = await buildDashboard();
  const deps = await createPlatform(config);
  const server = createGateway({ functions: httpFunctions, deps, version, appDir: outDir });
  await listen(server, config.PORT, config.HOST);
  const local = await startLocalPlatform(deps, server);
  const port = boundPort(server, config.PORT);
  const lines = [
    `iotfn ${version} serving ${functions.length} functions on http://localhost:${port}`,
    `  dashboard  http://localhost:${port}/`,
    `  API docs   http://localhost:${port}/docs`,
    ...Object.entries({ ...deps.adapters, ...local.describe }).map(([name, what]) => `  ${name.padEnd(10)} ${what}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  stopOnSignals(deps, server, () => local.stop());
}

/** A bare server for a long-lived process: probes and metrics, nothing else. */
function probeServer(deps: Deps): Server {
  return createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      void renderMetrics().then((m) => response.writeHead(200, { 'content-type': m.contentType }).end(m.body));
    } else if (path === '/readyz') {
      void Promise.all([deps.db.ping(), deps.cache.ping(), deps.bus.ping()]).then(
        () => response.writeHead(200, { 'content-type': 'application/json' }).end('{"ready":true}'),
        () => response.writeHead(503, { 'content-type': 'application/json' }).end('{"ready":false}'),
      );
    } else if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (!path?.startsWith('/socket.io')) {
      response.writeHead(404).end();
    }
  });
}

async function bridge(): Promise<void> {
  const config = loadConfig();
  if (!config.MQTT_URL) throw new Error('MQTT_URL: the bridge needs the broker to subscribe to');
  const deps = await createPlatform(config);
  const edge = await startDeviceEdge(deps);
  const server = probeServer(deps);
  await listen(server, config.PORT, config.HOST);
  process.stdout.write(`iotfn ${version} MQTT bridge: ${edge.mqtt}; probes on http://localhost:${boundPort(server, config.PORT)}\n`);
  stopOnSignals(deps, server, () => edge.stop());
}

async function relay(): Promise<void> {
  const config = loadConfig();
  const deps = await createPlatform(config);
  const server = probeServer(deps);
  const attached = await attachRelay(server, deps);
  await listen(server, config.PORT, config.HOST);
  process.stdout.write(`iotfn ${version} realtime relay on http://localhost:${boundPort(server, config.PORT)}/socket.io\n`);
  stopOnSignals(deps, server, () => attached.stop());
}

async function triggers(): Promise<void> {
  const config = loadConfig();
  const deps = await createPlatform(config);
  const subscriptions = await Promise.all(eventFunctions.map((fn) => startTrigger(fn, deps)));
  const server = probeServer(deps);
  await listen(server, config.PORT, config.HOST);
  process.stdout.write(`iotfn ${version} triggers: ${eventFunctions.map((fn) => `${fn.name} ← ${fn.trigger.queue}`).join(', ')}\n`);
  stopOnSignals(deps, server, async () => void (await Promise.allSettled(subscriptions.map((s) => s.cancel()))));
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
}

function boundPort(server: Server, fallback: number): number {
  const address = server.address();
  return typeof address === 'object' && address ? address.port : fallback;
}

function stopOnSignals(deps: Deps, server: Server, stopEdge: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    deps.log.info({ signal }, 'stopping');
    // Finish the requests in flight before the adapters close under them; idle keep-alive sockets go now.
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeIdleConnections();
    const grace = new Promise((resolve) => setTimeout(resolve, 5000).unref());
    void Promise.race([closed, grace])
      .then(() => stopEdge())
      .then(() => deps.close())
      .finally(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

function list(): void {
  const rows = functions.map((fn) =>
    fn.kind === 'http'
      ? [fn.name, fn.domain, `${fn.method} ${fn.path}`, fn.auth === 'user' ? 'bearer' : fn.auth === 'device' ? 'device token' : 'public']
      : [fn.name, fn.domain, `event ${fn.trigger.eventType}`, `queue ${fn.trigger.queue}`],
  );
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) process.stdout.write(row.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join('  ') + '\n');
}

function openapi(file: string | undefined): void {
  const text = JSON.stringify(buildOpenApi(httpFunctions, { version }), null, 2) + '\n';
  if (file) writeFileSync(file, text);
  else process.stdout.write(text);
}

async function main(argv: string[]): Promise<void> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, strict: false });
  const [command, ...rest] = positionals;
  switch (command) {
    case 'dev':
      return dev();
    case 'bridge':
      return bridge();
    case 'relay':
      return relay();
    case 'triggers':
      return triggers();
    case 'functions':
      return list();
    case 'openapi':
      return openapi(rest[0]);
    default:
      process.stderr.write(usage);
      process.exit(command ? 2 : 0);
  }
}

main(process.argv.slice(2)).catch((error: Error) => {
  process.stderr.write(`${error.name}: ${error.message}\n`);
  process.exit(1);
});
