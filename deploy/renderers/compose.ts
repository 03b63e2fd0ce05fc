/**
 * Docker Compose: the whole platform on one machine, rendered from the registry and the config schema.
 *
 *   cp .env.example .env   # fill in the secrets
 *   sh deploy/build-images.sh && docker compose up -d
 *   curl localhost:8080/healthz
 *
 * Every HTTP function is its own service (the same image, FUNCTION_TARGET naming the function), behind NGINX.
 * Every long-lived process of functions/processes.ts is a service of the same image too: `triggers` consumes
 * each event function's durable queue (the job a Knative Trigger does in a cluster), `scheduler` runs the
 * scheduled functions on their schedules (a PingSource's job; no service per scheduled function), the relay and
 * the MQTT bridge, and a `gateway` serving the API docs and the dashboard on embedded adapters of its own.
 * There is no simulator in the repository yet, so there is no `simulators` profile.
 *
 * The file also converts with `kompose convert`; `kompose.*` labels mark where kompose's defaults are wrong.
 * It renders `.env.example` (every variable of shared/config.ts with its default, every secret empty) and the
 * Mosquitto configuration: Mosquitto 2 with its dynamic-security plugin, where every device is an account of its
 * own and the bridge, with the broker's admin account, creates, changes and deletes them at run time.
 */
import { Document, isMap, isScalar, visit, type Node, type YAMLMap } from 'yaml';
import { configSchema, credentials, type Credential } from '../../shared/config.ts';
import { eventFunctions, httpFunctions } from '../../functions/registry.ts';
import type { PlatformFunction } from '../../shared/function.ts';
import type { RenderedFile } from '../render.ts';
import { functionPort, imageTag, kebab, metricsPort, project } from '../settings.ts';
import { healthProbe } from './container.ts';
import { credentialsOf, processes, type LongLivedProcess } from '../../functions/processes.ts';
import { mqttMaxPacketBytes } from '../../functions/devices/model/device-topics.ts';

export type ConfigName = keyof typeof configSchema.shape;

/** Images of the services the platform runs on; pinned to a major (or minor) line, as the issue asks. */
export const serviceImages = {
  postgres: 'postgres:15',
  redis: 'redis:7',
  rabbitmq: 'rabbitmq:3.13-management',
  mongo: 'mongo:7',
  mosquitto: 'eclipse-mosquitto:2',
  nginx: 'nginx:1.27',
  prometheus: 'prom/prometheus:v2.53.0',
  grafana: 'grafana/grafana:11.1.0',
} as const;

/** Secrets Compose interpolates from `.env`; none has a default, so a missing one stops `docker compose up`. */
export const composeSecrets = {
  POSTGRES_PASSWORD: 'PostgreSQL password of the iotfn user',
  RABBITMQ_PASSWORD: 'RabbitMQ password of the iotfn user (also for the management UI)',
  MONGO_PASSWORD: 'MongoDB root password of the iotfn user',
  MQTT_BRIDGE_PASSWORD: "Mosquitto's admin account, the bridge's: reads device messages, manages device accounts (taken at the broker's first start only)",
  GRAFANA_ADMIN_PASSWORD: 'Grafana admin password',
  DEVICE_TOKEN_SECRET: 'Key device tokens are derived from (devices functions and bridge), 32 or more characters: openssl rand -hex 32',
} as const;

/** The broker's admin account (dynamic security): the bridge connects with it and manages the device accounts. */
export const mqttBridgeUser = 'iotfn-bridge';
/** Mosquitto's listener for devices, the one port published. */
export const mqttDevicePort = 1883;
/** Mosquitto's listener for the platform's bridge only: never published outside the cluster. */
export const mqttPlatformPort = 1884;
/** Where the eclipse-mosquitto:2 image has the dynamic-security plugin. */
export const mosquittoPluginPath = '/usr/lib/mosquitto_dynamic_security.so';
/** The dynamic-security configuration (accounts, roles, ACLs), in Mosquitto's data folder. */
export const dynamicSecurityFile = 'dynamic-security.json';

