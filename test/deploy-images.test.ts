/**
 * The container image and Docker Compose, as far as they can be checked without a Docker engine: the rendered
 * files equal the checked-in ones; the Dockerfile has the stages, user and probe it should; the image's entry
 * point and health probe run for real (outside a container, from the repository); docker-compose.yml parses and
 * has a service, image tag and health-gated dependencies for every function; no secret is committed; and the
 * Mosquitto configuration runs in the real Mosquitto and lets only the bridge read device messages.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { parse } from 'yaml';
import { configSchema } from '../shared/config.ts';
import { eventFunctions, functions, httpFunctions } from '../functions/registry.ts';
import { imageTag, kebab } from '../deploy/settings.ts';
import { buildFolders, healthProbe, imageTargets, importGraph, nodeImage, renderContainerArtefacts, runtimeFolders } from '../deploy/renderers/container.ts';
import { composeSecrets, configDefault, mosquittoFiles, mqttBridgeUser, renderCompose, upstreamServices } from '../deploy/renderers/compose.ts';
import { services } from './support/services.ts';
import { exitCode, freePort, freshSigningKeyPem, repoRoot, startProcess, waitForHttp, type Started } from './support/processes.ts';
import { settleWithin, until } from './support/wait.ts';

const checkedIn = (path: string) => readFileSync(join(repoRoot, path), 'utf8');

// --- the image ---------------------------------------------------------------------------------------------

const image = suite('container image');

image('the checked-in Dockerfile, .dockerignore, entrypoint and build script are what the renderer writes', () => {
  for (const file of renderContainerArtefacts()) assert.fixture(checkedIn(file.path), file.content, `${file.path} is stale: run iotfn render`);
  assert.equal(renderContainerArtefacts(), renderContainerArtefacts(), 'rendering twice gives the same files');
});

image('builds in two stages: dev dependencies and checks in the first, production dependencies only in the second', () => {
  const dockerfile = checkedIn('Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  assert.is(stages.length, 2);
  const [build, run] = stages as [string, string];
  assert.ok(build.startsWith(`${nodeImage} AS build`));
  assert.match(build, /RUN npm ci --no-audit/);
  assert.match(build, /npx tsc -p \./);
  assert.match(build, /node --import tsx dashboard\/build\.ts/);
  assert.ok(run.startsWith(`${nodeImage} AS run`));
  assert.match(run, /RUN npm ci --omit=dev/);
  assert.match(run, /ENV NODE_ENV=production/);
  assert.match(run, /^USER node$/m, 'runs as the unprivileged node user');
  assert.match(run, /^HEALTHCHECK .*\/healthz/m);
  assert.match(run, /^ENTRYPOINT \["\/bin\/sh", "docker\/entrypoint\.sh"\]$/m);
  for (const folder of runtimeFolders()) assert.match(run, new RegExp(`^COPY --from=build /app/${folder} \\./${folder}$`, 'm'), `copies ${folder}/`);
});

image('the image carries every folder and production dependency its entry points import', () => {
  const { files, packages } = importGraph('run');
  for (const core of ['bin/iotfn.ts', 'functions/index.ts', 'functions/registry.ts', 'shared/config.ts', 'realtime/relay.ts']) assert.ok(files.includes(core), `${core} is reached`);
  const manifest = JSON.parse(checkedIn('package.json')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
  const missing = packages.filter((name) => !(name in manifest.dependencies));
  assert.equal(missing, [], `imported at run time but not production dependencies (npm ci --omit=dev leaves them out): ${missing.join(', ')}`);
  assert.ok('tsx' in manifest.dependencies, 'tsx runs the TypeScript in the image, so it is a production dependency');
});

image('.dockerignore lets in only what the image is built from, and never an .env file', () => {
  const lines = checkedIn('.dockerignore')
    .split('\n')
    .filter((line) => line && !line.startsWith('#'));
  assert.is(lines[0], '*', 'an allow-list: everything is left out first');
  for (const folder of buildFolders()) assert.ok(lines.includes(`!${folder}/`), `${folder}/ is let back in`);
  for (const folder of runtimeFolders()) assert.ok(buildFolders().includes(folder), `${folder}/ is in the context for the run stage to copy`);
  assert.ok(lines.includes('**/.env'));
  assert.not.ok(lines.some((line) => /^!.*(\.env|test|bench|\.git)/.test(line)));
  const context = buildContext();
  assert.not.ok(context.some((file) => /(^|\/)\.env$/.test(file) || file.startsWith('test/') || file.startsWith('node_modules/')));
  assert.ok(context.includes('docker/entrypoint.sh') && context.includes('package-lock.json'));
});

