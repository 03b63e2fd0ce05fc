/**
 * Prometheus and Grafana configuration: the rendered files equal the checked-in ones; Prometheus's own
 * `promtool` (Debian's package) accepts the scrape configurations and the alert rules; every metric a query
 * names is registered by the code (shared/metrics.ts) or listed as external with where it comes from; the
 * Compose scrape targets are the Compose services; the Grafana provisioning points at what Compose mounts.
 *
 * Debian builds Prometheus without Kubernetes service discovery (`kubernetes_sd_configs` is an unknown field
 * to its promtool), so prometheus-k8s.yml is checked in two steps: promtool checks it with each
 * `kubernetes_sd_configs` swapped for an empty static list (which keeps every relabelling rule, regex and
 * action under promtool's check), and the discovery blocks themselves are checked here. Where promtool knows
 * Kubernetes discovery, it checks the file as it is.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { httpFunctions } from '../functions/registry.ts';
import { metricNames, metricsRegistry } from '../shared/metrics.ts';
import { kebab, metricsPort } from '../deploy/settings.ts';
import { externalMetrics, renderObservability, scrapedServices } from '../deploy/renderers/observability.ts';
import { repoRoot } from './support/processes.ts';

const read = (path: string) => readFileSync(join(repoRoot, path), 'utf8');
const promtool = (...args: string[]) => {
  const result = spawnSync('promtool', args, { timeout: 30_000, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
};

/** Words of PromQL that look like metric names but are not. */
const promqlWords = new Set([
  'sum', 'avg', 'min', 'max', 'count', 'topk', 'bottomk', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right',
  'and', 'or', 'unless', 'bool', 'offset', 'rate', 'irate', 'increase', 'delta', 'histogram_quantile', 'abs', 'clamp_min',
]);

/** The metric names a PromQL expression selects: identifiers outside strings, label matchers, ranges and label lists, not called. */
function metricsIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  return [...stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)]
    .filter((match) => !/^\s*\(/.test(stripped.slice(match.index! + match[0].length)))
    .map((match) => match[0])
    .filter((word) => !promqlWords.has(word));
}

/** A name the code registers: one of metricNames, or a histogram's `_bucket`, `_sum` or `_count` series. */
function registered(name: string): boolean {
  const base = name.replace(/_(bucket|sum|count)$/, '');
  const known = Object.values(metricNames) as string[];
  if (known.includes(name)) return true;
  return base !== name && known.includes(base) && metricsRegistry.getSingleMetric(base)?.constructor.name === 'Histogram';
}

const files = suite('observability files');

files('the checked-in Prometheus and Grafana files are what the renderer writes', () => {
  for (const file of renderObservability()) assert.fixture(read(file.path), file.content, `${file.path} is stale: run iotfn render`);
  assert.equal(renderObservability(), renderObservability(), 'rendering twice gives the same files');
});

files('the metric name reader finds names, and only names', () => {
  assert.equal(metricsIn('histogram_quantile(0.95, sum by (le, function) (rate(a_bucket{status=~"5.."}[$__rate_interval])))'), ['a_bucket']);
  assert.equal(metricsIn('sum(x) / sum by (queue) (y{queue="a.b"}) > 10 and up == 0'), ['x', 'y', 'up']);
});

files('every metric name in metricNames is registered in the process registry', () => {
  for (const name of Object.values(metricNames)) assert.ok(metricsRegistry.getSingleMetric(name), `${name} is registered`);
});

files('promtool accepts the Compose scrape configuration and, through it, the alert rules', () => {
  const config = promtool('check', 'config', join(repoRoot, 'deploy/prometheus/prometheus.yml'));
  assert.is(config.status, 0, config.output);
  assert.match(config.output, /SUCCESS: 1 rule files found/);
  const rules = promtool('check', 'rules', join(repoRoot, 'deploy/prometheus/alerts.yml'));
  assert.is(rules.status, 0, rules.output);
  assert.match(rules.output, /SUCCESS: \d+ rules found/);
});

