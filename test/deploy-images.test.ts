/**
 * The container image and Docker Compose, as far as they can be checked without a Docker engine: the rendered
 * files equal the checked-in ones; the Dockerfile has the stages, user and probe it should, and its build stage
 * type-checks and compiles from the build context alone (what the image then runs, started from a folder laid out
 * like it, is test/image-layout.test.ts); docker-compose.yml parses and
 * has a service, image tag and health-gated dependencies for every function; no secret is committed; and the
 * Mosquitto configuration runs in the real Mosquitto (dynamic security: no anonymous client, an account per
 * device that the admin account creates, each allowed its own topic only).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { parse } from 'yaml';
import { configSchema } from '../shared/config.ts';
import { eventFunctions, functions, httpFunctions } from '../functions/registry.ts';
import { imageTag, kebab } from '../deploy/settings.ts';
import { buildFolders, imageTargets, importGraph, functionNodeFlags, nodeFlags, nodeImage, renderContainerArtefacts } from '../deploy/renderers/container.ts';
import { cliBundle, dashboardDir, distDir, functionBundle } from '../deploy/build.ts';
import { composeSecrets, configDefault, mosquittoFiles, mqttBridgeUser, mqttDevicePort, mqttPlatformPort, renderCompose, upstreamServices } from '../deploy/renderers/compose.ts';
import { dynsecCommands, startProjectMosquitto, type ProjectMosquitto } from './support/mosquitto.ts';
import { repoRoot } from './support/processes.ts';
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
  assert.match(build, /^RUN npx tsc -p \. && npx tsc -p dashboard && npm run build$/m, 'type-checks, then compiles');
  assert.ok(run.startsWith(`${nodeImage} AS run`));
  assert.match(run, /RUN npm ci --omit=dev/);
  assert.match(run, /ENV NODE_ENV=production/);
  assert.match(run, /^USER node$/m, 'runs as the unprivileged node user');
  assert.match(run, /^HEALTHCHECK .*\/healthz/m);
  assert.match(run, /^ENTRYPOINT \["\/bin\/sh", "docker\/entrypoint\.sh"\]$/m);
  const copies = [...run.matchAll(/^COPY (.+)$/gm)].map((match) => match[1]);
  assert.equal(copies, ['package.json package-lock.json ./', `--from=build /app/${distDir} ./${distDir}`, 'docker/entrypoint.sh ./docker/entrypoint.sh'], 'the compiled dist/ and no source');
  const instructions = run.split('\n').filter((line) => !line.startsWith('#'));
  assert.not.ok(instructions.some((line) => /tsx|tsconfig/.test(line)), 'nothing of TypeScript in the run stage');
});

image('the entrypoint runs every target from dist/ with plain node and source maps', () => {
  const entrypoint = checkedIn('docker/entrypoint.sh');
  const runs = [...entrypoint.matchAll(/exec (node .+?) ;;/g)].map((match) => match[1]!);
  assert.ok(runs.length > 0 && runs.every((line) => line.startsWith('node ') && !/tsx|\.ts\b/.test(line)), runs.join('\n'));
  assert.ok(runs.includes(`node ${functionNodeFlags} "${functionBundle('$target')}"`), 'a function runs its own bundle with its own flags');
  assert.not.match(functionNodeFlags, /source-maps/, 'a function starts without reading source maps');
  assert.ok(runs.includes(`node ${nodeFlags} ${cliBundle} relay`), 'the relay runs from the CLI bundle');
});

image('the run stage needs no dev dependency: tsx, typescript and esbuild are dev dependencies, and the build is an npm script', () => {
  const manifest = JSON.parse(checkedIn('package.json')) as { dependencies: Record<string, string>; devDependencies: Record<string, string>; scripts: Record<string, string> };
  for (const tool of ['tsx', 'typescript', 'esbuild']) {
    assert.ok(tool in manifest.devDependencies && !(tool in manifest.dependencies), `${tool} is a dev dependency`);
  }
  assert.is(manifest.scripts.build, 'node --import tsx deploy/build.ts');
  assert.match(checkedIn('.ci/run'), /typecheck\n[\s\S]*npm run --silent build\n[\s\S]*npm test/, 'CI builds after the type-check, before the tests');
});

image('.dockerignore lets in only what the image is built from, and never an .env file', () => {
  const lines = checkedIn('.dockerignore')
    .split('\n')
    .filter((line) => line && !line.startsWith('#'));
  assert.is(lines[0], '*', 'an allow-list: everything is left out first');
  for (const folder of buildFolders()) assert.ok(lines.includes(`!${folder}/`), `${folder}/ is let back in`);
  for (const core of ['bin/iotfn.ts', 'functions/index.ts', 'functions/host.ts', 'deploy/build.ts', 'dashboard/build.ts', 'realtime/relay.ts']) {
    assert.ok(importGraph().files.includes(core), `${core} is reached from the build's entry points`);
  }
  assert.ok(lines.includes('**/.env'));
  assert.ok(lines.includes(`${distDir}/`), 'a dist/ of the machine is never sent: the build stage compiles its own');
  assert.not.ok(lines.some((line) => /^!.*(\.env|test|bench|\.git)/.test(line)));
  const context = buildContext();
  assert.not.ok(context.some((file) => /(^|\/)\.env$/.test(file) || file.startsWith('test/') || file.startsWith('node_modules/')));
  assert.ok(context.includes('docker/entrypoint.sh') && context.includes('package-lock.json'));
  assert.not.ok(context.some((file) => file.startsWith(`${distDir}/`)));
});

