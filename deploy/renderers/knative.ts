/**
 * Knative: the platform on a Kubernetes cluster (docs/microk8s.md walks it from zero), rendered into
 * `knative/` from the function registry and the bus topology. `kubectl apply -k knative/` applies it.
 *
 * What runs how
 * - Every function, HTTP, event and scheduled alike, is a Knative Service of the one image, FUNCTION_TARGET
 *   naming it (an event function is an HTTP server that takes CloudEvents). How each scales is declared beside
 *   the function (shared/deploy-policy.ts says which stay warm and why); this file only formats it.
 * - The long-lived processes that hold connections (functions/processes.ts: the relay's browser sockets, the
 *   bridge's broker subscription) are Deployments or StatefulSets with their Services, never scaled to zero;
 *   the others are replaced here (the triggers by RabbitmqSources, the scheduler by PingSources).
 * - Schedules: a PingSource per scheduled function POSTs a CloudEvent to its Knative Service on the
 *   function's cron; the function takes its lock, so an overlapping tick skips.
 * - Events: the platform publishes structured CloudEvents to its own topic exchanges (iotfn.telemetry,
 *   iotfn.events). Each event function's durable queue (`fn.trigger.queue`, bound with `fn.trigger.pattern`
 *   on `fn.trigger.exchange`, dead-lettering to iotfn.dead-letter) is declared by the RabbitMQ messaging
 *   topology operator exactly as the local trigger declares it, so `iotfn triggers` and the cluster are
 *   interchangeable. A RabbitmqSource consumes that queue and POSTs each event to the function's Knative
 *   Service, retrying 16 times with exponential backoff from 0.5 s (~18 h: the function fails an event only
 *   while a dependency is down, and dead-letters itself what it can never process). The source's delivery has no
 *   deadLetterSink field: after its last retry it rejects the message without requeueing, and RabbitMQ moves
 *   it through the queue's dead-letter exchange into iotfn.dead-letters, where the local trigger and the
 *   poison-event path put theirs. There is no Knative Broker; docs/microk8s.md says why.
 * - Routing: one Gateway API Gateway and an HTTPRoute per domain with one rule per function (method and
 *   path; `/devices/{id}` paths as anchored regular expressions, since a PathPrefix cannot tell
 *   `GET /devices/{id}` from `GET /devices/{id}/telemetry`). Functions are cluster-local Knative Services,
 *   reached through Kourier's internal gateway with the Host rewritten to the function's cluster-local
 *   name; `/socket.io` goes to the relay Service.
 * - Configuration: a ConfigMap of every non-secret variable of the config schema (its defaults, with the
 *   cluster's overrides), and four Secrets the operator creates, each mounted only where it is used
 *   (`secretsFor`); secret.template.yaml shows their keys and is left out of the kustomization, so an apply
 *   never blanks the real ones.
 * - Mosquitto is not rendered here: it runs as docker-compose.yml describes it, converted by kompose
 *   (docs/microk8s.md): the bridge reaches its platform listener through kompose's ClusterIP Service
 *   `mosquitto`, devices its devices' listener through a LoadBalancer Service of that port alone.
 */
import { stringify } from 'yaml';
import type { ConfigMap, Container, Namespace, Probe, ResourceRequirements, Secret, Service } from 'kubernetes-types/core/v1.js';
import type { Deployment, StatefulSet } from 'kubernetes-types/apps/v1.js';
import type { RenderedFile } from '../render.ts';
import { functionPort, imageTag, kebab, metricsPort, project } from '../settings.ts';
import { configSchema, credentials, type Credential } from '../../shared/config.ts';
import { exchanges, queues } from '../../shared/bus/topology.ts';
import type { EventFunction, HttpFunction, PlatformFunction, ScheduleFunction } from '../../shared/function.ts';
import { deployPolicyOf, type DeployPolicy } from '../../shared/deploy-policy.ts';
import { functionNamed, functions, httpFunctions } from '../../functions/registry.ts';
import { credentialsOf, isPrefixPath, processes, type ImageProcess, type LongLivedProcess } from '../../functions/processes.ts';
import { mqttBridgeUser, mqttPlatformPort } from './compose.ts';
import type {
  Binding,
  ClusterObject,
  Exchange,
  Gateway,
  GatewayClass,
  HTTPPathMatch,
  HTTPRoute,
  HTTPRouteRule,
  KnativeService,
  Kustomization,
  Manifest,
  PingSource,
  Queue,
  RabbitmqCluster,
  RabbitmqClusterReference,
  RabbitmqSource,
  ReferenceGrant,
} from './knative-types.ts';