const required = (name: string) => `\${${name}:?set ${name} in .env (see .env.example)}`;

/**
 * How Compose sets a variable of shared/config.ts: `compose` fixes it for the topology, `env` passes it through
 * from `.env` with the schema's default (to the signing functions only, with `signingOnly`), `secret` requires
 * it from `.env`, and `default` leaves it at its default. Who is given a credential (a `secret`, or a fixed URL
 * with its password) is not decided here: shared/config.ts `credentials` and functions/processes.ts say.
 */
type InCompose =
  | { set: 'compose'; value: string; note: string }
  | { set: 'env'; signingOnly?: true }
  | { set: 'secret'; note: string }
  | { set: 'default'; note: string };

/**
 * Every variable of shared/config.ts: a Record over the schema's keys, so a new variable does not compile
 * until someone decides here what Compose does with it.
 */
const configInCompose: Record<ConfigName, InCompose> = {
  NODE_ENV: { set: 'compose', value: 'production', note: 'every service runs in production mode' },
  PORT: { set: 'compose', value: String(functionPort), note: 'every container listens on the same port' },
  HOST: { set: 'compose', value: '0.0.0.0', note: 'reachable from the other containers' },
  METRICS_PORT: { set: 'default', note: 'Prometheus scrapes every service there on the Compose network; exposed, never published to the host' },
  LOG_LEVEL: { set: 'env' },
  DATA_DIR: { set: 'default', note: 'a folder of the image the service user owns' },
  DATABASE_URL: { set: 'compose', value: `postgres://${project}:\${POSTGRES_PASSWORD}@postgres:5432/${project}`, note: 'the postgres service' },
  REDIS_URL: { set: 'compose', value: 'redis://redis:6379/0', note: 'the redis service' },
  AMQP_URL: { set: 'compose', value: `amqp://${project}:\${RABBITMQ_PASSWORD}@rabbitmq:5672`, note: 'the rabbitmq service' },
  MONGO_URL: { set: 'compose', value: `mongodb://${project}:\${MONGO_PASSWORD}@mongo:27017/${project}?authSource=admin`, note: 'the mongo service: telemetry' },
  MQTT_URL: { set: 'compose', value: `mqtt://${mqttBridgeUser}:\${MQTT_BRIDGE_PASSWORD}@mosquitto:${mqttPlatformPort}`, note: "where it is read (the bridge): the mosquitto service's platform listener, as its admin account" },
  MQTT_PUBLIC_URL: { set: 'compose', value: 'mqtt://localhost:1883', note: "what GET /info names for devices: the mosquitto service's published device port" },
  MQTT_LISTEN_PORT: { set: 'default', note: 'only the gateway runs an embedded broker, and nothing reaches it' },
  MQTT_BRIDGE_CONNECTIONS: { set: 'env' },
  MQTT_BRIDGE_GROUP: { set: 'env' },
  REDIS_KEY_PREFIX: { set: 'env' },
  JWT_PRIVATE_KEY: { set: 'secret', note: 'the signing functions only' },
  JWT_PREVIOUS_PUBLIC_KEYS: { set: 'env', signingOnly: true },
  JWKS_URL: { set: 'compose', value: `http://jwks:${functionPort}/auth/jwks.json`, note: 'every service without the signing key verifies with the jwks function' },
  JWT_ISSUER: { set: 'env' },
  JWT_AUDIENCE: { set: 'env' },
  ACCESS_TOKEN_TTL_SECONDS: { set: 'env' },
  REFRESH_TOKEN_TTL_SECONDS: { set: 'env' },
  BODY_LIMIT_BYTES: { set: 'env' },
  TELEMETRY_MAX_POINTS: { set: 'env' },
  TELEMETRY_RETENTION_DAYS: { set: 'env' },
  TELEMETRY_ROLLUP_RETENTION_DAYS: { set: 'env' },
  TELEMETRY_MAX_FUTURE_SKEW_SECONDS: { set: 'env' },
  OPEN_METEO_URL: { set: 'env' },
  OPEN_METEO_TIMEOUT_MS: { set: 'env' },
  RELAY_COALESCE_MS: { set: 'env' },
  RELAY_MAX_SOCKETS_PER_USER: { set: 'env' },
  RELAY_MAX_SUBSCRIPTIONS_PER_SOCKET: { set: 'env' },
  DEVICE_ONLINE_SECONDS: { set: 'env' },
  DEVICE_TOKEN_SECRET: { set: 'secret', note: "the devices functions (they issue device tokens) and the bridge (it gives the broker each device's credentials) only" },
  DEVICE_CACHE_SECONDS: { set: 'env' },
  LOGIN_MAX_PER_ACCOUNT: { set: 'env' },
  LOGIN_MAX_PER_ADDRESS: { set: 'env' },
  LOGIN_WINDOW_SECONDS: { set: 'env' },
  REGISTER_MAX_PER_ADDRESS: { set: 'env' },
  REGISTER_WINDOW_SECONDS: { set: 'env' },
  REFRESH_MAX_PER_ADDRESS: { set: 'env' },
  REFRESH_WINDOW_SECONDS: { set: 'env' },
  ARGON2_CONCURRENCY: { set: 'env' },
  ARGON2_QUEUE: { set: 'env' },
  TRUST_PROXY: { set: 'compose', value: 'true', note: 'NGINX sets X-Forwarded-For' },
};

