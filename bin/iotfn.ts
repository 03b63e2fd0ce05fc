#!/usr/bin/env -S node --import=tsx
/**
 * iotfn: the platform's command line.
 *
 *   iotfn dev                 run every function in one process (the local gateway); what `npm start` runs
 *   iotfn bridge              the MQTT bridge: broker (MQTT_URL) → checks → bus, plus probes on PORT
 *   iotfn relay               the realtime Socket.IO relay alone on PORT, with probes (metrics on METRICS_PORT)
 *   iotfn triggers            the event functions fed from their RabbitMQ queues (where no Knative trigger does it)
 *   iotfn scheduler           the scheduled functions on their schedules (where no PingSource or cron-connector does it)
 *   iotfn functions           list the functions with their routes
 *   iotfn openapi [file]      write the OpenAPI document (stdout without a file)
 *   iotfn simulate …          a simulated fleet over MQTT or HTTP: telemetry, configuration, commands (simulators/fleet.ts)
 *   iotfn agent …             the end-device agent: this machine's CPU, memory, disk, network at its configured
 *                             interval; answers ping (end-devices/agent.ts)
 *   iotfn render [--check]    write every deploy artefact from the registry; --check compares instead
 *   iotfn deploy --target knative|openfaas|compose [--dry-run]
 *                             build, tag and push the image, then kubectl / faas-cli / docker compose
 *
 * The first line says `--import=tsx`: with a space, tsx 4 reads `import tsx` in it as an import statement
 * and fails on any file that also holds a dynamic import().
 */
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../shared/config.ts';
import type { Deps } from '../shared/platform.ts';
import { createFunctionPlatform } from '../functions/platform.ts';
import { version } from '../shared/version.ts';
import type { ProcessCommand } from '../functions/processes.ts';
// Each command imports what it runs when it runs (below): a relay or a bridge process never loads the
// registry's functions, the gateway, the dashboard build or the MQTT broker, and a bundle keeps each in its own chunk.
import { createServer, type Server } from 'node:http';
import { probeReply } from '../shared/http/probes.ts';
import { startInternalServer } from '../shared/http/internal-server.ts';
import { listenOn } from '../shared/http/listen.ts';
import { problemReply, requestIdOf } from '../shared/http/harness.ts';
import { Problem } from '../shared/problem.ts';

const usage = `usage: iotfn <command>

  dev                 run every function in one process on PORT (default 8080)
                      (every long-lived command serves /metrics and the detailed /readyz on METRICS_PORT)
  bridge              the MQTT bridge (needs MQTT_URL), with /healthz, /readyz on PORT
  broker-accounts     give the MQTT broker (MQTT_URL) an account for every device and delete the others:
                      for a new or emptied broker volume (the bridge keeps them in line after that)
  admin grant|revoke EMAIL
                      give the registered user with this email the admin role, or take it back
                      (the only way to make an admin; takes effect at the user's next login or refresh)
  dead-letters list|replay|purge [--limit N]
                      the events in iotfn.dead-letters (one JSON line each, oldest first), or sent back
                      to the queue each died in, or dropped; at most N (default 100)
  relay               the realtime Socket.IO relay on PORT, with /healthz, /readyz
  triggers            the event functions fed from their RabbitMQ queues, with probes on PORT
  scheduler           the scheduled functions on their schedules (each under a lock: replicas are safe),
                      with probes on PORT
  functions           list the functions with their routes
  openapi [file]      write the OpenAPI document (stdout without a file)
  simulate [flags]    a simulated fleet over MQTT or HTTP: telemetry at a rate or configured interval,
                      state, commands (simulate --help)
  agent [flags]       the end-device agent: reports this machine at its configured interval, buffering
                      on disk, and answers ping (agent --help)
  completion bash|zsh a completion script for the shell: source <(iotfn completion bash)
  render [--check]    write every deploy artefact (Dockerfile, Compose, NGINX, knative/, stack.yml, …)
                      from the registry; --check writes nothing and exits 1 if a checked-in file differs
  deploy --target knative|openfaas|compose [--dry-run]
                      build the image, tag it per function and process, push the tags, then
                      kubectl apply -k knative/ | faas-cli deploy -f stack.yml | docker compose up -d;
                      --dry-run prints the commands instead; a missing tool exits 2
`;

