/**
 * Prometheus and Grafana, rendered from the registry, the bus topology and shared/metrics.ts:
 *
 *   deploy/prometheus/prometheus.yml       Compose: every function service, the scraped processes (functions/processes.ts), RabbitMQ
 *   deploy/prometheus/prometheus-k8s.yml   Kubernetes: pods that opt in with the `prometheus.io/scrape` annotation
 *   deploy/prometheus/alerts.yml           5xx rate per function, ingest lag, dead letters growing, targets down
 *   deploy/grafana/…                       the data source, the dashboard provider and the iotfn dashboard
 *
 * Every query names metrics through `metricNames`, the one list of what the code registers; the only other
 * names are RabbitMQ's (its rabbitmq_prometheus plugin, per queue on `/metrics/per-object`) and Prometheus's
 * own `up`, listed in `externalMetrics` with where they come from.
 */
import { configSchema } from '../../shared/config.ts';
import { stringify } from 'yaml';
import { httpFunctions } from '../../functions/registry.ts';
import { processes } from '../../functions/processes.ts';
import { queues } from '../../shared/bus/topology.ts';
import { metricNames } from '../../shared/metrics.ts';
import type { RenderedFile } from '../render.ts';
import { kebab, metricsPort, project } from '../settings.ts';

/** Metric names the queries use that the platform's code does not register, and who does. */
export const externalMetrics = {
  rabbitmq_queue_messages_ready: 'RabbitMQ, rabbitmq_prometheus plugin (/metrics/per-object): messages waiting in a queue',
  rabbitmq_queue_messages_unacked: 'RabbitMQ, rabbitmq_prometheus plugin (/metrics/per-object): messages delivered, not yet acknowledged',
  rabbitmq_queue_consumers: 'RabbitMQ, rabbitmq_prometheus plugin (/metrics/per-object): consumers of a queue',
  up: 'Prometheus itself: 1 when the last scrape of a target succeeded',
} as const;

const m = metricNames;
const external = (name: keyof typeof externalMetrics) => name;
/** Port and path of the rabbitmq_prometheus plugin's per-queue metrics (the plain /metrics sums all queues). */
const rabbitmqMetrics = { port: 15692, path: '/metrics/per-object' };
const scrapeJob = project;

/** The Compose services Prometheus scrapes: every HTTP function, and the processes of the image that ask to be. */
export function scrapedServices(): string[] {
  return [...httpFunctions.map((fn) => kebab(fn.name)), ...processes.filter((p) => p.scraped).map((p) => p.name)];
}

const notice = (renderer: string) => `Rendered by deploy/renderers/${renderer} from the registry and shared/metrics.ts (\`iotfn render\`): edit the renderer, not this file.`;

const yamlFile = (comment: string[], value: unknown) =>
  [`# ${notice('observability.ts')}`, ...comment.map((line) => (line ? `# ${line}` : '#')), stringify(value, { lineWidth: 0 })].join('\n');

const global = { scrape_interval: '15s', evaluation_interval: '15s' };

function composeConfig(): string {
  return yamlFile(
    [
      '',
      'Prometheus in Docker Compose: the services by name on the Compose network, on their internal port (METRICS_PORT,',
      'never published to the host; the public port serves no /metrics). No Alertmanager runs in Compose;',
      'firing alerts show on http://localhost:9090/alerts.',
    ],
    {
      global,
      rule_files: ['alerts.yml'],
      scrape_configs: [
        {
          job_name: scrapeJob,
          metrics_path: '/metrics',
          static_configs: [{ targets: scrapedServices().map((service) => `${service}:${metricsPort}`) }],
          // The Compose service as a label (`service="add-device"`), beside the `function` label the code sets.
          relabel_configs: [{ source_labels: ['__address__'], regex: '([^:]+):\\d+', target_label: 'service' }],
        },
        { job_name: 'rabbitmq', metrics_path: rabbitmqMetrics.path, static_configs: [{ targets: [`rabbitmq:${rabbitmqMetrics.port}`] }] },
        { job_name: 'prometheus', static_configs: [{ targets: ['localhost:9090'] }] },
      ],
    },
  );
}