export const namespace = project;
export const configMapName = `${project}-config`;
/** The RabbitmqCluster the operator runs; its Service is `rabbitmq.<namespace>.svc`. */
export const rabbitmqClusterName = 'rabbitmq';
/** Kourier's in-cluster gateway, which routes cluster-local Knative Services by Host. */
export const kourier = { namespace: 'kourier-system', service: 'kourier-internal' } as const;
/** Envoy Gateway implements the Gateway API here; another implementation changes only the GatewayClass. */
export const gatewayClass = { name: 'eg', controllerName: 'gateway.envoyproxy.io/gatewayclass-controller' } as const;

type ConfigVariable = keyof typeof configSchema.shape;

/** The variables that carry credentials (shared/config.ts `credentials`): they live in Secrets, never in a ConfigMap. */
export const secretVariables = Object.keys(credentials) as Credential[];
type SecretVariable = Credential;

/**
 * The Secrets the credentials are grouped in, so each is mounted only where one of its variables is read
 * (`credentialsOf`, from shared/config.ts and functions/processes.ts): the signing key, the device token key,
 * the broker's admin account, and the shared URLs every process reads.
 */
export const secretNames = {
  shared: `${project}-secrets`,
  signingKey: `${project}-signing-key`,
  deviceTokens: `${project}-device-tokens`,
  mqttBridge: `${project}-mqtt-bridge`,
} as const;
export const secretOf: Record<SecretVariable, string> = {
  JWT_PRIVATE_KEY: secretNames.signingKey,
  DEVICE_TOKEN_SECRET: secretNames.deviceTokens,
  DATABASE_URL: secretNames.shared,
  REDIS_URL: secretNames.shared,
  AMQP_URL: secretNames.shared,
  MONGO_URL: secretNames.shared,
  MQTT_URL: secretNames.mqttBridge,
};

export type { ImageProcess };

/** The Secrets a process reads its credentials from, in `secretNames` order. */
export function secretsFor(p: ImageProcess): string[] {
  const used = new Set(credentialsOf(p).map((name) => secretOf[name]));
  return Object.values(secretNames).filter((name) => used.has(name));
}

const signs = (p: ImageProcess) => credentialsOf(p).includes('JWT_PRIVATE_KEY');

/** The function that publishes the verification keys. */
export const jwksFunction: HttpFunction = (() => {
  const fn = functionNamed('jwks');
  if (fn?.kind !== 'http') throw new Error('the registry has no jwks HTTP function, which every verifying process needs');
  return fn;
})();

/** Where a process without the signing key fetches the verification keys; undefined for the signing functions. */
export function jwksUrlFor(p: ImageProcess, base = `http://${clusterLocalHost(jwksFunction)}`): string | undefined {
  return signs(p) ? undefined : `${base}${jwksFunction.path}`;
}

/**
 * Where the cluster's configuration differs from the schema's defaults. With NODE_ENV=production a
 * process that has neither the signing key nor JWKS_URL refuses to start; in development each pod would
 * generate a key of its own, and a token signed by one pod would fail in the next. Every request arrives
 * through the gateway, so the client address is in X-Forwarded-For.
 */
/** A pod's port must be reachable from its sidecar and the ingress: every address, not the loopback default. */
const clusterOverrides: Partial<Record<ConfigVariable, string>> = { NODE_ENV: 'production', TRUST_PROXY: 'true', HOST: '0.0.0.0' };
/** Set per process, not shared: Knative sets PORT itself (and forbids setting it); JWKS_URL by `environment`. */
const perProcessVariables: readonly ConfigVariable[] = ['PORT', 'JWKS_URL'];