/** Where artefacts are written and deploy commands run, whatever the caller's working directory. */
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

async function dev(argv: string[]): Promise<void> {
  const { values: flags } = parseArgs({ args: argv, options: { demo: { type: 'boolean', default: false } }, strict: true });
  const config = loadConfig();
  const [{ buildDashboard }, { createGateway }, { startLocalPlatform }, { functions, httpFunctions }] = await Promise.all([
    import('../dashboard/build.ts'),
    import('../shared/http/gateway.ts'),
    import('../functions/local-platform.ts'),
    import('../functions/registry.ts'),
  ]);
  const { outDir } = await buildDashboard();
  const deps = await createFunctionPlatform(config);
  const server = createGateway({ functions: httpFunctions, deps, version, appDir: outDir });
  await listen(server, config.PORT, config.HOST);
  const local = await startLocalPlatform(deps, server);
  const internal = await startInternalServer(deps);
  const port = boundPort(server, config.PORT);
  const lines = [
    `iotfn ${version} serving ${functions.length} functions on http://localhost:${port}`,
    `  dashboard  http://localhost:${port}/`,
    `  API docs   http://localhost:${port}/docs`,
    `  metrics    ${internal.url}/metrics and ${internal.url}/readyz (METRICS_PORT, not on the public port)`,
    ...Object.entries({ ...deps.adapters, ...local.describe }).map(([name, what]) => `  ${name.padEnd(10)} ${what}`),
  ];
  let demo: { stop(): Promise<void> } | undefined;
  if (flags.demo) {
    const { startDemoFleet, demoUser } = await import('../simulators/demo.ts');
    const fleet = startDemoFleet(`http://127.0.0.1:${port}`, config.DATA_DIR, (error) => deps.log.error({ err: error }, 'demo fleet stopped'));
    demo = fleet;
    // The sign-in on lines of its own, so nothing around it reads as part of the password.
    const signIn = [`             sign in at  http://localhost:${port}/`, `             email       ${demoUser.email}`, `             password    ${demoUser.password}`];
    lines.push(`  ${'demo'.padEnd(10)} 5 simulated devices sending every second`, ...signIn);
    // Said again once the devices are live, in case the start-up lines scrolled away.
    void fleet.ready.then(() => process.stdout.write(['', `  demo ready: 5 devices sending`, ...signIn, ''].join('\n') + '\n'));
  }
  process.stdout.write(lines.join('\n') + '\n');
  stopOnSignals(deps, server, async () => {
    await demo?.stop();
    await local.stop();
    await internal.close();
  });
}

/** A bare server for a long-lived process: the public probes, nothing else (metrics: startInternalServer). */
function probeServer(deps: Deps): Server {
  return createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    // Socket.IO, when the relay is attached, answers its own path on this server.
    if (path.startsWith('/socket.io')) return;
    void probeReply(request.method, path, deps).then((reply) => {
      const answer = reply ?? problemReply(new Problem('not-found', `No route for ${request.method} ${path}`), requestIdOf(request.headers), path);
      response.writeHead(answer.status, answer.headers).end(answer.body);
    });
  });
}

async function bridge(): Promise<void> {
  const config = loadConfig();
  if (!config.MQTT_URL) throw new Error('MQTT_URL: the bridge needs the broker to subscribe to');
  const { startDeviceEdge } = await import('../functions/devices/edge.ts');
  const deps = await createFunctionPlatform(config);
  const edge = await startDeviceEdge(deps);
  const server = probeServer(deps);
  await listen(server, config.PORT, config.HOST);
  const internal = await startInternalServer(deps);
  process.stdout.write(`iotfn ${version} MQTT bridge: ${edge.mqtt}; probes on http://localhost:${boundPort(server, config.PORT)}; metrics on ${internal.url}/metrics\n`);
  stopOnSignals(deps, server, async () => {
    await edge.stop();
    await internal.close();
  });
}

