/**
 * The cluster artefacts, Knative (`knative/`) and OpenFaaS (`stack.yml`), against the registry they are
 * rendered from: every function deployed with the right image, env and probes, every event function fed
 * with retries and a dead-letter route, every route reachable through the Gateway. The types in
 * deploy/renderers/knative-types.ts make `tsc` check each field; these check what types cannot say
 * (names, labels, references between objects, and what the YAML reads back as). No cluster runs here:
 * `kubectl kustomize` builds the kustomization offline when kubectl is installed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { parseAllDocuments, parseDocument } from 'yaml';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { Container } from 'kubernetes-types/core/v1.js';
import { eventFunctions, functions, httpFunctions, scheduleFunctions } from '../functions/registry.ts';
import { processes, type LongLivedProcess } from '../functions/processes.ts';
import { deployPolicyOf } from '../shared/deploy-policy.ts';
import { exchanges, queues } from '../shared/bus/topology.ts';
import { configSchema, loadConfig } from '../shared/config.ts';
import { defineScheduleFunction, type EventFunction, type PlatformFunction, type ScheduleFunction } from '../shared/function.ts';
import type { Deps } from '../shared/platform.ts';
import { takeOverFrameworkServer, registerWithFunctionsFramework } from '../shared/http/framework-host.ts';
import { imageTag, kebab, metricsPort } from '../deploy/settings.ts';
import {
  clusterLocalHost,
  configMapName,
  eventTargetsAnswerProbes,
  knativeFiles,
  kourier,
  kustomization,
  maxRulesPerRoute,
  namespace,
  pingSource,
  renderKnative,
  jwksFunction,
  jwksUrlFor,
  secretNames,
  secretOf,
  secretsFor,
  secretVariables,
  sourceDelivery,
} from '../deploy/renderers/knative.ts';
import { cronTopic, renderOpenFaas } from '../deploy/renderers/openfaas.ts';
import type { ClusterObject, HTTPRoute, HTTPRouteRule, KnativeService, PingSource, RabbitmqSource } from '../deploy/renderers/knative-types.ts';
import { freshSigningKeyPem } from './support/processes.ts';
import { settleWithin } from './support/wait.ts';

/** Every object as the cluster would read it: parsed back from the rendered YAML, not the renderer's objects. */
function applied(): Array<ClusterObject & { file: string }> {
  const applies = new Set(kustomization().resources.map((r) => `knative/${r}`));
  return renderKnative()
    .filter((f) => applies.has(f.path))
    .flatMap((f) => parseAllDocuments(f.content).map((d) => ({ ...(d.toJS() as ClusterObject), file: f.path })));
}

const objects = applied();
const ofKind = <A extends ClusterObject['apiVersion'], K extends ClusterObject['kind']>(apiVersion: A, kind: K) =>
  objects.filter((o): o is Extract<ClusterObject, { apiVersion: A; kind: K }> & { file: string } => o.apiVersion === apiVersion && o.kind === kind);
const knativeServices = (): KnativeService[] => ofKind('serving.knative.dev/v1', 'Service');
const serviceOf = (fn: PlatformFunction) => knativeServices().find((s) => s.metadata.name === kebab(fn.name));
const containerOf = (fn: PlatformFunction): Container => serviceOf(fn)!.spec.template.spec.containers[0]!;

const knative = suite('knative: one Knative Service per function');

knative('every registry function has its Service, in its own file, with its image and FUNCTION_TARGET', () => {
  assert.is(knativeServices().length, functions.length);
  for (const fn of functions) {
    const service = serviceOf(fn);
    assert.ok(service, `no Knative Service for ${fn.name}`);
    assert.is((service as KnativeService & { file: string }).file, `knative/functions/${kebab(fn.name)}.yaml`);
    const container = containerOf(fn);
    assert.is(container.image, imageTag(fn.name));
    const jwks = fn.domain === 'signing' ? [] : [{ name: 'JWKS_URL', value: jwksUrlFor(fn) }];
    assert.equal(container.env, [{ name: 'FUNCTION_TARGET', value: fn.name }, ...jwks]);
    assert.equal(container.envFrom, [{ configMapRef: { name: configMapName } }, ...secretsFor(fn).map((name) => ({ secretRef: { name } }))]);
    assert.equal(container.ports, [{ name: 'http1', containerPort: 8080 }], 'Knative takes one port named http1 or h2c');
    assert.ok(container.resources?.requests?.memory && container.resources.limits?.memory, `${fn.name}: memory request and limit`);
    assert.is(service!.metadata.labels?.['networking.knative.dev/visibility'], 'cluster-local', 'reached only through the Gateway');
  }
});