/** Every non-secret variable with the value the cluster runs with, in the schema's order. */
export function clusterConfig(): Record<string, string> {
  // Parsing an empty object yields the schema's defaults without reading this process's environment.
  const defaults: Record<string, unknown> = configSchema.parse({});
  const data: Record<string, string> = {};
  for (const name of Object.keys(configSchema.shape) as ConfigVariable[]) {
    if ((secretVariables as readonly string[]).includes(name) || perProcessVariables.includes(name)) continue;
    const value = clusterOverrides[name] ?? asEnvValue(defaults[name]);
    if (value !== undefined) data[name] = value;
  }
  return data;
}

function asEnvValue(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(',') : String(value);
}

/** How a function runs: its declared policy (shared/deploy-policy.ts) and the resources every function has. */
export interface FunctionPolicy extends DeployPolicy {
  resources: ResourceRequirements;
}

const functionResources: ResourceRequirements = { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } };

export function policyOf(fn: PlatformFunction): FunctionPolicy {
  return { ...deployPolicyOf(fn), resources: functionResources };
}

/**
 * Whether the functions-framework host answers GET /healthz and /readyz for an event function (its /metrics
 * is on the internal port, which answers whatever the function).
 * It does not: functions-framework routes a cloudEvent target's POSTs only, and answers other requests
 * with an error before any code of ours runs. So event functions get TCP probes and no scrape annotations;
 * test/deploy-knative.test.ts fails when the host starts answering, to switch this back.
 */
export const eventTargetsAnswerProbes = true;

function servesProbes(fn: PlatformFunction): boolean {
  return fn.kind === 'http' || eventTargetsAnswerProbes;
}