image('the build stage type-checks and bundles from the build context alone (the Dockerfile\'s RUN line, without Docker)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iotfn-build-context-'));
  try {
    for (const file of buildContext()) cpSync(join(repoRoot, file), join(dir, file));
    // Stands in for `npm ci` of the build stage, which installs the dev dependencies too.
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
    const run = /^RUN (npx tsc .*)$/m.exec(checkedIn('Dockerfile'))?.[1];
    assert.ok(run, 'the build stage runs the type-check');
    const result = spawnSync('sh', ['-c', run], { cwd: dir, encoding: 'utf8', timeout: 180_000 });
    assert.is(result.status, 0, `${result.stdout}${result.stderr}`);
    assert.ok(existsSync(join(dir, 'dashboard/dist/app.js')), 'the dashboard bundle is built');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

image('one docker build, then one tag per function and process, each tag from imageTag()', () => {
  const script = checkedIn('deploy/build-images.sh');
  assert.is(script.match(/^docker build /gm)?.length, 1);
  const tagged = [...script.matchAll(/^docker tag \S+ (\S+)$/gm)].map((m) => m[1]);
  assert.equal(tagged, imageTargets().map((target) => imageTag(target)));
  for (const fn of functions) assert.ok(tagged.includes(imageTag(fn.name)), `${fn.name} has a tag`);
  for (const target of ['relay', 'bridge']) assert.ok(tagged.includes(imageTag(target)), `${target} has a tag`);
  assert.ok(spawnSync('sh', ['-n', 'deploy/build-images.sh'], { cwd: repoRoot }).status === 0, 'the script parses');
});

/**
 * The files Docker would send as the build context, by the rules of .dockerignore (in order, the last matching
 * pattern decides, and a pattern that matches a folder matches everything in it).
 */
function buildContext(): string[] {
  const rules = checkedIn('.dockerignore')
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const negated = line.startsWith('!');
      const pattern = (negated ? line.slice(1) : line).replace(/\/$/, '');
      const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '(.*/)?').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
      return { negated, regex: new RegExp(`^${source}$`) };
    });
  const excluded = (file: string) => {
    const prefixes = file.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    let out = false;
    for (const rule of rules) if (prefixes.some((prefix) => rule.regex.test(prefix))) out = !rule.negated;
    return out;
  };
  // node_modules and .git are never let back in; walking them would only be slow.
  const files = readdirSync(repoRoot, { recursive: true, encoding: 'utf8' }).filter(
    (file) => !/^(node_modules|\.git)(\/|$)/.test(file) && statSync(join(repoRoot, file)).isFile(),
  );
  return files.filter((file) => !excluded(file)).sort();
}

const entry: { started: Started[] } = { started: [] };
const probe = (port: number) => spawnSync(healthProbe[0]!, healthProbe.slice(1), { env: { ...process.env, PORT: String(port), FUNCTION_TARGET: '' }, timeout: 10_000 }).status;

/** The entry point as the container runs it (`sh docker/entrypoint.sh`), from the repository instead of /app. */
async function startTarget(target: string): Promise<{ started: Started; port: number }> {
  const port = await freePort();
  const started = startProcess('sh', ['docker/entrypoint.sh'], {
    FUNCTION_TARGET: target,
    PORT: String(port),
    HOST: '127.0.0.1',
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    REDIS_KEY_PREFIX: `test-${Math.random().toString(36).slice(2, 10)}:`,
    JWT_PRIVATE_KEY: freshSigningKeyPem(),
  });
  entry.started.push(started);
  return { started, port };
}

image('FUNCTION_TARGET=<function>: the entry point serves that function with functions-framework, and the HEALTHCHECK probe passes', async () => {
  assert.is(probe(await freePort()), 1, 'the probe fails where nothing listens');
  const { started, port } = await startTarget('jwks');
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, started);
  assert.is(probe(port), 0);
  const jwks = await fetch(`http://127.0.0.1:${port}/auth/jwks.json`, { signal: AbortSignal.timeout(10_000) });
  assert.is(jwks.status, 200);
  assert.is(((await jwks.json()) as { keys: unknown[] }).keys.length, 1);
});