knative('HTTP functions are probed on /readyz and /healthz and scraped; event functions as the host allows', () => {
  for (const fn of functions) {
    const container = containerOf(fn);
    const annotations = serviceOf(fn)!.spec.template.metadata?.annotations ?? {};
    if (fn.kind === 'http' || eventTargetsAnswerProbes) {
      assert.is(container.readinessProbe?.httpGet?.path, '/readyz', fn.name);
      assert.is(container.livenessProbe?.httpGet?.path, '/healthz', fn.name);
      assert.is(annotations['prometheus.io/scrape'], 'true', fn.name);
      assert.is(annotations['prometheus.io/path'], '/metrics', fn.name);
      assert.is(annotations['prometheus.io/port'], String(metricsPort), `${fn.name}: scraped on the internal port, not the serving one`);
    } else {
      assert.is(container.readinessProbe?.tcpSocket?.port, 8080, fn.name);
      assert.is(container.livenessProbe?.tcpSocket?.port, 8080, fn.name);
      assert.is(annotations['prometheus.io/scrape'], undefined, fn.name);
    }
    // Knative accepts a probe port only if it is the serving port.
    for (const probe of [container.readinessProbe, container.livenessProbe]) {
      const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
      assert.is(port, 8080, `${fn.name}: probe port`);
    }
  }
});