image('the build stage type-checks and compiles from the build context alone (the Dockerfile\'s RUN line, without Docker)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iotfn-build-context-'));
  try {
    for (const file of buildContext()) cpSync(join(repoRoot, file), join(dir, file));
    // Stands in for `npm ci` of the build stage, which installs the dev dependencies too.
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
    const run = /^RUN (npx tsc .*)$/m.exec(checkedIn('Dockerfile'))?.[1];
    assert.ok(run, 'the build stage runs the type-check');
    const result = spawnSync('sh', ['-c', run], { cwd: dir, encoding: 'utf8', timeout: 180_000 });
    assert.is(result.status, 0, `${result.stdout}${result.stderr}`);
    for (const file of [functionBundle('jwks'), cliBundle, `${dashboardDir}/app.js`]) assert.ok(existsSync(join(dir, file)), `${file} is built`);
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

image.run();

// --- docker compose ----------------------------------------------------------------------------------------

interface ComposeService {
  image: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  command?: string[];
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
const b: { mosquitto?: ProjectMosquitto; admin?: mqtt.MqttClient; clients: mqtt.MqttClient[]; dirs: string[] } = { clients: [], dirs: [] };
const deviceId = 'd-test-1';
const devicePassword = `pw-${randomBytes(12).toString('hex')}`;

broker.before(async () => {
  b.mosquitto = await startProjectMosquitto();
});

const connect = async (url: string, options: mqtt.IClientOptions = {}) => {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, connectTimeout: 5000, reconnectPeriod: 0, ...options });
  b.clients.push(client);
  return client;
};
const admin = async () => (b.admin ??= await connect(b.mosquitto!.platformUrl));
const asDevice = (id = deviceId, password = devicePassword, options: mqtt.IClientOptions = {}) => connect(b.mosquitto!.devicesUrl, { username: id, password, ...options });

/** A device's role and account, as the bridge creates them: its own telemetry topic only. */
const deviceAccount = (id: string, password: string) => [
  { command: 'createRole', rolename: `device:${id}`, acls: [{ acltype: 'publishClientSend', topic: `devices/${id}/telemetry`, allow: true }] },
  { command: 'createClient', username: id, password, roles: [{ rolename: `device:${id}` }] },
];