function labels(name: string, component: string, extra: Record<string, string> = {}): Record<string, string> {
  return { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': project, 'app.kubernetes.io/component': component, ...extra };
}

/**
 * Prometheus scrapes the internal port (METRICS_PORT), never the serving one: /metrics is not served there. A
 * Knative Service may declare one container port only (the serving one), so its pods are scraped by this
 * annotation alone; the relay and bridge declare it too, as `metrics`.
 */
const scrapeAnnotations = { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(metricsPort), 'prometheus.io/path': '/metrics' };

const httpProbes: Pick<Container, 'readinessProbe' | 'livenessProbe'> = {
  readinessProbe: { httpGet: { path: '/readyz', port: functionPort }, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 3 },
  // /healthz waits for the platform to start (migrations, connections): give a slow start a minute.
  livenessProbe: { httpGet: { path: '/healthz', port: functionPort }, initialDelaySeconds: 10, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 6 },
};

const tcpProbe: Probe = { tcpSocket: { port: functionPort }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 6 };

/** The image runs as the unprivileged `node` user (uid 1000); nothing needs more. */
const securityContext: Container['securityContext'] = {
  runAsNonRoot: true,
  runAsUser: 1000,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** FUNCTION_TARGET, the JWKS URL where it verifies only, the shared ConfigMap, and its Secrets. */
function environment(p: ImageProcess): Pick<Container, 'env' | 'envFrom'> {
  const jwksUrl = jwksUrlFor(p);
  return {
    env: [{ name: 'FUNCTION_TARGET', value: p.name }, ...(jwksUrl ? [{ name: 'JWKS_URL', value: jwksUrl }] : [])],
    envFrom: [{ configMapRef: { name: configMapName } }, ...secretsFor(p).map((name) => ({ secretRef: { name } }))],
  };
}

function knativeService(fn: PlatformFunction): KnativeService {
  const name = kebab(fn.name);
  const policy = policyOf(fn);
  const probes = servesProbes(fn) ? httpProbes : { readinessProbe: tcpProbe, livenessProbe: tcpProbe };
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: {
      name,
      namespace,
      // Reached only through the Gateway's routes, never on a host of its own.
      labels: { ...labels(name, 'function', { [`${project}/domain`]: fn.domain }), 'networking.knative.dev/visibility': 'cluster-local' },
    },
    spec: {
      template: {
        metadata: {
          labels: labels(name, 'function', { [`${project}/domain`]: fn.domain }),
          annotations: {
            'autoscaling.knative.dev/class': 'kpa.autoscaling.knative.dev',
            'autoscaling.knative.dev/metric': 'concurrency',
            'autoscaling.knative.dev/target': String(policy.concurrency),
            'autoscaling.knative.dev/min-scale': String(policy.minScale),
            'autoscaling.knative.dev/max-scale': String(policy.maxScale),
            ...(servesProbes(fn) ? scrapeAnnotations : {}),
          },
        },
        spec: {
          containers: [
            {
              name: 'function',
              image: imageTag(fn.name),
              ports: [{ name: 'http1', containerPort: functionPort }],
              ...environment(fn),
              resources: policy.resources,
              ...probes,
              securityContext,
            },
          ],
        },
      },
    },
  };
}

const clusterReference: RabbitmqClusterReference = { name: rabbitmqClusterName, namespace };

/** A queue's or exchange's object name: `iotfn.ingest` → `iotfn-ingest`. */
function objectName(amqpName: string): string {
  return amqpName.replace(/[^a-z0-9-]+/gi, '-').toLowerCase();
}

function exchange(name: string): Exchange {
  return {
    apiVersion: 'rabbitmq.com/v1beta1',
    kind: 'Exchange',
    metadata: { name: objectName(name), namespace, labels: labels(objectName(name), 'messaging') },
    // As declareTopology declares it: a mismatch would make the platform's own declare fail.
    spec: { name, type: 'topic', durable: true, autoDelete: false, rabbitmqClusterReference: clusterReference },
  };
}

function queue(name: string, deadLetterExchange?: string): Queue {
  return {
    apiVersion: 'rabbitmq.com/v1beta1',
    kind: 'Queue',
    metadata: { name: objectName(name), namespace, labels: labels(objectName(name), 'messaging') },
    spec: {
      name,
      durable: true,
      autoDelete: false,
      ...(deadLetterExchange ? { arguments: { 'x-dead-letter-exchange': deadLetterExchange } } : {}),
      rabbitmqClusterReference: clusterReference,
    },
  };
}

function binding(source: string, destination: string, routingKey: string): Binding {
  const name = `${objectName(destination)}-from-${objectName(source)}`;
  return {
    apiVersion: 'rabbitmq.com/v1beta1',
    kind: 'Binding',
    metadata: { name, namespace, labels: labels(name, 'messaging') },
    spec: { source, destination, destinationType: 'queue', routingKey, rabbitmqClusterReference: clusterReference },
  };
}

/**
 * The delivery every source uses: without it a failed POST is not retried. The function answers an error only
 * for an outage (a dependency down; an event it can never process it dead-letters itself and answers as
 * done), so the retries are there to outlast one: 16 of them from 0.5 s doubling, about 18 hours in all.
 */
export const sourceDelivery = { retry: 16, backoffPolicy: 'exponential', backoffDelay: 'PT0.5S' } as const;

/** An event function's queue, as the local trigger declares it, and the source that feeds it to the function. */
function eventWiring(fn: EventFunction): [Queue, Binding, RabbitmqSource] {
  const name = kebab(fn.name);
  return [
    queue(fn.trigger.queue, exchanges.deadLetter),
    binding(fn.trigger.exchange, fn.trigger.queue, fn.trigger.pattern),
    {
      apiVersion: 'sources.knative.dev/v1alpha1',
      kind: 'RabbitmqSource',
      metadata: { name, namespace, labels: labels(name, 'event-source') },
      spec: {
        rabbitmqClusterReference: clusterReference,
        rabbitmqResourcesConfig: { queueName: fn.trigger.queue, predeclared: true, parallelism: policyOf(fn).sourceParallelism },
        delivery: sourceDelivery,
        sink: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name, namespace } },
      },
    },
  ];
}

/**
 * A scheduled function's PingSource: on each tick of its cron (UTC) a CloudEvent POSTed to its Knative Service,
 * which runs it (shared/schedule/over-http.ts); the body says nothing the function needs, the tick is the message.
 */
export function pingSource(fn: ScheduleFunction): PingSource {
  const name = kebab(fn.name);
  return {
    apiVersion: 'sources.knative.dev/v1',
    kind: 'PingSource',
    metadata: { name, namespace, labels: labels(name, 'schedule') },
    spec: {
      schedule: fn.schedule.cron,
      contentType: 'application/json',
      data: JSON.stringify({ function: fn.name }),
      sink: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name, namespace } },
    },
  };
}