function kubernetesConfig(): string {
  return yamlFile(
    [
      '',
      'Prometheus in Kubernetes: every pod that asks to be scraped with the annotations',
      `  prometheus.io/scrape: "true"   prometheus.io/port: "${metricsPort}"   prometheus.io/path: /metrics (the default)`,
      '(the port is the internal one, METRICS_PORT: the serving port does not answer /metrics)',
      '(the Knative Services and the relay, bridge Deployments carry them), and the RabbitMQ pods of the cluster',
      "operator (label app.kubernetes.io/component=rabbitmq) on the plugin's per-queue endpoint.",
    ],
    {
      global,
      rule_files: ['alerts.yml'],
      scrape_configs: [
        {
          job_name: scrapeJob,
          kubernetes_sd_configs: [{ role: 'pod' }],
          relabel_configs: [
            { source_labels: ['__meta_kubernetes_pod_annotation_prometheus_io_scrape'], action: 'keep', regex: 'true' },
            // Knative's queue-proxy sidecar has ports of its own; the function's container is the one to scrape.
            { source_labels: ['__meta_kubernetes_pod_container_name'], action: 'drop', regex: 'queue-proxy' },
            { source_labels: ['__meta_kubernetes_pod_annotation_prometheus_io_path'], action: 'replace', regex: '(.+)', target_label: '__metrics_path__' },
            {
              source_labels: ['__address__', '__meta_kubernetes_pod_annotation_prometheus_io_port'],
              action: 'replace',
              regex: '([^:]+)(?::\\d+)?;(\\d+)',
              replacement: '$1:$2',
              target_label: '__address__',
            },
            { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
            { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
            { source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_name'], regex: '(.+)', target_label: 'service' },
            { source_labels: ['__meta_kubernetes_pod_label_serving_knative_dev_service'], regex: '(.+)', target_label: 'service' },
          ],
        },
        {
          job_name: 'rabbitmq',
          metrics_path: rabbitmqMetrics.path,
          kubernetes_sd_configs: [{ role: 'pod' }],
          relabel_configs: [
            { source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_component'], action: 'keep', regex: 'rabbitmq' },
            { source_labels: ['__meta_kubernetes_pod_container_port_number'], action: 'keep', regex: String(rabbitmqMetrics.port) },
            { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
          ],
        },
      ],
    },
  );
}

/** Queues whose depth matters: the event functions', the default bridge group's and the dead letters'. */
const bridgeGroup = configSchema.shape.MQTT_BRIDGE_GROUP.parse(undefined);
const watchedQueues = Object.values(queues).map((queue) => (typeof queue === 'function' ? queue(bridgeGroup) : queue));
const queueSelector = `queue=~"${watchedQueues.map((queue) => queue.replace(/\./g, '\\\\.')).join('|')}"`;

/** Thresholds of the alert rules, in one place. */
export const alertThresholds = {
  errorShare: 0.05,
  ingestBacklog: 10_000,
};

function alertRules(): string {
  const rules = [
    {
      alert: 'FunctionErrorRate',
      expr: [
        `sum by (function) (rate(${m.httpRequests}{status=~"5.."}[5m]))`,
        `  / sum by (function) (rate(${m.httpRequests}[5m]))`,
        `  > ${alertThresholds.errorShare}`,
      ].join('\n'),
      for: '5m',
      labels: { severity: 'page' },
      annotations: {
        summary: `{{ $labels.function }}: more than ${alertThresholds.errorShare * 100}% of requests answer 5xx`,
        description: 'A 5xx is a bug or a dependency down: the function logs each one with its request id.',
      },
    },
    {
      alert: 'IngestLag',
      expr: `sum by (queue) (${external('rabbitmq_queue_messages_ready')}{queue="${queues.ingest}"}) > ${alertThresholds.ingestBacklog}`,
      for: '5m',
      labels: { severity: 'page' },
      annotations: {
        summary: `More than ${alertThresholds.ingestBacklog} telemetry messages wait in ${queues.ingest}`,
        description: 'Ingestion does not keep up: live charts lag behind the devices. Check the ingest function (or triggers) and the telemetry store.',
      },
    },
    {
      alert: 'IngestWithoutConsumer',
      expr: `sum by (queue) (${external('rabbitmq_queue_consumers')}{queue="${queues.ingest}"}) == 0`,
      for: '5m',
      labels: { severity: 'page' },
      annotations: {
        summary: `Nothing consumes ${queues.ingest}`,
        description: 'Telemetry is accepted but not stored until a consumer comes back.',
      },
    },
    {
      alert: 'EventsDeadLettered',
      expr: `sum by (function, reason) (increase(${m.eventsDeadLettered}[15m])) > 0`,
      labels: { severity: 'ticket' },
      annotations: {
        summary: '{{ $labels.function }} dead-lettered {{ $value | printf "%.0f" }} events ({{ $labels.reason }}) in 15 minutes',
        description: `Dead letters wait in ${queues.deadLetters} with their routing key; each was logged with the reason.`,
      },
    },
    {
      alert: 'EventsHeldByOutage',
      expr: `sum by (function) (${m.eventsHeld}) > 0`,
      for: '2m',
      labels: { severity: 'page' },
      annotations: {
        summary: '{{ $labels.function }} holds {{ $value | printf "%.0f" }} events: a dependency it needs is down',
        description: 'The trigger waits for the database, the telemetry store or the bus to answer again (its /readyz on METRICS_PORT names which); nothing is dead-lettered meanwhile.',
      },
    },
    {
      alert: 'DeadLetterQueueGrowing',
      expr: `delta(${external('rabbitmq_queue_messages_ready')}{queue="${queues.deadLetters}"}[15m]) > 0`,
      labels: { severity: 'ticket' },
      annotations: {
        summary: `${queues.deadLetters} grew by {{ $value | printf "%.0f" }} in 15 minutes`,
        description: 'Counts dead letters from every source, including a Knative dead-letter sink that ends in this queue.',
      },
    },
    {
      alert: 'TargetDown',
      expr: `${external('up')}{job=~"${scrapeJob}|rabbitmq"} == 0`,
      for: '2m',
      labels: { severity: 'page' },
      annotations: { summary: '{{ $labels.instance }} ({{ $labels.job }}) does not answer /metrics' },
    },
  ];
  return yamlFile(['', 'Alert rules, for the Compose and the Kubernetes Prometheus alike.'], { groups: [{ name: project, rules }] });
}

const datasource = { type: 'prometheus', uid: 'prometheus' };

interface Panel {
  title: string;
  description: string;
  unit: string;
  targets: Array<{ expr: string; legend: string }>;
  kind?: 'timeseries' | 'stat';
}

const rate = (selector: string) => `rate(${selector}[$__rate_interval])`;
const quantile = (q: number, histogram: string, by: string) => `histogram_quantile(${q}, sum by (${by}) (${rate(`${histogram}_bucket`)}))`;

/** The dashboard: requests, errors, latency, ingestion, queues, dead letters, MQTT and live sockets. */
export function dashboardPanels(): Panel[] {
  return [
    {
      title: 'Requests per second by function',
      description: 'Every HTTP request a function answered.',
      unit: 'reqps',
      targets: [{ expr: `sum by (function) (${rate(m.httpRequests)})`, legend: '{{function}}' }],
    },
    {
      title: 'Share of 5xx answers by function',
      description: 'The FunctionErrorRate alert fires above 5 % for 5 minutes.',
      unit: 'percentunit',
      targets: [{ expr: `sum by (function) (${rate(`${m.httpRequests}{status=~"5.."}`)}) / sum by (function) (${rate(m.httpRequests)})`, legend: '{{function}}' }],
    },
    {
      title: 'Latency percentiles, all functions',
      description: 'From the request duration histogram.',
      unit: 's',
      targets: [0.5, 0.95, 0.99].map((q) => ({ expr: quantile(q, m.httpDuration, 'le'), legend: `p${q * 100}` })),
    },
    {
      title: '95th percentile latency by function',
      description: 'From the request duration histogram.',
      unit: 's',
      targets: [{ expr: quantile(0.95, m.httpDuration, 'le, function'), legend: '{{function}}' }],
    },
    {
      title: 'Ingest rate',
      description: 'Telemetry points accepted (by protocol) and values written to the telemetry store.',
      unit: 'ops',
      targets: [
        { expr: `sum by (via) (${rate(m.telemetryPublished)})`, legend: 'accepted via {{via}}' },
        { expr: `sum(${rate(m.telemetryStored)})`, legend: 'values stored' },
      ],
    },
    {
      title: 'Events handled by event functions',
      description: 'By function and result (ok, error, poison).',
      unit: 'ops',
      targets: [{ expr: `sum by (function, result) (${rate(m.eventsHandled)})`, legend: '{{function}} {{result}}' }],
    },
    {
      title: 'Queue depth',
      description: 'Messages ready in the event functions\' queues and the dead-letter queue (RabbitMQ plugin, per queue).',
      unit: 'short',
      targets: [
        { expr: `sum by (queue) (${external('rabbitmq_queue_messages_ready')}{${queueSelector}})`, legend: '{{queue}} ready' },
        { expr: `sum by (queue) (${external('rabbitmq_queue_messages_unacked')}{${queueSelector}})`, legend: '{{queue}} in flight' },
      ],
    },
    {
      title: 'Event handling time, 95th percentile',
      description: 'Per event or per batch, from the event duration histogram.',
      unit: 's',
      targets: [{ expr: quantile(0.95, m.eventDuration, 'le, function'), legend: '{{function}}' }],
    },
    {
      title: 'Dead-lettered events',
      description: 'By function and reason (poison, retries-exhausted).',
      unit: 'short',
      targets: [{ expr: `sum by (function, reason) (increase(${m.eventsDeadLettered}[$__rate_interval]))`, legend: '{{function}} {{reason}}' }],
    },
    {
      title: 'MQTT messages by result',
      description: 'Messages the bridge handled: published, malformed, unauthorized, too-many-points, unavailable.',
      unit: 'ops',
      targets: [{ expr: `sum by (result) (${rate(m.mqttMessages)})`, legend: '{{result}}' }],
    },
    {
      title: 'Live sockets',
      description: 'Socket.IO clients connected to the relays.',
      unit: 'short',
      kind: 'stat',
      targets: [{ expr: `sum(${m.relaySockets})`, legend: 'sockets' }],
    },
    {
      title: 'Live updates emitted',
      description: 'Updates the relays sent to device rooms, by event.',
      unit: 'ops',
      targets: [{ expr: `sum by (event) (${rate(m.relayEmitted)})`, legend: '{{event}}' }],
    },
  ];
}

function dashboard(): string {
  const panels = dashboardPanels().map((panel, i) => ({
    id: i + 1,
    type: panel.kind ?? 'timeseries',
    title: panel.title,
    description: panel.description,
    datasource,
    gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
    fieldConfig: { defaults: { unit: panel.unit }, overrides: [] },
    options: panel.kind === 'stat' ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false } } : { legend: { displayMode: 'list', placement: 'bottom' } },
    targets: panel.targets.map((target, j) => ({ refId: String.fromCharCode(65 + j), datasource, expr: target.expr, legendFormat: target.legend })),
  }));
  const document = {
    uid: project,
    title: project,
    description: `${notice('observability.ts')}`,
    tags: [project],
    timezone: 'browser',
    editable: false,
    refresh: '10s',
    schemaVersion: 39,
    time: { from: 'now-1h', to: 'now' },
    panels,
  };
  return JSON.stringify(document, null, 2) + '\n';
}

function grafanaDatasource(): string {
  return yamlFile(['', 'The Prometheus of docker-compose.yml, under the uid the dashboard names.'], {
    apiVersion: 1,
    datasources: [{ name: 'Prometheus', uid: datasource.uid, type: datasource.type, access: 'proxy', url: 'http://prometheus:9090', isDefault: true, editable: false }],
  });
}

function grafanaDashboards(): string {
  return yamlFile(['', 'Loads the dashboards of deploy/grafana/dashboards, mounted read-only; edit them here, not in Grafana.'], {
    apiVersion: 1,
    providers: [{ name: project, folder: project, type: 'file', disableDeletion: true, allowUiUpdates: false, options: { path: '/var/lib/grafana/dashboards' } }],
  });
}

export function renderObservability(): RenderedFile[] {
  return [
    { path: 'deploy/prometheus/prometheus.yml', content: composeConfig() },
    { path: 'deploy/prometheus/prometheus-k8s.yml', content: kubernetesConfig() },
    { path: 'deploy/prometheus/alerts.yml', content: alertRules() },
    { path: 'deploy/grafana/dashboards/iotfn.json', content: dashboard() },
    { path: 'deploy/grafana/provisioning/datasources/prometheus.yml', content: grafanaDatasource() },
    { path: 'deploy/grafana/provisioning/dashboards/iotfn.yml', content: grafanaDashboards() },
  ];
}