image('FUNCTION_TARGET=<event function>: functions-framework serves CloudEvents and the HEALTHCHECK probe passes', async () => {
  const fn = eventFunctions[0]!;
  const { started, port } = await startTarget(fn.name);
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, started);
  assert.is(probe(port), 0);
  const metrics = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
  assert.is(metrics.status, 200);
  assert.ok(started.child.exitCode === null, 'still running');
});

image('FUNCTION_TARGET=relay: the entry point runs `iotfn relay`, which answers the probe too', async () => {
  const { started, port } = await startTarget('relay');
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, started);
  assert.is(probe(port), 0);
  assert.match(started.output(), /realtime relay/);
});

image('an unknown FUNCTION_TARGET stops the container at once, naming the valid targets', async () => {
  const { started } = await startTarget('logn');
  const closed = new Promise((resolve) => started.child.once('close', resolve));
  assert.is(await exitCode(started, 10_000), 64);
  await settleWithin(closed, 5000);
  assert.match(started.output(), /FUNCTION_TARGET: expected one of register, login,/);
  assert.match(started.output(), /relay, bridge, triggers, gateway, got "logn"/);
});

image.after(async () => {
  await Promise.all(entry.started.map((s) => s.stop()));
});

image.run();

// --- docker compose ----------------------------------------------------------------------------------------

interface ComposeService {
  image: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  ports?: string[];
  expose?: string[];
  volumes?: string[];
  labels?: Record<string, string>;
  profiles?: string[];
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
}

const compose = suite('docker compose');
// Merge keys (`<<: *app-service`) resolved, as Compose resolves them.
const composeFile = () => parse(checkedIn('docker-compose.yml'), { merge: true }) as ComposeFile;

compose('the checked-in docker-compose.yml, .env.example and Mosquitto files are what the renderer writes', () => {
  for (const file of renderCompose()) assert.fixture(checkedIn(file.path), file.content, `${file.path} is stale: run iotfn render`);
  assert.equal(renderCompose(), renderCompose(), 'rendering twice gives the same files');
});

compose('every HTTP function is a service of its own, with its image tag and FUNCTION_TARGET', () => {
  const { services: all } = composeFile();
  for (const fn of httpFunctions) {
    const service = all[kebab(fn.name)];
    assert.ok(service, `a service for ${fn.name}`);
    assert.is(service.image, imageTag(fn.name));
    assert.is(service.environment?.FUNCTION_TARGET, fn.name);
  }
});

compose('the event functions, the relay, the bridge and the gateway are services of the same image', () => {
  const { services: all } = composeFile();
  assert.ok(eventFunctions.length > 0);
  // `iotfn triggers` runs every event function of the registry from its queue: one service covers them all.
  for (const target of ['triggers', 'relay', 'bridge', 'gateway']) {
    assert.is(all[target]?.image, imageTag(target), `${target}'s image`);
    assert.is(all[target]?.environment?.FUNCTION_TARGET, target);
  }
  assert.match(checkedIn('docker-compose.yml'), new RegExp(eventFunctions.map((fn) => `${fn.name} ← ${fn.trigger.queue.replace(/\./g, '\\.')}`).join(', ')));
  assert.ok(all.bridge?.environment?.MQTT_URL?.startsWith(`mqtt://${mqttBridgeUser}:`));
});

compose('the platform runs on PostgreSQL 15, Redis 7, RabbitMQ 3.13 with management, MongoDB 7 and Mosquitto 2, behind NGINX, watched by Prometheus and Grafana', () => {
  const { services: all } = composeFile();
  assert.is(all.postgres?.image, 'postgres:15');
  assert.is(all.redis?.image, 'redis:7');
  assert.is(all.rabbitmq?.image, 'rabbitmq:3.13-management');
  assert.is(all.mongo?.image, 'mongo:7');
  assert.is(all.mosquitto?.image, 'eclipse-mosquitto:2');
  assert.ok(all.nginx?.ports?.includes('8080:80'), 'NGINX on http://localhost:8080');
  assert.ok(all.nginx?.volumes?.includes('./deploy/nginx/nginx.conf:/etc/nginx/nginx.conf:ro'));
  assert.ok(all.prometheus && all.grafana);
  assert.ok(all.rabbitmq?.expose?.includes('15692'), 'the rabbitmq_prometheus plugin port is reachable');
});