async function brokerAccounts(): Promise<void> {
  const config = loadConfig();
  if (!config.MQTT_URL) throw new Error('MQTT_URL: the broker (its platform listener, with the admin account) to fill');
  const deps = await createFunctionPlatform(config, { relay: false });
  try {
    const { syncBrokerAccounts } = await import('../functions/devices/mqtt-bridge.ts');
    const { created, deleted } = await syncBrokerAccounts(deps, config.MQTT_URL);
    process.stdout.write(`broker accounts: ${created} created, ${deleted} deleted\n`);
  } finally {
    await deps.close();
  }
}

async function admin(argv: string[]): Promise<void> {
  const [action, email, ...extra] = argv;
  const role = action === 'grant' ? 'admin' : action === 'revoke' ? 'user' : undefined;
  if (!role || !email || extra.length > 0) {
    process.stderr.write('usage: iotfn admin grant|revoke EMAIL\n');
    process.exit(2);
  }
  const config = loadConfig();
  const deps = await createFunctionPlatform(config, { relay: false });
  try {
    const { setUserRole } = await import('../functions/signing/model/users.ts');
    const user = await setUserRole(deps.db, email, role, deps.cache);
    if (!user) {
      process.stderr.write(`admin ${action}: no user registered with ${email}\n`);
      process.exitCode = 1;
      return;
    }
    process.stdout.write(`admin ${action}: ${user.email} is now ${role === 'admin' ? 'an admin' : 'a plain user'}\n`);
  } finally {
    await deps.close();
  }
}

async function deadLetters(argv: string[]): Promise<void> {
  const { values: flags, positionals } = parseArgs({ args: argv, options: { limit: { type: 'string', default: '100' } }, allowPositionals: true, strict: true });
  const [action, ...extra] = positionals;
  const limit = Number(flags.limit);
  if (!['list', 'replay', 'purge'].includes(action ?? '') || extra.length > 0 || !Number.isSafeInteger(limit) || limit < 1) {
    process.stderr.write('usage: iotfn dead-letters list|replay|purge [--limit N]\n');
    process.exit(2);
  }
  const deps = await createFunctionPlatform(loadConfig(), { relay: false });
  try {
    const { listDeadLetters, purgeDeadLetters, replayDeadLetters } = await import('../shared/bus/dead-letters.ts');
    const { declareTopology } = await import('../shared/bus/topology.ts');
    const { eventFunctions } = await import('../functions/registry.ts');
    await declareTopology(deps.bus);
    const functionQueues = new Set(eventFunctions.map((fn) => fn.trigger.queue));
    if (action === 'list') {
      for (const letter of await listDeadLetters(deps.bus, functionQueues, limit)) process.stdout.write(JSON.stringify(letter) + '\n');
    } else if (action === 'replay') {
      const { replayed, stoppedAt } = await replayDeadLetters(deps.bus, functionQueues, limit);
      process.stdout.write(`dead-letters replay: ${replayed.length} sent back\n`);
      if (stoppedAt) {
        process.stderr.write(`dead-letters replay: stopped at ${stoppedAt.letter.id} (${stoppedAt.why}); it and the rest stay\n`);
        process.exitCode = 1;
      }
    } else {
      process.stdout.write(`dead-letters purge: ${await purgeDeadLetters(deps.bus, limit)} dropped\n`);
    }
  } finally {
    await deps.close();
  }
}