knative('the functions-framework host answers GET /healthz for an event function exactly when the renderer says it does', async () => {
  // Only the host's routing is under test: the deps are never used by a probe of a healthy host.
  const ping = async () => undefined;
  const stub = { db: { ping }, cache: { ping }, bus: { ping }, log: { info() {}, error() {}, warn() {} } } as unknown as Deps;
  // As functions/index.ts does in a function process: the host's body reader is also what answers probes.
  await takeOverFrameworkServer(1024 * 1024);
  registerWithFunctionsFramework(eventFunctions, async () => stub);
  for (const fn of eventFunctions) {
    const server = getTestServer(fn.name);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`;
      const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
      assert.is(
        response.status === 200,
        eventTargetsAnswerProbes,
        `GET /healthz on ${fn.name} answered ${response.status}: set eventTargetsAnswerProbes in deploy/renderers/knative.ts to match`,
      );
    } finally {
      await settleWithin(new Promise((resolve) => server.close(resolve)), 5000);
    }
  }
});

/** Devices call it, or it is on the telemetry path behind them: what must never wait for a cold start. */
const servesDevices = (fn: PlatformFunction) => (fn.kind === 'event' ? fn.trigger.exchange === exchanges.telemetry : fn.kind === 'http' && fn.auth === 'device');

knative('scale bounds are the declared policy: the functions devices call, the telemetry path and jwks stay warm, the rest scales to zero', () => {
  for (const fn of functions) {
    const annotations = serviceOf(fn)!.spec.template.metadata!.annotations!;
    const min = Number(annotations['autoscaling.knative.dev/min-scale']);
    const max = Number(annotations['autoscaling.knative.dev/max-scale']);
    const target = Number(annotations['autoscaling.knative.dev/target']);
    assert.ok(Number.isInteger(min) && Number.isInteger(max) && min <= max && max > 0, `${fn.name}: ${min}..${max}`);
    assert.ok(target > 0, `${fn.name}: target ${target}`);
    const policy = deployPolicyOf(fn);
    assert.equal([min, max, target], [policy.minScale, policy.maxScale, policy.concurrency], `${fn.name}: the annotations are its declared policy`);
    // A new device-facing function that forgets `deploy: warmForDevices` fails here.
    assert.is(min, servesDevices(fn) || fn.name === jwksFunction.name ? 1 : 0, `${fn.name}: min-scale`);
    if (fn.kind === 'schedule') assert.is(max, 1, `${fn.name}: one pod; a second run would only find the lock held`);
  }
  for (const name of ['register', 'login']) assert.is(deployPolicyOf(functions.find((fn) => fn.name === name)!).concurrency, 4, `${name} hashes passwords`);
});

const events = suite('knative: event functions fed from their queues');

const sourceOf = (fn: EventFunction): RabbitmqSource | undefined =>
  ofKind('sources.knative.dev/v1alpha1', 'RabbitmqSource').find((s) => s.spec.rabbitmqResourcesConfig.queueName === fn.trigger.queue);

events('every event function has a RabbitmqSource on its own queue, with retries and backoff, into its Knative Service', () => {
  assert.ok(eventFunctions.length > 0);
  for (const fn of eventFunctions) {
    const source = sourceOf(fn);
    assert.ok(source, `no RabbitmqSource for ${fn.name}`);
    assert.equal(source!.spec.delivery, { retry: 16, backoffPolicy: 'exponential', backoffDelay: 'PT0.5S' }, 'enough retries to outlast an outage (~18 h)');
    assert.equal(source!.spec.delivery, { ...sourceDelivery });
    assert.is(source!.spec.rabbitmqResourcesConfig.predeclared, true, 'consumes the queue the topology declares');
    assert.ok((source!.spec.rabbitmqResourcesConfig.parallelism ?? 0) >= 1);
    assert.equal(source!.spec.sink, { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: kebab(fn.name), namespace } });
    assert.ok(serviceOf(fn), 'the sink exists');
  }
});

events("each queue is declared as the local trigger declares it, bound by the function's pattern, dead-lettering into iotfn.dead-letters", () => {
  const queueObjects = ofKind('rabbitmq.com/v1beta1', 'Queue');
  const bindings = ofKind('rabbitmq.com/v1beta1', 'Binding');
  const exchangeNames = ofKind('rabbitmq.com/v1beta1', 'Exchange').map((e) => e.spec.name);
  for (const fn of eventFunctions) {
    const queue = queueObjects.find((q) => q.spec.name === fn.trigger.queue);
    assert.ok(queue, `no Queue ${fn.trigger.queue}`);
    assert.is(queue!.spec.durable, true);
    assert.equal(queue!.spec.arguments, { 'x-dead-letter-exchange': exchanges.deadLetter }, 'without it a failed event would be dropped');
    assert.ok(
      bindings.some((b) => b.spec.source === fn.trigger.exchange && b.spec.destination === fn.trigger.queue && b.spec.routingKey === fn.trigger.pattern),
      `no binding of ${fn.trigger.queue} to ${fn.trigger.exchange} with ${fn.trigger.pattern}`,
    );
    assert.ok(exchangeNames.includes(fn.trigger.exchange), `${fn.trigger.exchange} is declared`);
  }
  // The dead-letter route ends in a queue: iotfn.dead-letter → iotfn.dead-letters, every routing key.
  assert.ok(exchangeNames.includes(exchanges.deadLetter));
  assert.ok(queueObjects.some((q) => q.spec.name === queues.deadLetters));
  assert.ok(bindings.some((b) => b.spec.source === exchanges.deadLetter && b.spec.destination === queues.deadLetters && b.spec.routingKey === '#'));
  for (const e of ofKind('rabbitmq.com/v1beta1', 'Exchange')) {
    assert.equal([e.spec.type, e.spec.durable, e.spec.autoDelete], ['topic', true, false], `${e.spec.name} as declareTopology declares it`);
  }
  const clusters = ofKind('rabbitmq.com/v1beta1', 'RabbitmqCluster').map((c) => c.metadata.name);
  for (const o of [...queueObjects, ...bindings, ...ofKind('rabbitmq.com/v1beta1', 'Exchange'), ...ofKind('sources.knative.dev/v1alpha1', 'RabbitmqSource')]) {
    assert.ok(clusters.includes(o.spec.rabbitmqClusterReference.name), `${o.kind} ${o.metadata.name} references a cluster that exists`);
  }
});

const schedules = suite('knative: scheduled functions woken by PingSources');

const pingSources = (): PingSource[] => ofKind('sources.knative.dev/v1', 'PingSource');

schedules('every scheduled function has exactly one PingSource, on its cron, into its Knative Service, which scales to zero', () => {
  for (const fn of scheduleFunctions) {
    const sink = { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: kebab(fn.name), namespace } };
    const sources = pingSources().filter((p) => JSON.stringify(p.spec.sink) === JSON.stringify(sink));
    assert.is(sources.length, 1, `${fn.name}: ${sources.length} PingSources`);
    assert.is(sources[0]!.spec.schedule, fn.schedule.cron, fn.name);
    assert.is(sources[0]!.spec.contentType, 'application/json');
    assert.not.throws(() => JSON.parse(sources[0]!.spec.data!), 'the data is the JSON its contentType says');
    assert.is((sources[0] as PingSource & { file: string }).file, `knative/functions/${kebab(fn.name)}.yaml`, 'beside its Service');
    assert.is(serviceOf(fn)!.spec.template.metadata!.annotations!['autoscaling.knative.dev/min-scale'], '0', `${fn.name} scales to zero`);
    assert.is(containerOf(fn).env![0]!.value, fn.name, 'its FUNCTION_TARGET');
  }
  assert.is(pingSources().length, scheduleFunctions.length, 'no PingSource without its function');
});

schedules('a PingSource is rendered from any ScheduleFunction: name, cron and sink from the declaration', () => {
  const fn: ScheduleFunction = defineScheduleFunction({
    name: 'compactSomething',
    domain: 'monitoring',
    summary: 'A made-up scheduled function',
    schedule: { cron: '*/15 * * * *', everySeconds: 30 },
    async handler() {},
  });
  const source = pingSource(fn);
  assert.equal([source.apiVersion, source.kind, source.metadata.name, source.metadata.namespace], ['sources.knative.dev/v1', 'PingSource', 'compact-something', namespace]);
  assert.is(source.spec.schedule, '*/15 * * * *');
  assert.equal(source.spec.sink, { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'compact-something', namespace } });
  assert.is(deployPolicyOf(fn).minScale, 0, 'a scheduled function scales to zero unless it says otherwise');
});

const longLived = suite('knative: long-lived processes');

type ClusterProcess = LongLivedProcess & { cluster: { workload: 'Deployment' | 'StatefulSet'; replicas: number } };
const clusterProcesses = (processes as readonly LongLivedProcess[]).filter((p): p is ClusterProcess => p.cluster.workload !== 'none');

longLived('the processes that a cluster runs are workloads of their declared kind and replicas; the others are not rendered', () => {
  const workloads = [...ofKind('apps/v1', 'Deployment'), ...ofKind('apps/v1', 'StatefulSet')];
  assert.equal(workloads.map((w) => w.metadata.name).sort(), clusterProcesses.map((p) => p.name).sort());
  for (const p of clusterProcesses) {
    const workload = workloads.find((w) => w.metadata.name === p.name)!;
    assert.equal([workload.kind, workload.spec?.replicas], [p.cluster.workload, p.cluster.replicas], p.name);
  }
  assert.equal(clusterProcesses.map((p) => p.name).sort(), ['bridge', 'relay'], 'triggers and scheduler are replaced by sources, the gateway is not deployed');
});

longLived('the relay a Deployment, the bridge a StatefulSet, with their FUNCTION_TARGET and image, probed, with a Service selecting their pods', () => {
  for (const [target, kind] of [['relay', 'Deployment'], ['bridge', 'StatefulSet']] as const) {
    const deployment = ofKind('apps/v1', kind).find((d) => d.metadata.name === target);
    assert.ok(deployment, `no ${kind} ${target}`);
    assert.ok((deployment!.spec?.replicas ?? 0) >= 1, 'never scaled to zero');
    const container = deployment!.spec!.template.spec!.containers[0]!;
    assert.equal(container.env, [
      { name: 'FUNCTION_TARGET', value: target },
      { name: 'JWKS_URL', value: 'http://jwks.iotfn.svc.cluster.local/auth/jwks.json' },
    ]);
    assert.is(container.image, imageTag(target));
    assert.is(container.readinessProbe?.httpGet?.path, '/readyz');
    assert.is(container.livenessProbe?.httpGet?.path, '/healthz');
    const podLabels = deployment!.spec!.template.metadata!.labels!;
    for (const [k, v] of Object.entries(deployment!.spec!.selector.matchLabels!)) assert.is(podLabels[k], v, `selector ${k}`);
    const service = ofKind('v1', 'Service').find((s) => s.metadata.name === target);
    assert.ok(service, `no Service ${target}`);
    for (const [k, v] of Object.entries(service!.spec!.selector!)) assert.is(podLabels[k], v, `service selector ${k}`);
    assert.ok(container.ports?.some((p) => p.name === service!.spec!.ports![0]!.targetPort), 'the Service targets a named container port');
    assert.ok(container.ports?.some((p) => p.name === 'metrics' && p.containerPort === metricsPort), 'the internal port is declared as `metrics`');
    assert.is(deployment!.spec!.template.metadata!.annotations?.['prometheus.io/port'], String(metricsPort));
    assert.not.ok(service!.spec!.ports!.some((p) => p.targetPort === 'metrics' || p.targetPort === metricsPort), 'the Service does not route the internal port');
  }
});

longLived('the bridge keeps its pod names (its broker sessions are named after them), starts its pods at once, and is governed by its Service', () => {
  const bridge = ofKind('apps/v1', 'StatefulSet').find((d) => d.metadata.name === 'bridge');
  assert.ok(bridge);
  assert.is(bridge!.spec!.serviceName, 'bridge');
  assert.ok(ofKind('v1', 'Service').some((s) => s.metadata.name === bridge!.spec!.serviceName), 'the governing Service exists');
  assert.is(bridge!.spec!.podManagementPolicy, 'Parallel');
  assert.ok((bridge!.spec!.replicas ?? 0) >= 2, 'two bridges, so an update never leaves the group without a subscriber');
  assert.not.ok(ofKind('apps/v1', 'Deployment').some((d) => d.metadata.name === 'bridge'), 'not a Deployment as well');
});

const routing = suite('knative: routing');

/** A concrete path for a route: `{id}` filled in. */
const samplePath = (path: string) => path.replace(/\{\w+\}/g, '3f0c5a52-9a52-4c8e-9a55-4f1d2c0b7e11');

function matches(rule: HTTPRouteRule, method: string, path: string): boolean {
  return rule.matches.some((m) => {
    if (m.method && m.method !== method) return false;
    const p = m.path;
    if (!p) return true;
    if (p.type === 'Exact') return path === p.value;
    if (p.type === 'PathPrefix') return path === p.value || path.startsWith(p.value.endsWith('/') ? p.value : `${p.value}/`);
    return new RegExp(p.value).test(path);
  });
}

routing('every HTTP function is reached by exactly one rule, for its method and path, rewritten to its cluster-local Service', () => {
  const rules = ofKind('gateway.networking.k8s.io/v1', 'HTTPRoute').flatMap((r) => r.spec.rules);
  for (const fn of httpFunctions) {
    for (const path of [samplePath(fn.path), `${samplePath(fn.path)}/`]) {
      const hits = rules.filter((rule) => matches(rule, fn.method, path));
      assert.is(hits.length, 1, `${fn.method} ${path}: ${hits.length} rules match`);
      const rule = hits[0]!;
      assert.equal(rule.filters, [{ type: 'URLRewrite', urlRewrite: { hostname: clusterLocalHost(fn) } }]);
      assert.equal(rule.backendRefs, [{ name: kourier.service, namespace: kourier.namespace, port: 80 }]);
    }
    assert.ok(serviceOf(fn), `${clusterLocalHost(fn)} is a Knative Service`);
  }
  // A path a function does not serve reaches none of them.
  assert.is(rules.filter((rule) => matches(rule, 'GET', '/devices/x/y/z')).length, 0);
});

routing('/socket.io reaches the relay Service; routes attach to the Gateway; no route holds more rules than the API allows', () => {
  const routes: HTTPRoute[] = ofKind('gateway.networking.k8s.io/v1', 'HTTPRoute');
  const socket = routes.flatMap((r) => r.spec.rules).filter((rule) => matches(rule, 'GET', '/socket.io/'));
  assert.is(socket.length, 1);
  assert.equal(socket[0]!.backendRefs, [{ name: 'relay', port: 80 }]);
  const gateways = ofKind('gateway.networking.k8s.io/v1', 'Gateway');
  const classes = ofKind('gateway.networking.k8s.io/v1', 'GatewayClass').map((c) => c.metadata.name);
  assert.ok(gateways.every((g) => classes.includes(g.spec.gatewayClassName)));
  for (const route of routes) {
    assert.ok(route.spec.rules.length <= maxRulesPerRoute, `${route.metadata.name}: ${route.spec.rules.length} rules`);
    for (const parent of route.spec.parentRefs) assert.ok(gateways.some((g) => g.metadata.name === parent.name && g.metadata.namespace === (parent.namespace ?? route.metadata.namespace)));
  }
  const grant = ofKind('gateway.networking.k8s.io/v1beta1', 'ReferenceGrant')[0];
  assert.is(grant?.metadata.namespace, kourier.namespace, 'the grant lives beside the Service it lets routes reach');
  assert.equal(grant?.spec.from, [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace }]);
});

const structure = suite('knative: structure');

const knownKinds: Record<string, string[]> = {
  v1: ['Namespace', 'ConfigMap', 'Secret', 'Service'],
  'apps/v1': ['Deployment', 'StatefulSet'],
  'serving.knative.dev/v1': ['Service'],
  'sources.knative.dev/v1alpha1': ['RabbitmqSource'],
  'sources.knative.dev/v1': ['PingSource'],
  'rabbitmq.com/v1beta1': ['RabbitmqCluster', 'Exchange', 'Queue', 'Binding'],
  'gateway.networking.k8s.io/v1': ['GatewayClass', 'Gateway', 'HTTPRoute'],
  'gateway.networking.k8s.io/v1beta1': ['ReferenceGrant'],
};
const clusterScoped = new Set(['Namespace', 'GatewayClass']);
const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1035Label = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

structure('apiVersion and kind pairs are known; names are DNS-1123 labels (Services: DNS-1035), unique per kind', () => {
  const seen = new Set<string>();
  for (const o of objects) {
    assert.ok(knownKinds[o.apiVersion]?.includes(o.kind), `${o.apiVersion} ${o.kind} in ${o.file}`);
    const name = o.metadata.name!;
    assert.ok(name.length <= 63 && dns1123Label.test(name), `${o.kind} ${name}`);
    if (o.kind === 'Service') assert.ok(dns1035Label.test(name), `${o.kind} ${name} must start with a letter`);
    const key = `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${name}`;
    assert.not.ok(seen.has(key), `${key} twice`);
    seen.add(key);
  }
});

structure('namespaced objects sit in the namespace; labels name the object and the project; label and annotation values are strings', () => {
  for (const o of objects) {
    if (clusterScoped.has(o.kind)) assert.is(o.metadata.namespace, undefined, `${o.kind} ${o.metadata.name} is cluster-scoped`);
    else if (o.kind === 'ReferenceGrant') assert.is(o.metadata.namespace, kourier.namespace);
    else assert.is(o.metadata.namespace, namespace, `${o.kind} ${o.metadata.name}`);
    assert.is(o.metadata.labels?.['app.kubernetes.io/part-of'], 'iotfn', `${o.kind} ${o.metadata.name}`);
    if (o.kind !== 'Namespace') assert.is(o.metadata.labels?.['app.kubernetes.io/name'], o.metadata.name, `${o.kind} ${o.metadata.name}`);
  }
  // Kubernetes rejects a number or a boolean where it expects a string: check what the YAML reads back as.
  const stringMaps = objects.flatMap((o) => {
    const maps: Array<Record<string, unknown> | undefined> = [o.metadata.labels, o.metadata.annotations];
    if (o.kind === 'ConfigMap') maps.push(o.data);
    if (o.apiVersion === 'serving.knative.dev/v1') maps.push(o.spec.template.metadata?.labels, o.spec.template.metadata?.annotations);
    if (o.kind === 'Deployment' || o.kind === 'StatefulSet') maps.push(o.spec?.template.metadata?.labels, o.spec?.template.metadata?.annotations);
    return maps.filter((m): m is Record<string, unknown> => m !== undefined);
  });
  for (const map of stringMaps) for (const [k, v] of Object.entries(map)) assert.type(v, 'string', `${k}: ${JSON.stringify(v)}`);
});

knative('credentials go only where they are used: the signing key to signing functions, the broker account to the bridge', () => {
  for (const fn of functions) {
    const names = containerOf(fn).envFrom!.flatMap((e) => (e.secretRef ? [e.secretRef.name] : []));
    assert.ok(names.includes(secretNames.shared), fn.name);
    assert.is(names.includes(secretNames.signingKey), fn.domain === 'signing', `${fn.name}: signing key`);
    assert.not.ok(names.includes(secretNames.mqttBridge), `${fn.name}: broker account`);
    const jwksUrl = containerOf(fn).env!.find((e) => e.name === 'JWKS_URL')?.value;
    assert.is(jwksUrl === undefined, fn.domain === 'signing', `${fn.name}: signs or verifies with JWKS, not both`);
    if (jwksUrl) assert.is(jwksUrl, 'http://jwks.iotfn.svc.cluster.local/auth/jwks.json');
  }
  const bridge = ofKind('apps/v1', 'StatefulSet').find((d) => d.metadata.name === 'bridge')!.spec!.template.spec!.containers[0]!;
  assert.ok(bridge.envFrom!.some((e) => e.secretRef?.name === secretNames.mqttBridge));
  assert.equal(Object.keys(secretOf).sort(), [...secretVariables].sort());
});

structure('the ConfigMap holds every non-secret variable and no secret; with the Secret keys filled in, the config loads as production', () => {
  const data = ofKind('v1', 'ConfigMap').find((c) => c.metadata.name === configMapName)!.data!;
  const expected = Object.keys(configSchema.shape).filter((k) => !(secretVariables as readonly string[]).includes(k) && k !== 'PORT');
  const optionalWithoutDefault = expected.filter((k) => !(k in data));
  for (const k of optionalWithoutDefault) assert.is((configSchema.parse({}) as Record<string, unknown>)[k], undefined, `${k} has a default but is missing`);
  for (const k of secretVariables) assert.not.ok(k in data, `${k} is a secret`);
  const signing = loadConfig({ ...data, JWT_PRIVATE_KEY: freshSigningKeyPem(), DATABASE_URL: 'postgres://u:p@db:5432/iotfn' });
  assert.is(signing.NODE_ENV, 'production');
  assert.is(signing.TRUST_PROXY, true);
  const verifying = loadConfig({ ...data, JWKS_URL: jwksUrlFor(functions.find((fn) => fn.domain !== 'signing')!) });
  assert.is(verifying.JWKS_URL, 'http://jwks.iotfn.svc.cluster.local/auth/jwks.json');
});

structure('the Secrets are templates only: every secret key once, placeholders, and left out of the kustomization', () => {
  const file = knativeFiles().find((f) => f.path === 'knative/secret.template.yaml')!;
  const templates = file.objects.filter((o): o is Extract<ClusterObject, { kind: 'Secret' }> => o.kind === 'Secret');
  assert.equal(templates.map((t) => t.metadata.name).sort(), Object.values(secretNames).sort());
  const values: Record<string, string> = {};
  for (const t of templates) {
    for (const [k, v] of Object.entries(t.stringData ?? {})) {
      assert.is(secretOf[k as keyof typeof secretOf], t.metadata.name, `${k} in ${t.metadata.name}`);
      values[k] = v;
    }
  }
  assert.equal(Object.keys(values).sort(), [...secretVariables].sort());
  assert.is(values.JWT_PRIVATE_KEY, '');
  for (const [k, v] of Object.entries(values)) {
    const password = v ? new URL(v).password : '';
    assert.ok(password === '' || password === 'CHANGE-ME', `${k} carries no real credential`);
  }
  assert.not.ok(kustomization().resources.includes('secret.template.yaml'));
  assert.not.ok(objects.some((o) => o.kind === 'Secret'), 'no Secret is applied');
});

structure('the kustomization lists every other file of knative/, and kubectl kustomize builds it (when kubectl is here)', () => {
  const rendered = renderKnative().map((f) => f.path.slice('knative/'.length));
  const listed = kustomization().resources;
  assert.equal([...listed].sort(), rendered.filter((p) => p !== 'kustomization.yaml' && p !== 'secret.template.yaml').sort());
  const kubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 15_000 });
  if (kubectl.error || kubectl.status !== 0) {
    console.log('  (kubectl is not installed: kustomize build not checked)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'iotfn-knative-'));
  try {
    for (const file of renderKnative()) {
      const target = join(dir, file.path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, file.content);
    }
    const built = spawnSync('kubectl', ['kustomize', join(dir, 'knative')], { encoding: 'utf8', timeout: 30_000 });
    assert.is(built.status, 0, built.stderr);
    const docs = parseAllDocuments(built.stdout);
    assert.ok(docs.every((d) => d.errors.length === 0));
    assert.is(docs.length, objects.length, 'every applied object survives the build');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const openfaas = suite('openfaas: stack.yml');

openfaas('every function with its image, FUNCTION_TARGET, the shared config, the secret, scale labels and health paths', () => {
  const [file] = renderOpenFaas();
  assert.is(file!.path, 'stack.yml');
  assert.match(file!.content, /^version: 1\.0$/m, 'faas-cli files say 1.0');
  const doc = parseDocument(file!.content);
  assert.equal(doc.errors, []);
  const stack = doc.toJS() as {
    provider: { name: string; gateway: string };
    functions: Record<string, { lang: string; handler: string; image: string; environment: Record<string, string>; secrets: string[]; labels: Record<string, string>; annotations: Record<string, string> }>;
  };
  assert.equal(stack.provider, { name: 'openfaas', gateway: 'http://127.0.0.1:8080' });
  assert.equal(Object.keys(stack.functions), functions.map((fn) => kebab(fn.name)));
  const configData = ofKind('v1', 'ConfigMap')[0]!.data!;
  for (const fn of functions) {
    const f = stack.functions[kebab(fn.name)]!;
    assert.equal([f.lang, f.handler, f.image], ['dockerfile', '.', imageTag(fn.name)]);
    const jwks = fn.domain === 'signing' ? {} : { JWKS_URL: 'http://jwks.openfaas-fn.svc.cluster.local:8080/auth/jwks.json' };
    // A scheduled function's invocation lasts up to a minute: the default 10 s timeouts would cut it off.
    const timeouts = fn.kind === 'schedule' ? { read_timeout: '75s', write_timeout: '75s', exec_timeout: '75s' } : {};
    assert.equal(f.environment, { FUNCTION_TARGET: fn.name, ...jwks, ...configData, ...timeouts });
    assert.equal(f.secrets, secretsFor(fn));
    const min = Number(f.labels['com.openfaas.scale.min']);
    const max = Number(f.labels['com.openfaas.scale.max']);
    assert.ok(min >= 1 && max >= min, `${fn.name}: ${min}..${max}`);
    assert.is(f.annotations['com.openfaas.health.http.path'], '/healthz');
    assert.is(f.annotations['com.openfaas.ready.http.path'], '/readyz');
    if (f.annotations['prometheus.io/scrape']) assert.is(f.annotations['prometheus.io/port'], String(metricsPort));
    for (const map of [f.environment, f.labels, f.annotations]) for (const v of Object.values(map)) assert.type(v, 'string');
    assert.ok(dns1123Label.test(kebab(fn.name)));
    if (fn.kind === 'event') assert.is(f.annotations.topic, fn.trigger.pattern, `${fn.name}: the RabbitMQ connector's topic`);
    else if (fn.kind === 'schedule') assert.equal([f.annotations.topic, f.annotations.schedule], [cronTopic, fn.schedule.cron], `${fn.name}: the cron-connector's topic and schedule`);
    else assert.is(f.annotations.topic, undefined);
    if (fn.kind !== 'schedule') assert.is(f.annotations.schedule, undefined, fn.name);
    // The same set as Knative's min-scale 0: OpenFaaS's idler scales these to zero.
    assert.is(f.labels['com.openfaas.scale.zero'], String(deployPolicyOf(fn).minScale === 0), `${fn.name}: scale to zero`);
    assert.is(f.labels['com.openfaas.scale.max'], String(deployPolicyOf(fn).maxScale), `${fn.name}: max`);
  }
});

knative.run();
events.run();
schedules.run();
longLived.run();
routing.run();
structure.run();
openfaas.run();