/** Publishes at QoS 1 and returns the PUBACK's reason code (0 when the broker sends none). */
async function pubackReason(client: mqtt.MqttClient, topic: string, payload: string | Buffer): Promise<number> {
  let reason: number | undefined;
  const onPacket = (packet: mqtt.Packet) => {
    if (packet.cmd === 'puback') reason = packet.reasonCode ?? 0;
  };
  client.on('packetreceive', onPacket);
  try {
    const outcome = await settleWithin(client.publishAsync(topic, payload, { qos: 1 }), 5000);
    assert.not.equal(outcome, 'timed out', `no PUBACK for ${topic}`);
    return reason ?? -1;
  } finally {
    client.off('packetreceive', onPacket);
  }
}

/** Runs a mosquitto_pub or mosquitto_sub command line without credentials against a port. */
function anonymous(tool: 'mosquitto_pub' | 'mosquitto_sub', port: number, version: 'mqttv311' | 'mqttv5') {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-V', version, '-t', 'devices/d-any/telemetry'];
  return spawnSync(tool, tool === 'mosquitto_pub' ? [...args, '-m', '{"values":{"t":1}}', '-q', '1'] : [...args, '-C', '1', '-W', '3'], { encoding: 'utf8', timeout: 10_000 });
}

broker('an anonymous CONNECT is refused on both listeners, over MQTT 3.1.1 and 5', async () => {
  const { devicePort, platformPort } = b.mosquitto!;
  for (const port of [devicePort, platformPort]) {
    for (const tool of ['mosquitto_pub', 'mosquitto_sub'] as const) {
      for (const version of ['mqttv311', 'mqttv5'] as const) {
        const result = anonymous(tool, port, version);
        assert.ok(result.status !== 0 && result.status !== null, `${tool} -V ${version} on ${port} is refused (exit ${result.status})`);
        assert.match(result.stderr, /not authori[sz]ed/i, `${tool} -V ${version} on ${port}: ${result.stderr}`);
      }
    }
  }
  await until("the broker's log says why", () => (b.mosquitto!.output().match(/disconnected, not authorised/g)?.length ?? 0) >= 8, 5000);
});

broker('the admin account (MQTT_BRIDGE_PASSWORD) signs in on the platform listener and creates a device account over $CONTROL/dynamic-security/v1', async () => {
  const responses = await dynsecCommands(await admin(), deviceAccount(deviceId, devicePassword));
  assert.equal(responses.map((r) => [r.command, r.error]), [['createRole', undefined], ['createClient', undefined]]);
  const refused = mqtt.connectAsync(b.mosquitto!.platformUrl.replace(`:${b.mosquitto!.adminPassword}@`, ':wrong@'), { protocolVersion: 5, connectTimeout: 3000, reconnectPeriod: 0 });
  assert.is(await settleWithin(refused.then((client) => client.endAsync()), 5000), 'rejected', 'a wrong admin password is refused');
});

broker("a device publishes to its own telemetry topic (PUBACK 0 or 16), is not authorised (135) on another device's, and its wrong password is refused", async () => {
  const device = await asDevice();
  const own = await pubackReason(device, `devices/${deviceId}/telemetry`, JSON.stringify({ values: { t: 1 } }));
  assert.ok(own === 0 || own === 16, `PUBACK reason ${own}`);
  assert.is(await pubackReason(device, 'devices/d-someone-else/telemetry', JSON.stringify({ values: { t: 1 } })), 135);
  assert.is(await pubackReason(device, `devices/${deviceId}/commands`, 'x'), 135, 'nor on a topic its role does not allow');
  const wrong = mqtt.connectAsync(b.mosquitto!.devicesUrl, { protocolVersion: 5, username: deviceId, password: 'wrong', connectTimeout: 3000, reconnectPeriod: 0 });
  assert.is(await settleWithin(wrong.then((client) => client.endAsync()), 5000), 'rejected');
});