compose('every service has a health check, and every dependency waits for one', () => {
  const { services: all } = composeFile();
  for (const [name, service] of Object.entries(all)) {
    assert.ok(service.healthcheck?.test?.length, `${name} has a health check`);
    for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
      assert.ok(all[dependency], `${name} depends on ${dependency}, which exists`);
      assert.is(condition, 'service_healthy', `${name} waits for ${dependency} to be healthy`);
    }
  }
  for (const upstream of upstreamServices()) assert.ok(all.nginx?.depends_on?.[upstream], `nginx waits for ${upstream}`);
  for (const fn of httpFunctions) assert.ok(all[kebab(fn.name)]?.depends_on?.postgres, `${fn.name} waits for PostgreSQL`);
});

compose('state lives in named volumes, and every named volume is declared', () => {
  const file = composeFile();
  const used = Object.values(file.services)
    .flatMap((service) => service.volumes ?? [])
    .filter((volume) => !volume.startsWith('.'))
    .map((volume) => volume.split(':')[0]!);
  assert.equal([...new Set(used)].sort(), Object.keys(file.volumes).sort());
  for (const name of ['postgres', 'redis', 'rabbitmq', 'mongo']) assert.ok(file.services[name]?.volumes?.some((v) => v.startsWith(`${name}-data:`)), `${name} keeps its data`);
});