function rabbitmq(): Array<RabbitmqCluster | Exchange | Queue | Binding> {
  return [
    {
      apiVersion: 'rabbitmq.com/v1beta1',
      kind: 'RabbitmqCluster',
      metadata: { name: rabbitmqClusterName, namespace, labels: labels(rabbitmqClusterName, 'messaging') },
      spec: {
        replicas: 1,
        // The operator's default asks for 2 GiB and a whole CPU: too much for one microk8s node.
        resources: { requests: { cpu: '200m', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } },
        persistence: { storage: '10Gi' },
      },
    },
    ...Object.values(exchanges).map(exchange),
    queue(queues.deadLetters),
    binding(exchanges.deadLetter, queues.deadLetters, '#'),
  ];
}

/** A long-lived process as the cluster runs it: the processes of functions/processes.ts with a workload. */
type ClusterProcess = LongLivedProcess & { cluster: { workload: 'Deployment' | 'StatefulSet'; replicas: number; why: string } };

const clusterProcesses = (): ClusterProcess[] => (processes as readonly LongLivedProcess[]).filter((p): p is ClusterProcess => p.cluster.workload !== 'none');

/**
 * Replicas and workload kind come from the process's declaration. A StatefulSet (the bridge: its broker sessions
 * are named after the host) keeps stable pod names (`bridge-0`, `bridge-1`); its pods start at once (Parallel)
 * and update one at a time.
 */
function longLived(process: ClusterProcess): [Manifest<Deployment> | Manifest<StatefulSet>, Manifest<Service>] {
  const target = process.name;
  const podLabels = labels(target, target);
  const selector = { matchLabels: { 'app.kubernetes.io/name': target, 'app.kubernetes.io/part-of': project } };
  const template = {
    metadata: { labels: podLabels, annotations: scrapeAnnotations },
    spec: {
      containers: [
        {
          name: target,
          image: imageTag(target),
          ports: [{ name: 'http', containerPort: functionPort }, { name: 'metrics', containerPort: metricsPort }],
          ...environment(process),
          resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
          readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 3 },
          livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, initialDelaySeconds: 10, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 6 },
          securityContext,
        },
      ],
    },
  };
  const metadata = { name: target, namespace, labels: podLabels };
  const workload: Manifest<Deployment> | Manifest<StatefulSet> =
    process.cluster.workload === 'StatefulSet'
      ? {
          apiVersion: 'apps/v1',
          kind: 'StatefulSet',
          metadata,
          spec: { serviceName: target, podManagementPolicy: 'Parallel', replicas: process.cluster.replicas, selector, template },
        }
      : { apiVersion: 'apps/v1', kind: 'Deployment', metadata, spec: { replicas: process.cluster.replicas, selector, template } };
  return [
    workload,
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: target, namespace, labels: podLabels },
      spec: {
        selector: { 'app.kubernetes.io/name': target, 'app.kubernetes.io/part-of': project },
        ports: [{ name: 'http', port: 80, targetPort: 'http' }],
      },
    },
  ];
}

/**
 * The path matches of a route, as the host accepts them (a trailing slash too): Exact for a static path,
 * an anchored regular expression for a `{param}` path.
 */
export function pathMatches(path: string): HTTPPathMatch[] {
  if (!path.includes('{')) return [{ type: 'Exact', value: path }, { type: 'Exact', value: `${path}/` }];
  const pattern = path
    .split(/(\{\w+\})/)
    .map((part) => (/^\{\w+\}$/.test(part) ? '[^/]+' : part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
    .join('');
  return [{ type: 'RegularExpression', value: `^${pattern}/?$` }];
}

/** The Host Kourier's internal gateway routes to a cluster-local Knative Service. */
export function clusterLocalHost(fn: PlatformFunction): string {
  return `${kebab(fn.name)}.${namespace}.svc.cluster.local`;
}

function functionRule(fn: HttpFunction): HTTPRouteRule {
  return {
    matches: pathMatches(fn.path).map((path) => ({ path, method: fn.method })),
    filters: [{ type: 'URLRewrite', urlRewrite: { hostname: clusterLocalHost(fn) } }],
    backendRefs: [{ name: kourier.service, namespace: kourier.namespace, port: 80 }],
  };
}

/** The Gateway API allows at most 16 rules in one HTTPRoute. */
export const maxRulesPerRoute = 16;

function httpRoute(name: string, rules: HTTPRouteRule[]): HTTPRoute {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name, namespace, labels: labels(name, 'routing') },
    spec: { parentRefs: [{ name: project, namespace }], rules },
  };
}