/** The default of a config variable as it would be written in `.env`: what the schema makes of an unset variable. */
export function configDefault(name: ConfigName): string {
  const parsed = configSchema.shape[name].safeParse(undefined);
  const value: unknown = parsed.success ? parsed.data : undefined;
  if (value === undefined) return '';
  return Array.isArray(value) ? value.join(',') : String(value);
}

const configNames = Object.keys(configSchema.shape) as ConfigName[];
const passThrough = (name: ConfigName) => `\${${name}:-${configDefault(name)}}`;
const isPassedToAll = (name: ConfigName) => {
  const how = configInCompose[name];
  return how.set === 'env' && !how.signingOnly;
};
const fixedValue = (name: ConfigName) => {
  const how = configInCompose[name];
  if (how.set !== 'compose') throw new Error(`${name} is not set by Compose`);
  return how.value;
};

/** Credentials every process reads: in the environment all services of the image share. */
const sharedCredentials = (Object.keys(credentials) as Credential[]).filter((name) => credentials[name].readers === 'all');

/**
 * The other credentials a service of the image is given, where it reads them (functions/processes.ts
 * `credentialsOf`): a secret required from `.env`, or the fixed URL that embeds one.
 */
function credentialEnvironment(service: PlatformFunction | LongLivedProcess): Record<string, string> {
  const given = credentialsOf(service).filter((name) => !sharedCredentials.includes(name));
  return Object.fromEntries(given.map((name) => [name, configInCompose[name].set === 'secret' ? required(name) : fixedValue(name)]));
}

/** The processes of the image on the shared services; the gateway, on embedded adapters, is declared apart. */
const platformProcesses = (): LongLivedProcess[] => (processes as readonly LongLivedProcess[]).filter((p) => p.adapters === 'shared');

/** Names of the services NGINX proxies to: the HTTP functions, and the processes with public paths (the relay, the gateway). */
export function upstreamServices(): string[] {
  return [...httpFunctions.map((fn) => kebab(fn.name)), ...(processes as readonly LongLivedProcess[]).filter((p) => p.ingress).map((p) => p.name)];
}

const appHealthcheck = { test: ['CMD', ...healthProbe], interval: '10s', timeout: '3s', retries: 5, start_period: '20s' };

function healthcheck(test: string[], startPeriod = '10s') {
  return { test, interval: '10s', timeout: '5s', retries: 10, start_period: startPeriod };
}

const healthy = (names: string[]) => Object.fromEntries(names.map((name) => [name, { condition: 'service_healthy' }]));

interface ServiceSpec {
  comment: string;
  body: Record<string, unknown>;
  /** Merge keys (`<<: *anchor`) to put first in the service, and in its `environment`. */
  base?: Node;
  environmentBase?: Node;
}