broker("the admin account receives the devices' telemetry through a shared subscription", async () => {
  const bridge = await admin();
  const received: string[] = [];
  bridge.on('message', (topic) => received.push(topic));
  const granted = await bridge.subscribeAsync('$share/iotfn-bridge/devices/+/telemetry', { qos: 1 });
  assert.ok(granted.every((g) => g.qos < 0x80), 'the shared subscription is granted');
  const device = await asDevice();
  assert.is(await pubackReason(device, `devices/${deviceId}/telemetry`, JSON.stringify({ values: { t: 2 } })), 0, 'a subscriber now: reason 0');
  await until('the bridge receives the message', () => received.includes(`devices/${deviceId}/telemetry`), 5000);
  await bridge.unsubscribeAsync('$share/iotfn-bridge/devices/+/telemetry');
});

broker("on the devices' listener the client id is the user name: a device cannot take over another's session", async () => {
  const otherId = 'd-test-2';
  const otherPassword = `pw-${randomBytes(12).toString('hex')}`;
  const responses = await dynsecCommands(await admin(), deviceAccount(otherId, otherPassword));
  assert.ok(responses.every((r) => !r.error), JSON.stringify(responses));
  const other = await asDevice(otherId, otherPassword, { clientId: otherId });
  let otherClosed = false;
  other.on('close', () => (otherClosed = true));
  // Same client id as the other device: without use_username_as_clientid the broker would disconnect it.
  const intruder = await asDevice(deviceId, devicePassword, { clientId: otherId });
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.not.ok(otherClosed, 'the other device stays connected');
  assert.ok(intruder.connected);
  const reason = await pubackReason(other, `devices/${otherId}/telemetry`, '{"values":{"t":3}}');
  assert.ok(reason === 0 || reason === 16, `the other device still publishes (${reason})`);
});

broker('changing or deleting a device account disconnects its client at once', async () => {
  const id = 'd-test-3';
  const password = `pw-${randomBytes(12).toString('hex')}`;
  await dynsecCommands(await admin(), deviceAccount(id, password));
  const device = await asDevice(id, password);
  const closed = new Promise<void>((resolve) => device.once('close', () => resolve()));
  const [response] = await dynsecCommands(await admin(), [{ command: 'deleteClient', username: id }]);
  assert.is(response?.error, undefined);
  assert.is(await settleWithin(closed, 5000), 'resolved', 'kicked');
  const again = mqtt.connectAsync(b.mosquitto!.devicesUrl, { protocolVersion: 5, username: id, password, connectTimeout: 3000, reconnectPeriod: 0 });
  assert.is(await settleWithin(again.then((client) => client.endAsync()), 5000), 'rejected');
});

broker('a PUBLISH of a full telemetry body passes; one over max_packet_size closes the connection', async () => {
  const { conf } = mosquittoFiles();
  const maxPacketSize = Number(/^max_packet_size (\d+)$/m.exec(conf)?.[1]);
  const bodyLimit = Number(configDefault('BODY_LIMIT_BYTES'));
  assert.ok(maxPacketSize > bodyLimit, `max_packet_size ${maxPacketSize} leaves room over BODY_LIMIT_BYTES ${bodyLimit}`);
  for (const protocolVersion of [5, 4] as const) {
    const device = await asDevice(deviceId, devicePassword, { protocolVersion });
    const reason = await pubackReason(device, `devices/${deviceId}/telemetry`, Buffer.alloc(bodyLimit, 'a'));
    assert.ok(reason === 0 || reason === 16, `MQTT ${protocolVersion}: a body of BODY_LIMIT_BYTES is accepted (${reason})`);
    const closed = new Promise<void>((resolve) => device.once('close', () => resolve()));
    device.publish(`devices/${deviceId}/telemetry`, Buffer.alloc(maxPacketSize, 'a'), { qos: 1 });
    assert.is(await settleWithin(closed, 5000), 'resolved', `MQTT ${protocolVersion}: the broker closes the connection`);
    device.end(true);
  }
});