async function relay(): Promise<void> {
  const config = loadConfig();
  const { attachRelay } = await import('../realtime/relay.ts');
  const deps = await createFunctionPlatform(config);
  const server = probeServer(deps);
  const attached = await attachRelay(server, deps);
  await listen(server, config.PORT, config.HOST);
  const internal = await startInternalServer(deps);
  process.stdout.write(`iotfn ${version} realtime relay on http://localhost:${boundPort(server, config.PORT)}/socket.io; metrics on ${internal.url}/metrics\n`);
  stopOnSignals(deps, server, async () => {
    await attached.stop();
    await internal.close();
  });
}

async function triggers(): Promise<void> {
  const config = loadConfig();
  const [{ startTrigger }, { eventFunctions }] = await Promise.all([import('../shared/bus/trigger.ts'), import('../functions/registry.ts')]);
  const deps = await createFunctionPlatform(config);
  const subscriptions = await Promise.all(eventFunctions.map((fn) => startTrigger(fn, deps)));
  const server = probeServer(deps);
  await listen(server, config.PORT, config.HOST);
  const internal = await startInternalServer(deps);
  process.stdout.write(`iotfn ${version} triggers: ${eventFunctions.map((fn) => `${fn.name} ← ${fn.trigger.queue}`).join(', ')}; metrics on ${internal.url}/metrics\n`);
  stopOnSignals(deps, server, async () => {
    await Promise.allSettled(subscriptions.map((s) => s.cancel()));
    await internal.close();
  });
}

async function scheduler(): Promise<void> {
  const config = loadConfig();
  const [{ startScheduler }, { scheduleFunctions }] = await Promise.all([import('../shared/schedule/scheduler.ts'), import('../functions/registry.ts')]);
  const deps = await createFunctionPlatform(config);
  const running = startScheduler(deps, scheduleFunctions);
  const server = probeServer(deps);
  await listen(server, config.PORT, config.HOST);
  const internal = await startInternalServer(deps);
  process.stdout.write(`iotfn ${version} scheduler: ${running.describe}; probes on http://localhost:${boundPort(server, config.PORT)}; metrics on ${internal.url}/metrics\n`);
  stopOnSignals(deps, server, async () => {
    await running.stop();
    await internal.close();
  });
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return listenOn(server, { port, host });
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

async function list(): Promise<void> {
  const { functions } = await import('../functions/registry.ts');
  const rows = functions.map((fn) =>
    fn.kind === 'http'
      ? [fn.name, fn.domain, `${fn.method} ${fn.path}`, fn.auth === 'user' ? 'bearer' : fn.auth === 'device' ? 'device token' : 'public']
      : fn.kind === 'event'
        ? [fn.name, fn.domain, `event ${fn.trigger.eventType}`, `queue ${fn.trigger.queue}`]
        : [fn.name, fn.domain, `schedule ${fn.schedule.cron}`, fn.schedule.everySeconds ? `every ${fn.schedule.everySeconds} s` : ''],
  );
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) process.stdout.write(row.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join('  ') + '\n');
}

async function openapi(file: string | undefined): Promise<void> {
  const [{ buildOpenApi }, { httpFunctions }] = await Promise.all([import('../shared/http/openapi.ts'), import('../functions/registry.ts')]);
  const text = JSON.stringify(buildOpenApi(httpFunctions, { version }), null, 2) + '\n';
  if (file) writeFileSync(file, text);
  else process.stdout.write(text);
}

async function render(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { check: { type: 'boolean', default: false } }, strict: true });
  // Loaded here, not at start: the renderers (and the YAML library, a dev dependency) serve this command
  // only, so the image that runs the relay and the bridge from this file does not need them.
  const { renderAll } = await import('../deploy/render.ts');
  const files = renderAll();
  const width = String(files.length).length;
  let differing = 0;
  files.forEach((file, i) => {
    const target = join(repoRoot, file.path);
    const current = existsSync(target) ? readFileSync(target, 'utf8') : undefined;
    const progress = `[${String(i + 1).padStart(width)}/${files.length}]`;
    if (current === file.content) {
      if (!values.check) process.stdout.write(`${progress} unchanged ${file.path}\n`);
      return;
    }
    differing += 1;
    if (values.check) {
      process.stdout.write(`${current === undefined ? 'missing' : 'differs'}  ${file.path}\n`);
      return;
    }
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, file.content);
    process.stdout.write(`${progress} wrote     ${file.path}\n`);
  });
  if (values.check) {
    const advice = differing ? ' (iotfn render writes them)' : '';
    process.stdout.write(`render --check: ${files.length} files, ${differing} differ${advice}\n`);
    if (differing) process.exit(1);
  } else {
    process.stdout.write(`render: ${files.length} files, ${differing} written, ${files.length - differing} unchanged\n`);
  }
}