function buildCompose(): Document {
  const doc = new Document();

  const tunables = Object.fromEntries(
    configNames.filter((name) => isPassedToAll(name)).map((name) => [name, passThrough(name)]),
  );
  const platformEnvironment = doc.createNode({
    NODE_ENV: fixedValue('NODE_ENV'),
    PORT: fixedValue('PORT'),
    HOST: fixedValue('HOST'),
    // The passwords in these URLs are required (`:?`) where their own service is declared.
    ...Object.fromEntries(sharedCredentials.map((name) => [name, fixedValue(name)])),
    TRUST_PROXY: fixedValue('TRUST_PROXY'),
    ...tunables,
  });
  platformEnvironment.anchor = 'platform-environment';

  const appService = doc.createNode({
    restart: 'unless-stopped',
    // The internal port (/metrics, the detailed /readyz) is for Prometheus on this network only: exposed, never published.
    expose: [String(functionPort), String(metricsPort)],
    healthcheck: appHealthcheck,
    labels: {
      // The version tag is rebuilt in place while developing; IfNotPresent (kompose's default) would keep the old image.
      'kompose.image-pull-policy': 'Always',
      // HTTP probes instead of an exec probe that starts a second Node process every ten seconds.
      'kompose.service.healthcheck.liveness.http_get_path': '/healthz',
      'kompose.service.healthcheck.liveness.http_get_port': String(functionPort),
      'kompose.service.healthcheck.readiness.http_get_path': '/readyz',
      'kompose.service.healthcheck.readiness.http_get_port': String(functionPort),
    },
  });
  appService.anchor = 'app-service';

  const backing = ['postgres', 'redis', 'rabbitmq', 'mongo'];
  const signingEnvironment = Object.fromEntries(
    configNames.filter((name) => { const how = configInCompose[name]; return how.set === 'env' && how.signingOnly; }).map((name) => [name, passThrough(name)]),
  );
  const verifyingEnvironment = { JWKS_URL: fixedValue('JWKS_URL') };

  const services: Record<string, ServiceSpec> = {
    postgres: {
      comment: 'Users, devices, sessions-of-record and the outbox.',
      body: {
        image: serviceImages.postgres,
        restart: 'unless-stopped',
        environment: { POSTGRES_USER: project, POSTGRES_DB: project, POSTGRES_PASSWORD: required('POSTGRES_PASSWORD') },
        volumes: ['postgres-data:/var/lib/postgresql/data'],
        expose: ['5432'],
        healthcheck: healthcheck(['CMD-SHELL', `pg_isready -U ${project} -d ${project}`]),
        labels: { 'kompose.volume.size': '5Gi' },
      },
    },
    redis: {
      comment: 'Sessions, revocations, rate limits and caches.',
      body: {
        image: serviceImages.redis,
        restart: 'unless-stopped',
        volumes: ['redis-data:/data'],
        expose: ['6379'],
        healthcheck: healthcheck(['CMD', 'redis-cli', 'ping']),
        labels: { 'kompose.volume.size': '1Gi' },
      },
    },
    rabbitmq: {
      comment: 'The bus. The image enables the rabbitmq_prometheus plugin: Prometheus reads queue depths on 15692.',
      body: {
        image: serviceImages.rabbitmq,
        restart: 'unless-stopped',
        // A fixed host name: RabbitMQ keeps its data under the node name, which defaults to the container's.
        hostname: 'rabbitmq',
        environment: { RABBITMQ_DEFAULT_USER: project, RABBITMQ_DEFAULT_PASS: required('RABBITMQ_PASSWORD') },
        volumes: ['rabbitmq-data:/var/lib/rabbitmq'],
        ports: ['127.0.0.1:15672:15672'],
        expose: ['5672', '15692'],
        healthcheck: healthcheck(['CMD', 'rabbitmq-diagnostics', '-q', 'ping'], '30s'),
        labels: { 'kompose.volume.size': '1Gi' },
      },
    },
    mongo: {
      comment: 'Telemetry time series (MONGO_URL).',
      body: {
        image: serviceImages.mongo,
        restart: 'unless-stopped',
        environment: { MONGO_INITDB_ROOT_USERNAME: project, MONGO_INITDB_ROOT_PASSWORD: required('MONGO_PASSWORD') },
        volumes: ['mongo-data:/data/db'],
        expose: ['27017'],
        healthcheck: healthcheck(['CMD', 'mongosh', '--quiet', '--eval', "db.adminCommand('ping').ok"], '20s'),
        labels: { 'kompose.volume.size': '5Gi' },
      },
    },
    mosquitto: {
      comment:
        `MQTT: Mosquitto 2 with dynamic security (deploy/mosquitto/mosquitto.conf). Devices connect on ${mqttDevicePort} with their own ` +
        `accounts; the bridge on ${mqttPlatformPort}, never published, with the admin account, which the first start creates from ` +
        'MQTT_BRIDGE_PASSWORD in the data volume, where the accounts the bridge makes and the queued messages are kept.',
      body: {
        image: serviceImages.mosquitto,
        restart: 'unless-stopped',
        command: ['sh', '-c', mosquittoStart],
        environment: { MQTT_BRIDGE_PASSWORD: required('MQTT_BRIDGE_PASSWORD') },
        volumes: [`./deploy/mosquitto:${mosquittoConfigDir}:ro`, `mosquitto-data:${mosquittoDataDir}`],
        ports: [`${mqttDevicePort}:${mqttDevicePort}`],
        expose: [String(mqttPlatformPort)],
        // Anonymous clients are refused: the check signs in as the admin, on the platform listener (on the devices'
        // listener its client id would be forced to the user name, taking over any session of that id).
        healthcheck: healthcheck([
          'CMD',
          'sh',
          '-c',
          `mosquitto_sub -h 127.0.0.1 -p ${mqttPlatformPort} -u ${mqttBridgeUser} -P "$$MQTT_BRIDGE_PASSWORD" -t '$$SYS/broker/uptime' -C 1 -W 5`,
        ]),
        labels: {
          // No kompose.service.type: kompose puts every port of a service, exposed ones too, in one Service, and the
          // platform listener must stay inside the cluster. So kompose makes a ClusterIP Service of both (the bridge's
          // `mosquitto`), and docs/microk8s.md adds a LoadBalancer Service of the devices' listener alone.
          // The mounted folder is configuration: a ConfigMap, not the empty claim kompose makes by default.
          // The named data volume still becomes a claim: kompose makes ConfigMaps only of folders that exist here.
          'kompose.volume.type': 'configMap',
          'kompose.volume.size': '1Gi',
        },
      },
    },
  };

  for (const fn of httpFunctions) {
    const signing = fn.domain === 'signing';
    services[kebab(fn.name)] = {
      comment: `${fn.method} ${fn.path}: ${fn.summary}.`,
      base: doc.createAlias(appService),
      environmentBase: doc.createAlias(platformEnvironment),
      body: {
        image: imageTag(fn.name),
        environment: { FUNCTION_TARGET: fn.name, ...credentialEnvironment(fn), ...(signing ? signingEnvironment : verifyingEnvironment) },
        depends_on: healthy(signing ? backing : [...backing, 'jwks']),
      },
    };
  }

  for (const process of platformProcesses()) {
    services[process.name] = {
      comment: `${process.summary} (\`iotfn ${process.command}\`).`,
      base: doc.createAlias(appService),
      environmentBase: doc.createAlias(platformEnvironment),
      body: {
        image: imageTag(process.name),
        environment: { FUNCTION_TARGET: process.name, ...credentialEnvironment(process), ...verifyingEnvironment },
        depends_on: healthy([...process.dependsOn]),
      },
    };
  }

  services.gateway = {
    comment:
      'The API docs (/docs, /openapi.json), problem pages and dashboard (/, /app/), which NGINX sends here. It is the `iotfn dev` ' +
      'gateway on embedded adapters of its own, with no URL of a shared service, so it cannot consume, publish or change ' +
      'anything the functions own; NGINX sends it no function route.',
    base: doc.createAlias(appService),
    body: {
      image: imageTag('gateway'),
      environment: {
        FUNCTION_TARGET: 'gateway',
        NODE_ENV: fixedValue('NODE_ENV'),
        PORT: fixedValue('PORT'),
        HOST: fixedValue('HOST'),
        LOG_LEVEL: tunables.LOG_LEVEL!,
        // Verifying keys only: the gateway signs nothing, and production mode refuses to invent a key.
        JWKS_URL: fixedValue('JWKS_URL'),
      },
    },
  };

  services.nginx = {
    comment: 'The one entry point: every route to its function, /socket.io to the relay (deploy/nginx/nginx.conf).',
    body: {
      image: serviceImages.nginx,
      restart: 'unless-stopped',
      ports: ['8080:80'],
      volumes: ['./deploy/nginx/nginx.conf:/etc/nginx/nginx.conf:ro'],
      depends_on: healthy(upstreamServices()),
      healthcheck: healthcheck(['CMD', 'curl', '-fsS', 'http://127.0.0.1/healthz']),
      labels: { 'kompose.service.type': 'nodeport', 'kompose.volume.type': 'configMap' },
    },
  };

  services.prometheus = {
    comment: `Scrapes every function, ${platformProcesses().filter((p) => p.scraped).map((p) => `the ${p.name}`).join(', ')} and RabbitMQ (deploy/prometheus/prometheus.yml).`,
    body: {
      image: serviceImages.prometheus,
      restart: 'unless-stopped',
      command: ['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus', '--storage.tsdb.retention.time=15d'],
      volumes: ['./deploy/prometheus:/etc/prometheus:ro'],
      ports: ['127.0.0.1:9090:9090'],
      healthcheck: healthcheck(['CMD', 'wget', '-qO-', 'http://127.0.0.1:9090/-/healthy']),
      labels: { 'kompose.volume.type': 'configMap' },
    },
  };

  services.grafana = {
    comment: 'The iotfn dashboard, provisioned with its Prometheus data source (deploy/grafana/).',
    body: {
      image: serviceImages.grafana,
      restart: 'unless-stopped',
      environment: { GF_SECURITY_ADMIN_PASSWORD: required('GRAFANA_ADMIN_PASSWORD'), GF_USERS_ALLOW_SIGN_UP: 'false' },
      volumes: [
        // One mount per folder: kompose turns a folder into a ConfigMap, and a ConfigMap holds no sub-folders.
        './deploy/grafana/provisioning/datasources:/etc/grafana/provisioning/datasources:ro',
        './deploy/grafana/provisioning/dashboards:/etc/grafana/provisioning/dashboards:ro',
        './deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro',
      ],
      ports: ['127.0.0.1:3000:3000'],
      depends_on: healthy(['prometheus']),
      healthcheck: healthcheck(['CMD', 'wget', '-qO-', 'http://127.0.0.1:3000/api/health']),
      labels: { 'kompose.volume.type': 'configMap' },
    },
  };

  const servicesNode = doc.createNode({}) as YAMLMap;
  for (const [name, spec] of Object.entries(services)) {
    const body = doc.createNode(spec.body) as YAMLMap;
    if (spec.base) body.items.unshift(doc.createPair('<<', spec.base));
    if (spec.environmentBase) {
      const environment = body.get('environment', true);
      if (!isMap(environment)) throw new Error(`${name}: an environment base needs an environment map`);
      environment.items.unshift(doc.createPair('<<', spec.environmentBase));
    }
    servicesNode.items.push(doc.createPair(name, body));
    commentKey(servicesNode, name, spec.comment);
  }

  const root = doc.createNode({}) as YAMLMap;
  doc.contents = root;
  const put = (key: string, value: unknown, comment?: string) => {
    root.items.push(doc.createPair(key, value));
    if (comment) commentKey(root, key, comment);
  };
  put('name', project, 'The Compose project: container, network and volume names start with it.');
  put('x-platform-environment', platformEnvironment, 'What every service of the image gets: the shared services, and the settings of .env with their defaults.');
  put('x-app-service', appService, 'What every function and process of the image has in common.');
  put('services', servicesNode);
  put('volumes', { 'postgres-data': {}, 'redis-data': {}, 'rabbitmq-data': {}, 'mongo-data': {}, 'mosquitto-data': {} }, 'The state worth keeping; every other service can be recreated from the repository.');
  doc.commentBefore = [
    ` ${notice('compose.ts')}`,
    '',
    ' The whole platform on one machine:',
    '   cp .env.example .env                                   # then fill in the secrets',
    '   sh deploy/build-images.sh && docker compose up -d      # http://localhost:8080 (NGINX)',
    ' Grafana on http://localhost:3000, Prometheus on :9090, the RabbitMQ console on :15672 (loopback only).',
    ` Event functions run in the \`triggers\` service (\`iotfn triggers\`): in Compose it is what feeds them from RabbitMQ;`,
    ' scheduled functions in the `scheduler` service (`iotfn scheduler`), on their schedules.',
    ' No simulator is part of the image yet, so there is no `simulators` profile.',
  ].join('\n');
  // Ports and addresses in quotes, as Compose's documentation advises: a YAML 1.1 reader takes some `a:b` for numbers.
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && /^[\d.:]+$/.test(node.value)) node.type = 'QUOTE_DOUBLE';
    },
  });
  return doc;
}

