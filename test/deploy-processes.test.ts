/**
 * The long-lived processes are declared once (functions/processes.ts); every list of them elsewhere is derived
 * from it: the image's targets and entrypoint, the Compose services and their dependencies and credentials, the
 * Prometheus targets, the cluster workloads, and `iotfn`'s usage. The scheduler service runs the scheduled
 * functions in Compose, which has no service per scheduled function.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { parse } from 'yaml';
import { credentialsOf, isPrefixPath, processes, type LongLivedProcess } from '../functions/processes.ts';
import { eventFunctions, functions, httpFunctions, scheduleFunctions } from '../functions/registry.ts';
import { credentials, type Credential } from '../shared/config.ts';
import { imageTargets, processTargets, renderContainerArtefacts } from '../deploy/renderers/container.ts';
import { renderCompose, upstreamServices } from '../deploy/renderers/compose.ts';
import { nginxConf } from '../deploy/renderers/nginx.ts';
import { scrapedServices } from '../deploy/renderers/observability.ts';
import { knativeFiles, secretOf, secretsFor } from '../deploy/renderers/knative.ts';
import type { HTTPRoute } from '../deploy/renderers/knative-types.ts';
import { imageTag, kebab, metricsPort } from '../deploy/settings.ts';
import { repoRoot } from './support/processes.ts';

interface ComposeService {
  image?: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  expose?: string[];
}

const all = processes as readonly LongLivedProcess[];
const names = all.map((p) => p.name);
const composeServices = () => (parse(renderCompose().find((f) => f.path === 'docker-compose.yml')!.content, { merge: true }) as { services: Record<string, ComposeService> }).services;

const derived = suite('processes: one list, every other derived from it');

derived('the list itself: unique names and commands, each with a summary and a cluster policy', () => {
  assert.is(new Set(names).size, names.length);
  assert.is(new Set(all.map((p) => p.command)).size, all.length);
  assert.equal([...names].sort(), ['bridge', 'gateway', 'relay', 'scheduler', 'triggers']);
  for (const p of all) {
    assert.ok(p.summary.length > 0, p.name);
    if (p.cluster.workload !== 'none') assert.ok(p.cluster.replicas >= 1, `${p.name}: never scaled to zero`);
    else assert.ok(p.cluster.replacedBy.length > 0, `${p.name}: says what does its job in a cluster`);
  }
  assert.equal(all.find((p) => p.name === 'triggers')!.runs, eventFunctions);
  assert.equal(all.find((p) => p.name === 'scheduler')!.runs, scheduleFunctions);
});

derived('the image: a FUNCTION_TARGET, a tag and an entrypoint case per process, running its `iotfn` command', () => {
  assert.equal(processTargets, Object.fromEntries(all.map((p) => [p.name, p.command])));
  assert.equal(imageTargets().slice(-all.length), names);
  const entrypoint = renderContainerArtefacts().find((f) => f.path === 'docker/entrypoint.sh')!.content;
  for (const p of all) assert.match(entrypoint, new RegExp(`^  ${p.name}\\) exec .* ${p.command} ;;$`, 'm'), `${p.name} runs iotfn ${p.command}`);
});

derived('Compose: a service per process, of its image and FUNCTION_TARGET, waiting for what it depends on', () => {
  const services = composeServices();
  for (const p of all) {
    const service = services[p.name];
    assert.ok(service, `no Compose service ${p.name}`);
    assert.is(service!.image, imageTag(p.name));
    assert.is(service!.environment?.FUNCTION_TARGET, p.name);
    assert.equal(Object.keys(service!.depends_on ?? {}).sort(), [...p.dependsOn].sort(), `${p.name} waits for what it declares`);
    assert.is(service!.environment?.DATABASE_URL === undefined, p.adapters === 'embedded', `${p.name}: ${p.adapters} adapters`);
  }
});

const credentialNames = Object.keys(credentials) as Credential[];

derived('credentials go where shared/config.ts and the process list say, in Compose and in Knative alike', () => {
  const services = composeServices();
  const unshared = credentialNames.filter((name) => credentials[name].readers !== 'all');
  const shared = credentialNames.filter((name) => credentials[name].readers === 'all');
  for (const p of [...httpFunctions, ...all.filter((p) => p.adapters === 'shared')]) {
    const environment = services[kebab(p.name)]!.environment ?? {};
    const reads = credentialsOf(p);
    for (const name of unshared) assert.is(name in environment, reads.includes(name), `${p.name}: ${name}`);
    for (const name of shared) assert.ok(name in environment && reads.includes(name), `${p.name}: ${name}, which every process reads`);
  }
  // The gateway runs on embedded adapters: no credential at all.
  for (const name of credentialNames) assert.not.ok(name in (services.gateway!.environment ?? {}), `gateway: ${name}`);
  // Knative mounts exactly the Secrets that hold what a process reads.
  for (const p of [...functions, ...all]) assert.equal([...secretsFor(p)].sort(), [...new Set(credentialsOf(p).map((name) => secretOf[name]))].sort(), p.name);
  // What each reads, spelled out once: a change to the policy shows here.
  const reads = (name: string) => credentialsOf([...functions, ...all].find((p) => p.name === name)!).filter((c) => credentials[c].readers !== 'all');
  assert.equal(reads('login'), ['JWT_PRIVATE_KEY']);
  assert.equal(reads('addDevice'), ['DEVICE_TOKEN_SECRET']);
  assert.equal(reads('queryMetrics'), []);
  assert.equal(reads('bridge'), ['DEVICE_TOKEN_SECRET', 'MQTT_URL']);
  assert.equal(reads('relay'), []);
});

derived('Prometheus scrapes the processes that declare it, on their internal port; the cluster runs those with a workload', () => {
  const scraped = scrapedServices();
  for (const p of all) assert.is(scraped.includes(p.name), p.scraped, `${p.name} scraped`);
  const services = composeServices();
  for (const p of all.filter((p) => p.scraped)) assert.ok(services[p.name]?.expose?.includes(String(metricsPort)), `${p.name} exposes ${metricsPort}`);
  const rendered = knativeFiles()
    .flatMap((f) => f.objects)
    .filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
    .map((o) => o.metadata.name);
  assert.equal(rendered.sort(), all.filter((p) => p.cluster.workload !== 'none').map((p) => p.name).sort());
});

derived('public paths: NGINX and the cluster Gateway send each declared path to its process, and nothing else to one', () => {
  const conf = nginxConf({ upstream: (service) => `${service}.test:1` });
  const routed = all.filter((p) => p.ingress);
  assert.equal(upstreamServices().slice(-routed.length), routed.map((p) => p.name), 'NGINX waits for them in Compose');
  for (const p of all) {
    const proxied = [...conf.matchAll(new RegExp(`location (=|\\^~) (\\S+) \\{\\n\\s+set \\$iotfn_${p.name} ${p.name}\\.test:1;`, 'g'))].map((m) => [m[1], m[2]]);
    assert.equal(proxied, (p.ingress?.paths ?? []).map((path) => [isPrefixPath(path) ? '^~' : '=', path]), `${p.name}: its NGINX locations`);
  }
  const rules = knativeFiles()
    .flatMap((f) => f.objects)
    .filter((o): o is HTTPRoute => o.kind === 'HTTPRoute')
    .flatMap((r) => r.spec.rules)
    .filter((rule) => rule.backendRefs.some((b) => !b.namespace));
  const expected = routed.filter((p) => p.cluster.workload !== 'none').flatMap((p) => p.ingress!.paths.map((path) => [path.replace(/(.)\/$/, '$1'), p.name]));
  assert.equal(rules.map((rule) => [rule.matches[0]!.path!.value, rule.backendRefs[0]!.name]), expected);
});

derived('`iotfn` dispatches and documents every process command (the usage, on stdout: asked for, it is an answer)', () => {
  const ran = spawnSync(process.execPath, ['--import', 'tsx', 'bin/iotfn.ts'], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
  assert.is(ran.status, 0, ran.stderr);
  for (const p of all) assert.match(ran.stdout, new RegExp(`^  ${p.command}\\s`, 'm'), `usage lists ${p.command}`);
});

const scheduler = suite('processes: the Compose scheduler');

scheduler('one scheduler service runs every scheduled function; no scheduled function is a service of its own', () => {
  const services = composeServices();
  const service = services.scheduler!;
  assert.is(service.environment?.FUNCTION_TARGET, 'scheduler');
  for (const needed of ['postgres', 'redis', 'rabbitmq']) assert.is(service.depends_on?.[needed]?.condition, 'service_healthy', `waits for ${needed}`);
  for (const fn of scheduleFunctions) assert.not.ok(services[kebab(fn.name)], `${fn.name} has no service: the scheduler runs it`);
  for (const fn of httpFunctions) assert.ok(services[kebab(fn.name)], `${fn.name} is still a service`);
});

derived.run();
scheduler.run();