const deployTargets = ['knative', 'openfaas', 'compose'] as const;
type DeployTarget = (typeof deployTargets)[number];

/**
 * The commands one deploy runs, in order: the image built once and tagged per target as
 * deploy/build-images.sh does, pushed where a cluster pulls it, then the apply.
 */
async function deployCommands(target: DeployTarget): Promise<string[][]> {
  // Loaded here for the same reason as the renderers.
  const { imageTag, imageVersion, project } = await import('../deploy/settings.ts');
  const { imageTargets } = await import('../deploy/renderers/container.ts');
  const local = `${project}:${imageVersion}`;
  const tags = imageTargets().map(imageTag);
  const build = [['docker', 'build', '-t', local, '.'], ...tags.map((tag) => ['docker', 'tag', local, tag])];
  // Compose runs on this machine's Docker and uses the local images; a cluster pulls them from the registry.
  const push = target === 'compose' ? [] : tags.map((tag) => ['docker', 'push', tag]);
  const apply: Record<DeployTarget, string[]> = {
    knative: ['kubectl', 'apply', '-k', 'knative/'],
    openfaas: ['faas-cli', 'deploy', '-f', 'stack.yml'],
    compose: ['docker', 'compose', 'up', '-d'],
  };
  return [...build, ...push, apply[target]];
}

/** Whether an executable named `tool` is in one of PATH's folders (no shell involved, so an empty PATH works). */
function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((folder) => {
    if (!folder) return false;
    try {
      accessSync(join(folder, tool), constants.X_OK);
      return statSync(join(folder, tool)).isFile();
    } catch {
      return false;
    }
  });
}

/** The first reason this machine cannot run the deploy, as one line naming the tool; undefined when it can. */
function missingTool(commands: string[][], target: DeployTarget): string | undefined {
  const tools = [...new Set(commands.map((command) => command[0]!))];
  const missing = tools.find((tool) => !onPath(tool));
  if (missing) return `deploy: ${missing} is not installed (not found on PATH); --target ${target} needs ${tools.join(' and ')}`;
  if (target === 'compose') {
    const probe = spawnSync('docker', ['compose', 'version'], { stdio: 'ignore', timeout: 15_000 });
    if (probe.status !== 0) return 'deploy: docker compose is not available (the Docker Compose plugin is not installed)';
  }
  return undefined;
}

function run(command: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { cwd: repoRoot, stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

async function deploy(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { target: { type: 'string' }, 'dry-run': { type: 'boolean', default: false } }, strict: true });
  const target = deployTargets.find((t) => t === values.target);
  if (!target) {
    process.stderr.write(`deploy: --target must be one of ${deployTargets.join(', ')}${values.target ? `, not ${values.target}` : ''}\n`);
    process.exit(2);
  }
  const commands = await deployCommands(target);
  const line = (command: string[]) => command.join(' ');
  if (values['dry-run']) {
    process.stdout.write(`# iotfn deploy --target ${target}: ${commands.length} commands, run from ${repoRoot}\n`);
    process.stdout.write(commands.map(line).join('\n') + '\n');
    return;
  }
  const missing = missingTool(commands, target);
  if (missing) {
    process.stderr.write(missing + '\n');
    process.exit(2);
  }
  for (const [i, command] of commands.entries()) {
    process.stdout.write(`[${i + 1}/${commands.length}] ${line(command)}\n`);
    const code = await run(command);
    if (code !== 0) {
      process.stderr.write(`deploy: \`${line(command)}\` failed with exit ${code}\n`);
      process.exit(1);
    }
  }
  process.stdout.write(`deploy --target ${target}: ${commands.length} commands done\n`);
}