function routes(): HTTPRoute[] {
  const byDomain = new Map<string, HttpFunction[]>();
  for (const fn of httpFunctions) byDomain.set(fn.domain, [...(byDomain.get(fn.domain) ?? []), fn]);
  const result: HTTPRoute[] = [];
  for (const [domain, fns] of byDomain) {
    for (let i = 0; i < fns.length; i += maxRulesPerRoute) {
      const suffix = i === 0 ? '' : `-${i / maxRulesPerRoute + 1}`;
      result.push(httpRoute(`${project}-${domain}${suffix}`, fns.slice(i, i + maxRulesPerRoute).map(functionRule)));
    }
  }
  // The long-lived processes the cluster runs with public paths (the relay's /socket.io), to their Services.
  const processRules: HTTPRouteRule[] = clusterProcesses().flatMap((p) =>
    (p.ingress?.paths ?? []).map((path) => ({
      matches: [{ path: isPrefixPath(path) ? { type: 'PathPrefix' as const, value: path.slice(0, -1) } : { type: 'Exact' as const, value: path } }],
      backendRefs: [{ name: p.name, port: 80 }],
    })),
  );
  if (processRules.length > 0) result.push(httpRoute(`${project}-realtime`, processRules));
  return result;
}

function gateway(): [GatewayClass, Gateway, ReferenceGrant] {
  return [
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'GatewayClass',
      metadata: { name: gatewayClass.name, labels: labels(gatewayClass.name, 'routing') },
      spec: { controllerName: gatewayClass.controllerName },
    },
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: project, namespace, labels: labels(project, 'routing') },
      spec: { gatewayClassName: gatewayClass.name, listeners: [{ name: 'http', protocol: 'HTTP', port: 80, allowedRoutes: { namespaces: { from: 'Same' } } }] },
    },
    {
      // Lets this namespace's routes send to Kourier's Service in its own namespace.
      apiVersion: 'gateway.networking.k8s.io/v1beta1',
      kind: 'ReferenceGrant',
      metadata: { name: `${project}-routes`, namespace: kourier.namespace, labels: labels(`${project}-routes`, 'routing') },
      spec: {
        from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace }],
        to: [{ group: '', kind: 'Service', name: kourier.service }],
      },
    },
  ];
}

function configMap(): Manifest<ConfigMap> {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: configMapName, namespace, labels: labels(configMapName, 'config') }, data: clusterConfig() };
}

/** Placeholders that fail loudly if applied as they are: no real credential is ever rendered. */
const secretPlaceholders: Record<SecretVariable, string> = {
  JWT_PRIVATE_KEY: '',
  DEVICE_TOKEN_SECRET: '',
  DATABASE_URL: `postgres://iotfn:CHANGE-ME@postgres.${namespace}.svc.cluster.local:5432/iotfn`,
  REDIS_URL: `redis://redis.${namespace}.svc.cluster.local:6379/0`,
  AMQP_URL: `amqp://CHANGE-ME:CHANGE-ME@${rabbitmqClusterName}.${namespace}.svc.cluster.local:5672`,
  MONGO_URL: `mongodb://iotfn:CHANGE-ME@mongo.${namespace}.svc.cluster.local:27017/iotfn?authSource=admin`,
  MQTT_URL: `mqtt://${mqttBridgeUser}:CHANGE-ME@mosquitto.${namespace}.svc.cluster.local:${mqttPlatformPort}`,
};

function secretTemplates(): Array<Manifest<Secret>> {
  return Object.values(secretNames).map((name) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: labels(name, 'config') },
    type: 'Opaque',
    stringData: Object.fromEntries(secretVariables.filter((v) => secretOf[v] === name).map((v) => [v, secretPlaceholders[v]])),
  }));
}

function namespaceObject(): Manifest<Namespace> {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { 'app.kubernetes.io/part-of': project } } };
}

export interface KnativeFile {
  path: string;
  /** Comment lines above the documents. */
  header: string[];
  objects: ClusterObject[];
}