function commentKey(map: YAMLMap, key: string, comment: string): void {
  const pair = map.items.find((item) => isScalar(item.key) && item.key.value === key);
  if (!pair || !isScalar(pair.key)) throw new Error(`no key ${key} to comment`);
  pair.key.commentBefore = wrap(comment)
    .map((line) => ` ${line}`)
    .join('\n');
  // A blank line between blocks, except right under the parent key.
  if (map.items.indexOf(pair) > 0) pair.key.spaceBefore = true;
}

/** Wraps a comment to lines of at most 110 characters. */
function wrap(text: string, width = 110): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

const notice = (renderer: string) => `Rendered by deploy/renderers/${renderer} from the function registry and shared/config.ts (\`iotfn render\`): edit the renderer, not this file.`;

function envExample(): string {
  const lines = [
    `# ${notice('compose.ts')}`,
    '#',
    '# docker compose reads `.env` beside docker-compose.yml: copy this file to `.env` and fill in the secrets.',
    '# `.env` holds secrets: never commit it (the image build leaves it out too).',
    '',
    '# --- Secrets: no default; `docker compose up` stops with the name of any that is missing. ---',
    '# Letters and digits only for the passwords: they are written into connection URLs.',
    ...Object.entries(composeSecrets).flatMap(([name, what]) => [`# ${what}`, `${name}=`]),
    '# ES256 (P-256) private key of the signing functions, in PEM, on one line with \\n for the line breaks:',
    `#   printf 'JWT_PRIVATE_KEY="%s"\\n' "$(openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 | awk '{printf "%s\\\\n", $0}')" >> .env`,
    'JWT_PRIVATE_KEY=',
    '',
    '# --- Settings of shared/config.ts passed to every service of the image; the values are the defaults. ---',
    ...configNames.filter(isPassedToAll).map((name) => `${name}=${configDefault(name)}`),
    '# Passed to the signing functions only (the others verify with the jwks function):',
    ...configNames.filter((name) => configInCompose[name].set === 'env' && !isPassedToAll(name)).map((name) => `${name}=${configDefault(name)}`),
    '',
    '# --- Set by docker-compose.yml, or left at the default; listed with the default outside Compose so every variable is here. ---',
    ...configNames.flatMap((name) => {
      const how = configInCompose[name];
      return how.set === 'compose' || how.set === 'default' ? [`# ${name}=${configDefault(name)}    (Compose: ${how.set === 'default' ? 'the default; ' : ''}${how.note})`] : [];
    }),
  ];
  return lines.join('\n') + '\n';
}