compose('no secret is committed: passwords and keys come from .env, and .env.example leaves them empty', () => {
  const text = checkedIn('docker-compose.yml');
  assert.not.match(text, /BEGIN [A-Z ]*PRIVATE KEY/);
  const { services: all } = composeFile();
  for (const [name, service] of Object.entries(all)) {
    for (const [key, value] of Object.entries(service.environment ?? {})) {
      if (/PASSWORD|PASS$|PRIVATE_KEY|SECRET/.test(key)) assert.match(String(value), /^\$\{[A-Z_]+:\?/, `${name}.${key} is required from .env, never written here`);
      const credentials = /:\/\/[^:/@]+:([^@]+)@/.exec(String(value));
      if (credentials) assert.match(credentials[1]!, /^\$\{[A-Z_]+\}$/, `${name}.${key} takes its password from .env`);
    }
  }
  const example = checkedIn('.env.example');
  for (const secret of [...Object.keys(composeSecrets), 'JWT_PRIVATE_KEY']) assert.match(example, new RegExp(`^${secret}=$`, 'm'), `${secret} is empty in .env.example`);
  assert.not.match(example, /BEGIN [A-Z ]*PRIVATE KEY/);
});

compose('.env.example lists every variable of shared/config.ts with its default', () => {
  const example = checkedIn('.env.example');
  for (const name of Object.keys(configSchema.shape) as Array<keyof typeof configSchema.shape>) {
    if (name === 'JWT_PRIVATE_KEY') continue;
    const value = configDefault(name).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assert.match(example, new RegExp(`^(# )?${name}=${value}(\\s|$)`, 'm'), `${name}=${configDefault(name)}`);
  }
});

compose('kompose: services get ports or expose (so it makes Services), and its defaults are overridden where wrong', () => {
  const { services: all } = composeFile();
  for (const [name, service] of Object.entries(all)) {
    const labels = service.labels ?? {};
    if (upstreamServices().includes(name) || ['postgres', 'redis', 'rabbitmq', 'mongo'].includes(name)) {
      assert.ok((service.expose?.length ?? 0) + (service.ports?.length ?? 0) > 0, `${name} is reachable by name in Kubernetes too`);
    }
    // kompose refuses kompose.service.type on a service without ports.
    if (labels['kompose.service.type']) assert.ok(service.ports?.length, `${name} has ports for its service type`);
    // A bind-mounted file would become an empty PersistentVolumeClaim; configuration belongs in a ConfigMap.
    if (service.volumes?.some((volume) => volume.startsWith('./'))) assert.is(labels['kompose.volume.type'], 'configMap', `${name}'s files become a ConfigMap`);
  }
  assert.is(all.nginx?.labels?.['kompose.service.type'], 'nodeport');
  for (const fn of httpFunctions) assert.is(all[kebab(fn.name)]?.labels?.['kompose.service.healthcheck.readiness.http_get_path'], '/readyz');
});

compose.run();

// --- mosquitto ---------------------------------------------------------------------------------------------

const broker = suite('mosquitto configuration, in the real Mosquitto');
const b: { dir?: string; started?: Started; url?: string; clients: mqtt.MqttClient[] } = { clients: [] };
const bridgePassword = 'test-bridge-password';

broker.before(async () => {
  const port = await freePort();
  b.dir = mkdtempSync(join(tmpdir(), 'iotfn-mosquitto-'));
  // Mosquitto drops to its own user, which must be able to read the files.
  chmodSync(b.dir, 0o755);
  const { conf, acl } = mosquittoFiles({ listener: `${port} 127.0.0.1`, configDir: b.dir, dataDir: b.dir });
  writeFileSync(join(b.dir, 'mosquitto.conf'), conf);
  writeFileSync(join(b.dir, 'acl'), acl);
  // What the Compose service does at start: the bridge's password file, from the secret.
  const passwd = spawnSync('mosquitto_passwd', ['-c', '-b', join(b.dir, 'passwd'), mqttBridgeUser, bridgePassword]);
  assert.is(passwd.status, 0, String(passwd.stderr));
  chmodSync(join(b.dir, 'passwd'), 0o644);
  b.started = startProcess('mosquitto', ['-c', join(b.dir, 'mosquitto.conf')], {});
  b.url = `mqtt://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const client = await mqtt.connectAsync(b.url, { protocolVersion: 5, connectTimeout: 1000, reconnectPeriod: 0 }).catch(() => undefined);
    if (client) {
      await client.endAsync();
      break;
    }
    if (Date.now() > deadline || b.started.child.exitCode !== null) throw new Error(`mosquitto did not start: ${b.started.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

const connect = async (options: mqtt.IClientOptions = {}) => {
  const client = await mqtt.connectAsync(b.url!, { protocolVersion: 5, connectTimeout: 5000, reconnectPeriod: 0, ...options });
  b.clients.push(client);
  return client;
};

/** The messages a client receives from now on. */
function inbox(client: mqtt.MqttClient): Array<{ topic: string; token: unknown }> {
  const messages: Array<{ topic: string; token: unknown }> = [];
  client.on('message', (topic, _payload, packet) => messages.push({ topic, token: packet.properties?.userProperties?.token }));
  return messages;
}

broker('only the bridge account reads device telemetry (token property included), through its shared subscription', async () => {
  const bridge = await connect({ username: mqttBridgeUser, password: bridgePassword });
  const granted = await bridge.subscribeAsync('$share/iotfn-bridge/devices/+/telemetry', { qos: 1 });
  assert.ok(granted.every((g) => g.qos < 0x80), 'the shared subscription is granted');
  // Mosquitto grants any subscription and applies the ACL when it delivers: an eavesdropper receives nothing.
  const eavesdropper = await connect();
  await eavesdropper.subscribeAsync('devices/+/telemetry', { qos: 1 });
  const [toBridge, toEavesdropper] = [inbox(bridge), inbox(eavesdropper)];
  const device = await connect();
  await device.publishAsync('devices/d-1/telemetry', JSON.stringify({ values: { t: 1 } }), { qos: 1, properties: { userProperties: { token: 'device-token' } } });
  await until('the bridge receives the message', () => toBridge.length > 0, 5000);
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(toBridge, [{ topic: 'devices/d-1/telemetry', token: 'device-token' }]);
  assert.equal(toEavesdropper, []);
});

broker('a device cannot publish anywhere but a telemetry topic', async () => {
  const device = await connect();
  // MQTT 5: the broker answers a refused QoS 1 publish with a PUBACK reason code, which mqtt.js turns into an error.
  const refused = await device.publishAsync('devices/d-1/commands', 'x', { qos: 1 }).then(
    () => undefined,
    (error: Error) => error,
  );
  assert.match(String(refused?.message), /not authori[sz]ed/i);
  await device.publishAsync('devices/d-1/telemetry', 'y', { qos: 1 });
});

broker("the container's health check command gets the broker's uptime in time", () => {
  const { services: all } = composeFile();
  const test = all.mosquitto!.healthcheck!.test.slice(1).map((arg) => arg.replace('$$', '$'));
  const port = new URL(b.url!).port;
  const result = spawnSync(test[0]!, [...test.slice(1), '-p', port], { timeout: 10_000 });
  assert.is(result.status, 0, String(result.stderr));
});

broker('a wrong bridge password is refused', async () => {
  const refused = mqtt.connectAsync(b.url!, { protocolVersion: 5, username: mqttBridgeUser, password: 'wrong', connectTimeout: 3000, reconnectPeriod: 0 });
  assert.is(await settleWithin(refused.then((client) => client.endAsync()), 5000), 'rejected');
});

broker.after(async () => {
  await Promise.allSettled(b.clients.map((client) => client.endAsync(true)));
  await b.started?.stop();
  if (b.dir) rmSync(b.dir, { recursive: true, force: true });
});

broker.run();