const generated = 'Rendered by `iotfn render` from the function registry (deploy/renderers/knative.ts): edit that, not this file.';

function functionFile(fn: PlatformFunction): KnativeFile {
  const notes = [`${fn.name} (${fn.domain}): ${policyOf(fn).why}.`];
  if (fn.kind === 'event') {
    notes.push(
      `Events: queue ${fn.trigger.queue} (${fn.trigger.pattern} on ${fn.trigger.exchange}) → RabbitmqSource → this Service;`,
      `after ${sourceDelivery.retry} retries the queue dead-letters to ${exchanges.deadLetter} → ${queues.deadLetters}.`,
    );
    if (!eventTargetsAnswerProbes) notes.push('TCP probes and no scrape: the functions-framework host answers only POSTs for an event function.');
  }
  if (fn.kind === 'schedule') {
    const every = fn.schedule.everySeconds ? `; each run makes a pass every ${fn.schedule.everySeconds} s until the next tick` : '';
    notes.push(`Schedule: a PingSource POSTs to this Service on "${fn.schedule.cron}" (UTC)${every}.`);
  }
  const wiring = fn.kind === 'event' ? eventWiring(fn) : fn.kind === 'schedule' ? [pingSource(fn)] : [];
  return { path: `knative/functions/${kebab(fn.name)}.yaml`, header: [generated, ...notes], objects: [knativeService(fn), ...wiring] };
}

/** Every file of `knative/` as objects, before YAML: what the tests check. */
export function knativeFiles(): KnativeFile[] {
  const applied: KnativeFile[] = [
    { path: 'knative/namespace.yaml', header: [generated], objects: [namespaceObject()] },
    { path: 'knative/config.yaml', header: [generated, 'Every non-secret variable of shared/config.ts, with the values the cluster runs with.'], objects: [configMap()] },
    {
      path: 'knative/rabbitmq.yaml',
      header: [generated, 'The RabbitMQ cluster and the exchanges every process declares; each event function file adds its queue.'],
      objects: rabbitmq(),
    },
    ...functions.map(functionFile),
    ...clusterProcesses().map((process) => ({
      path: `knative/${process.name}.yaml`,
      header: [generated, `${process.summary}.`, `Long-lived, a ${process.cluster.workload} of ${process.cluster.replicas}, never scaled to zero: ${process.cluster.why}.`],
      objects: longLived(process),
    })),
    {
      path: 'knative/gateway.yaml',
      header: [generated, `One entry point: Envoy Gateway's class, the Gateway, and the grant to reach ${kourier.service} in ${kourier.namespace}.`],
      objects: gateway(),
    },
    {
      path: 'knative/routes.yaml',
      header: [
        generated,
        'One rule per function: method and path (Exact, or an anchored RegularExpression for {param} paths), the Host rewritten',
        `to the function's cluster-local name so ${kourier.service} routes it to the Knative Service; /socket.io to the relay.`,
      ],
      objects: routes(),
    },
  ];
  const template: KnativeFile = {
    path: 'knative/secret.template.yaml',
    header: [
      generated,
      'The Secrets and their keys: shared URLs for every process, the signing key for the signing functions only, the',
      'device token key for the devices functions and the bridge, the broker admin account for the bridge only.',
      'Not in kustomization.yaml: applying this would blank the real ones.',
      `Create them with kubectl -n ${namespace} create secret generic NAME --from-literal=KEY=value (docs/microk8s.md).`,
    ],
    objects: secretTemplates(),
  };
  return [...applied, template];
}

export function kustomization(): Kustomization {
  const files = knativeFiles().filter((f) => f.path !== 'knative/secret.template.yaml');
  return { apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: files.map((f) => f.path.slice('knative/'.length)) };
}

function toYaml(header: string[], objects: object[]): string {
  const comments = header.map((line) => `# ${line}\n`).join('');
  // aliasDuplicateObjects: shared objects (one probe, one cluster reference) are written out, never as YAML anchors.
  return comments + objects.map((o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
}

export function renderKnative(): RenderedFile[] {
  return [
    ...knativeFiles().map((f) => ({ path: f.path, content: toYaml(f.header, f.objects) })),
    { path: 'knative/kustomization.yaml', content: toYaml([generated], [kustomization()]) },
  ];
}