const mosquittoConfigDir = '/mosquitto/config';
const mosquittoDataDir = '/mosquitto/data';

/**
 * The mosquitto service's command: on the first start only (an empty data volume), the dynamic-security file with
 * the admin account from MQTT_BRIDGE_PASSWORD; then Mosquitto, which drops to the mosquitto user (so it owns the file).
 */
const mosquittoStart =
  `[ -f ${mosquittoDataDir}/${dynamicSecurityFile} ] || mosquitto_ctrl dynsec init ${mosquittoDataDir}/${dynamicSecurityFile} ${mqttBridgeUser} "$$MQTT_BRIDGE_PASSWORD"` +
  ` && chown -R mosquitto:mosquitto ${mosquittoDataDir} && exec mosquitto -c ${mosquittoConfigDir}/mosquitto.conf`;

export interface MosquittoOptions {
  /** `listener` arguments of the devices' listener: the port, and optionally the address (tests bind to loopback on a free port). */
  devicesListener?: string;
  /** `listener` arguments of the platform's (the bridge's) listener. */
  platformListener?: string;
  /** Folder of the dynamic-security file and the persistence file; the mosquitto user must own it. */
  dataDir?: string;
  /** The dynamic-security plugin (Debian has it under /usr/lib/<triplet>/). */
  pluginPath?: string;
}