broker("the Compose service's health check signs in as the admin on the platform listener", () => {
  const { services: all } = composeFile();
  const [kind, shell, flag, command] = all.mosquitto!.healthcheck!.test as [string, string, string, string];
  assert.equal([kind, shell, flag], ['CMD', 'sh', '-c']);
  assert.ok(command.includes(`-p ${mqttPlatformPort}`), command);
  const local = command.replaceAll('$$', '$').replace(`-p ${mqttPlatformPort}`, `-p ${b.mosquitto!.platformPort}`);
  const run = (password: string) => spawnSync('sh', ['-c', local], { env: { ...process.env, MQTT_BRIDGE_PASSWORD: password }, encoding: 'utf8', timeout: 10_000 });
  const healthy = run(b.mosquitto!.adminPassword);
  assert.is(healthy.status, 0, healthy.stderr);
  assert.match(healthy.stdout, /\d+ seconds/);
  assert.is.not(run('wrong').status, 0, 'a wrong password fails the check');
});

broker("the Compose service's start command makes the dynamic-security file on the first start only", () => {
  const { services: all } = composeFile();
  const service = all.mosquitto!;
  assert.ok(service.ports?.length === 1 && service.ports[0] === `${mqttDevicePort}:${mqttDevicePort}`, 'only the devices listener is published');
  assert.ok(service.expose?.includes(String(mqttPlatformPort)));
  assert.ok(service.volumes?.includes('mosquitto-data:/mosquitto/data'), 'the dynamic-security file and the persistence file are kept');
  assert.match(mosquittoFiles().conf, /^plugin_opt_config_file \/mosquitto\/data\/dynamic-security\.json$/m);
  const start = service.command!;
  assert.equal(start.slice(0, 2), ['sh', '-c']);
  assert.ok(start[2]!.includes(`mosquitto_ctrl dynsec init /mosquitto/data/dynamic-security.json ${mqttBridgeUser} "$$MQTT_BRIDGE_PASSWORD"`), start[2]);
  const dir = mkdtempSync(join(tmpdir(), 'iotfn-mosquitto-start-'));
  b.dirs.push(dir);
  // The command as the container's shell runs it, in a folder of ours and without starting the broker.
  const local = start[2]!.replaceAll('$$', '$').replaceAll('/mosquitto/data', dir).replace(/exec mosquitto -c \S+$/, 'echo started');
  const run = (password: string) => spawnSync('sh', ['-c', local], { env: { ...process.env, MQTT_BRIDGE_PASSWORD: password }, encoding: 'utf8', timeout: 10_000 });
  const first = run('first-password');
  assert.is(first.status, 0, first.stderr);
  assert.match(first.stdout, /started/);
  const made = readFileSync(join(dir, 'dynamic-security.json'), 'utf8');
  assert.match(made, new RegExp(`"username":\\s*"${mqttBridgeUser}"`));
  const second = run('second-password');
  assert.is(second.status, 0, second.stderr);
  assert.match(second.stdout, /started/);
  assert.is(readFileSync(join(dir, 'dynamic-security.json'), 'utf8'), made, 'a restart keeps the accounts');
});

broker('the accounts survive a restart: the device signs in and publishes again', async () => {
  await Promise.allSettled(b.clients.splice(0).map((client) => client.endAsync(true)));
  b.admin = undefined;
  await b.mosquitto!.restart();
  const device = await asDevice();
  const reason = await pubackReason(device, `devices/${deviceId}/telemetry`, JSON.stringify({ values: { t: 4 } }));
  assert.ok(reason === 0 || reason === 16, `PUBACK reason ${reason}`);
  assert.is(await pubackReason(device, 'devices/d-someone-else/telemetry', '{}'), 135, 'and its role still limits it');
});

broker.after(async () => {
  await Promise.allSettled(b.clients.map((client) => client.endAsync(true)));
  await b.mosquitto?.stop();
  for (const dir of b.dirs) rmSync(dir, { recursive: true, force: true });
});

broker.run();