files('promtool accepts the Kubernetes scrape configuration', () => {
  const path = join(repoRoot, 'deploy/prometheus/prometheus-k8s.yml');
  const direct = promtool('check', 'config', path);
  if (direct.status === 0) return;
  assert.match(direct.output, /field kubernetes_sd_configs not found/, `promtool failed for another reason: ${direct.output}`);

  const config = parse(readFileSync(path, 'utf8')) as { scrape_configs: Array<Record<string, unknown>> };
  for (const job of config.scrape_configs) {
    const discovery = job.kubernetes_sd_configs as Array<{ role: string }>;
    assert.ok(Array.isArray(discovery) && discovery.length > 0, `${String(job.job_name)} discovers with Kubernetes`);
    for (const { role } of discovery) assert.ok(['pod', 'service', 'endpoints', 'endpointslice', 'node', 'ingress'].includes(role), `role ${role}`);
    delete job.kubernetes_sd_configs;
    job.static_configs = [{ targets: [] }];
  }
  const dir = mkdtempSync(join(tmpdir(), 'iotfn-promtool-'));
  try {
    writeFileSync(join(dir, 'prometheus-k8s.yml'), JSON.stringify(config));
    copyFileSync(join(repoRoot, 'deploy/prometheus/alerts.yml'), join(dir, 'alerts.yml'));
    const swapped = promtool('check', 'config', join(dir, 'prometheus-k8s.yml'));
    assert.is(swapped.status, 0, swapped.output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

files('every metric the alert rules and the dashboard query is registered by the code or listed as external', () => {
  const alerts = parse(read('deploy/prometheus/alerts.yml')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
  const dashboard = JSON.parse(read('deploy/grafana/dashboards/iotfn.json')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
  const queries = [
    ...alerts.groups.flatMap((group) => group.rules.map((rule) => ({ where: `alert ${rule.alert}`, expr: rule.expr }))),
    ...dashboard.panels.flatMap((panel) => panel.targets.map((target) => ({ where: `panel "${panel.title}"`, expr: target.expr }))),
  ];
  assert.ok(queries.length > 10);
  const used = new Set<string>();
  for (const { where, expr } of queries) {
    const names = metricsIn(expr);
    assert.ok(names.length > 0, `${where} selects a metric`);
    for (const name of names) {
      used.add(name);
      assert.ok(registered(name) || name in externalMetrics, `${where}: ${name} is neither registered by the code nor listed as external`);
    }
  }
  // The dashboard shows what the issue asks for: requests, latency, ingestion, queue depth, live sockets.
  for (const name of [metricNames.httpRequests, `${metricNames.httpDuration}_bucket`, metricNames.telemetryStored, 'rabbitmq_queue_messages_ready', metricNames.relaySockets]) {
    assert.ok(used.has(name), `${name} is queried`);
  }
});

files('alert rules cover the 5xx rate per function, ingest lag and a growing dead-letter queue', () => {
  const alerts = parse(read('deploy/prometheus/alerts.yml')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
  const byName = Object.fromEntries(alerts.groups.flatMap((g) => g.rules).map((rule) => [rule.alert, rule.expr]));
  assert.match(byName.FunctionErrorRate!, /sum by \(function\)/);
  assert.match(byName.FunctionErrorRate!, /status=~"5\.\."/);
  assert.match(byName.IngestLag!, /queue="iotfn\.ingest"/);
  assert.match(byName.DeadLetterQueueGrowing!, /queue="iotfn\.dead-letters"/);
  assert.match(byName.EventsDeadLettered!, new RegExp(metricNames.eventsDeadLettered));
});

files('Compose scrapes every function service, the triggers, relay and bridge, and RabbitMQ on its plugin port', () => {
  const prometheus = parse(read('deploy/prometheus/prometheus.yml')) as { scrape_configs: Array<{ job_name: string; metrics_path?: string; static_configs: Array<{ targets: string[] }> }> };
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, { expose?: string[]; ports?: string[] }> };
  const targets = prometheus.scrape_configs.flatMap((job) => job.static_configs.flatMap((s) => s.targets));
  // On the internal port (METRICS_PORT): the public one serves no /metrics.
  for (const fn of httpFunctions) assert.ok(targets.includes(`${kebab(fn.name)}:${metricsPort}`), `${fn.name} is scraped`);
  for (const service of scrapedServices()) assert.ok(compose.services[service], `${service} is a Compose service`);
  for (const service of scrapedServices()) assert.ok(compose.services[service]?.expose?.includes(String(metricsPort)), `${service} exposes its metrics port on the Compose network`);
  for (const process of ['triggers', 'relay', 'bridge']) assert.ok(targets.includes(`${process}:${metricsPort}`));
  for (const [name, service] of Object.entries(compose.services)) {
    assert.not.ok((service.ports ?? []).some((port) => new RegExp(`(^|:)${metricsPort}(/|$)`).test(port)), `${name} does not publish the metrics port to the host`);
  }
  const rabbitmq = prometheus.scrape_configs.find((job) => job.job_name === 'rabbitmq');
  assert.is(rabbitmq?.metrics_path, '/metrics/per-object', 'per-queue metrics: the plain /metrics sums every queue');
  assert.equal(rabbitmq?.static_configs[0]?.targets, ['rabbitmq:15692']);
  assert.ok(compose.services.rabbitmq?.expose?.includes('15692'));
});

files('Grafana is provisioned with the data source the dashboard names, from the folder Compose mounts', () => {
  const datasources = parse(read('deploy/grafana/provisioning/datasources/prometheus.yml')) as { datasources: Array<{ uid: string; url: string }> };
  const providers = parse(read('deploy/grafana/provisioning/dashboards/iotfn.yml')) as { providers: Array<{ options: { path: string } }> };
  const dashboard = JSON.parse(read('deploy/grafana/dashboards/iotfn.json')) as { uid: string; panels: Array<{ datasource: { uid: string }; targets: unknown[] }> };
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, { volumes?: string[] }> };
  const uids = datasources.datasources.map((d) => d.uid);
  for (const panel of dashboard.panels) {
    assert.ok(uids.includes(panel.datasource.uid), 'the panel\'s data source is provisioned');
    assert.ok(panel.targets.length > 0);
  }
  assert.is(datasources.datasources[0]?.url, 'http://prometheus:9090');
  const mounts = compose.services.grafana?.volumes ?? [];
  assert.ok(mounts.includes(`./deploy/grafana/dashboards:${providers.providers[0]?.options.path}:ro`), 'the provider reads the mounted dashboards');
  assert.ok(mounts.some((m) => m.startsWith('./deploy/grafana/provisioning/datasources:')));
});

files.run();