/** The Mosquitto configuration; options let a test run the same file on free loopback ports. */
export function mosquittoFiles(options: MosquittoOptions = {}): { conf: string } {
  const {
    devicesListener = String(mqttDevicePort),
    platformListener = String(mqttPlatformPort),
    dataDir = mosquittoDataDir,
    pluginPath = mosquittoPluginPath,
  } = options;
  const bodyLimit = Number(configDefault('BODY_LIMIT_BYTES'));
  const conf = `# ${notice('compose.ts')}
#
# Mosquitto 2 with its dynamic-security plugin. Every device is an account of its own (user name = device id,
# password = device token) with a role that allows its own topics only; the bridge signs in with the admin
# account and creates, changes and deletes device accounts at run time over $CONTROL/dynamic-security/v1.
# Changing or deleting an account disconnects its client at once. Mosquitto 2.0 does not substitute %u in
# dynamic-security ACLs, hence one role per device.
# One set of accounts for both listeners.
per_listener_settings false
# No anonymous client, on either listener.
allow_anonymous false
plugin ${pluginPath}
# Accounts, roles and ACLs; written by the plugin on every change. The first start creates it with the admin
# account (mosquitto_ctrl dynsec init).
plugin_opt_config_file ${dataDir}/${dynamicSecurityFile}
# Retained messages, persistent sessions and their queued QoS 1 messages survive a restart (written on
# shutdown and every autosave_interval seconds).
persistence true
persistence_location ${dataDir}/
autosave_interval 60
# BODY_LIMIT_BYTES (${bodyLimit}) and room for the topic and properties, as the embedded broker: a PUBLISH larger
# than POST /telemetry accepts closes the connection before the broker buffers it.
max_packet_size ${mqttMaxPacketBytes(bodyLimit)}
# A PUBACK to a device means only that the broker has the message; past these bounds Mosquitto drops what it
# holds for a bridge connection that is behind (default 1000 queued), so they are set for bursts, not idling.
max_queued_messages 100000
max_inflight_messages 100

# Devices. The client id is the user name, so no device can take over another's session.
listener ${devicesListener}
use_username_as_clientid true

# The platform's bridge only (several connections, distinct client ids, one shared subscription); never
# published outside the cluster.
listener ${platformListener}

log_dest stdout
log_type error
log_type warning
log_type notice
`;
  return { conf };
}

export function renderCompose(): RenderedFile[] {
  const { conf } = mosquittoFiles();
  return [
    { path: 'docker-compose.yml', content: buildCompose().toString({ lineWidth: 0 }) },
    { path: '.env.example', content: envExample() },
    { path: 'deploy/mosquitto/mosquitto.conf', content: conf },
  ];
}