/** The command of each long-lived process (functions/processes.ts): a Record over them, so a process without one does not compile. */
const processCommands: Record<ProcessCommand, (argv: string[]) => Promise<void>> = { dev, relay, bridge, triggers, scheduler };

/** Help asked for is an answer: on stdout, exit 0. */
function printUsage(): void {
  process.stdout.write(usage);
}

/** A command line that cannot be run: one line saying why, then the usage, on stderr; exit 2. */
function usageError(why: string): never {
  process.stderr.write(`iotfn: ${why}\n\n${usage}`);
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, strict: false });
  const [command, ...rest] = positionals;
  const asksHelp = argv.includes('--help') || argv.includes('-h');
  if (command === 'help' || (!command && (asksHelp || argv.length === 0))) {
    const about = command === 'help' ? rest[0] : undefined;
    // simulate and agent have flags of their own, with their own help.
    if (about === 'simulate' || about === 'agent') return main([about, '--help']);
    if (about && !Object.hasOwn(commands, about)) usageError(`no command "${about}"`);
    return printUsage();
  }
  if (asksHelp && command !== 'simulate' && command !== 'agent') return printUsage();
  const run = command !== undefined && Object.hasOwn(commands, command) ? commands[command] : undefined;
  if (!run) usageError(command ? `no command "${command}"` : `${argv[0] ?? ''} is not a command`);
  return run(argv.slice(argv.indexOf(command!) + 1));
}

/** Every command but help, by name: the one list the dispatch and `help <command>` read. */
const commands: Record<string, (argv: string[]) => Promise<void>> = {
  ...processCommands,
  'broker-accounts': () => brokerAccounts(),
  admin,
  'dead-letters': deadLetters,
  functions: () => list(),
  openapi: (args) => openapi(args.find((arg) => !arg.startsWith('-'))),
  async simulate(args) {
    // Loaded on demand: the other commands need neither the simulator nor its MQTT client.
    const { simulateCommand } = await import('../simulators/fleet.ts');
    process.exit(await simulateCommand(args));
  },
  async agent(args) {
    const { agentCommand } = await import('../end-devices/agent.ts');
    process.exit(await agentCommand(args));
  },
  render,
  deploy,
  completion,
};

/** `iotfn completion bash|zsh`: derived from `commands` and the flag records of simulate and agent. */
async function completion(argv: string[]): Promise<void> {
  const [{ completionScript, flagWords, shells }, { fleetFlags }, { agentFlags }] = await Promise.all([
    import('./completion.ts'),
    import('../simulators/fleet-options.ts'),
    import('../end-devices/agent.ts'),
  ]);
  const shell = shells.find((name) => name === argv[0]);
  if (!shell || argv.length !== 1) usageError(`completion: expected one of ${shells.join(', ')}${argv[0] ? `, got "${argv[0]}"` : ''}`);
  const names = ['help', ...Object.keys(commands)];
  const words: Record<string, string[]> = {
    help: Object.keys(commands),
    completion: [...shells],
    simulate: flagWords(fleetFlags),
    agent: flagWords(agentFlags),
    // The other commands' few words are not completed: their parsers are the one record of them.
  };
  process.stdout.write(completionScript(shell, { commands: names, words }));
}

// `iotfn functions | head` closes the pipe early: that is the reader's choice, not a failure.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

main(process.argv.slice(2)).catch((error: Error & { code?: string }) => {
  // A mistyped flag (node:util parseArgs) is a usage error, not a crash.
  if (error.code?.startsWith('ERR_PARSE_ARGS')) usageError(error.message);
  process.stderr.write(`${error.name}: ${error.message}\n`);
  process.exit(1);
});
