/**
 * OpenFaaS: `stack.yml`, every function of the registry as an OpenFaaS function of the one image
 * (`lang: dockerfile`, FUNCTION_TARGET naming it), with the same configuration, scale bounds and
 * resources as the Knative Services (each function declares its policy: shared/deploy-policy.ts).
 *
 *   faas-cli deploy -f stack.yml        (what `iotfn deploy --target openfaas` runs)
 *
 * Event functions carry the `topic` annotation the OpenFaaS RabbitMQ connector subscribes by: their
 * binding pattern (`telemetry.#`), on the exchange the connector is configured with (one connector per
 * exchange). Scheduled functions carry the cron-connector's `topic: cron-function` and their `schedule`.
 * The relay and the MQTT bridge are not functions: they run as the Deployments in knative/.
 *
 * Scale to zero follows the declared policy (shared/deploy-policy.ts): a function with minScale 0 is labelled
 * `com.openfaas.scale.zero`, which the idler of OpenFaaS Standard honours; Community Edition ignores the label
 * and keeps `com.openfaas.scale.min` (at least 1) replicas.
 */
import { Document, type Scalar } from 'yaml';
import type { RenderedFile } from '../render.ts';
import { imageTag, kebab, metricsPort, project } from '../settings.ts';
import { functions } from '../../functions/registry.ts';
import type { PlatformFunction } from '../../shared/function.ts';
import { clusterConfig, eventTargetsAnswerProbes, jwksFunction, jwksUrlFor, policyOf, secretsFor } from './knative.ts';

/** The annotation topic OpenFaaS's cron-connector invokes functions by (github.com/openfaas/cron-connector). */
export const cronTopic = 'cron-function';

/** The connector annotations of a function: what invokes it besides HTTP. */
function triggerAnnotations(fn: PlatformFunction): Record<string, string> {
  if (fn.kind === 'event') return { topic: fn.trigger.pattern };
  if (fn.kind === 'schedule') return { topic: cronTopic, schedule: fn.schedule.cron };
  return {};
}

/** faas-cli's stack file, the fields we write (github.com/openfaas/faas-cli stack/schema.go). */
interface Stack {
  version: number;
  provider: { name: 'openfaas'; gateway: string };
  functions: Record<string, StackFunction>;
}

interface StackFunction {
  lang: 'dockerfile';
  handler: string;
  image: string;
  environment: Record<string, string>;
  secrets: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  limits?: { memory?: string; cpu?: string };
  requests?: { memory?: string; cpu?: string };
}

export const openfaasGateway = 'http://127.0.0.1:8080';
/** faas-netes gives each function a Service of its name, port 8080, in the functions' namespace. */
const functionsNamespace = 'openfaas-fn';

/**
 * An invocation of a scheduled function with `everySeconds` makes passes until the next cron tick, up to a
 * minute: the default 10 s timeouts would cut it off. (The gateway's own upstream_timeout must allow it too.)
 */
function scheduleTimeouts(fn: PlatformFunction): Record<string, string> {
  if (fn.kind !== 'schedule') return {};
  const timeout = '75s';
  return { read_timeout: timeout, write_timeout: timeout, exec_timeout: timeout };
}

function stackFunction(fn: PlatformFunction): StackFunction {
  const policy = policyOf(fn);
  const jwksUrl = jwksUrlFor(fn, `http://${kebab(jwksFunction.name)}.${functionsNamespace}.svc.cluster.local:8080`);
  return {
    lang: 'dockerfile',
    handler: '.',
    image: imageTag(fn.name),
    environment: { FUNCTION_TARGET: fn.name, ...(jwksUrl ? { JWKS_URL: jwksUrl } : {}), ...clusterConfig(), ...scheduleTimeouts(fn) },
    secrets: secretsFor(fn),
    labels: {
      // OpenFaaS counts at least one replica; scaling to zero is the idler's, by the label below.
      'com.openfaas.scale.min': String(Math.max(1, policy.minScale)),
      'com.openfaas.scale.max': String(policy.maxScale),
      'com.openfaas.scale.zero': String(policy.minScale === 0),
      [`${project}/domain`]: fn.domain,
    },
    annotations: {
      // The image is an HTTP server, not the watchdog: probe its own paths instead of /_/health.
      'com.openfaas.health.http.path': '/healthz',
      'com.openfaas.ready.http.path': '/readyz',
      ...(fn.kind === 'http' || eventTargetsAnswerProbes ? { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(metricsPort), 'prometheus.io/path': '/metrics' } : {}),
      ...triggerAnnotations(fn),
    },
    limits: { memory: policy.resources.limits?.memory, cpu: policy.resources.limits?.cpu },
    requests: { memory: policy.resources.requests?.memory, cpu: policy.resources.requests?.cpu },
  };
}

export function openfaasStack(): Stack {
  return {
    version: 1.0,
    provider: { name: 'openfaas', gateway: openfaasGateway },
    functions: Object.fromEntries(functions.map((fn) => [kebab(fn.name), stackFunction(fn)])),
  };
}

const header = [
  'Rendered by `iotfn render` from the function registry (deploy/renderers/openfaas.ts): edit that, not this file.',
  'OpenFaaS mounts secret keys as files in /var/openfaas/secrets/, not as environment variables:',
  'the image must export them before it starts (see docs/microk8s.md, "The OpenFaaS path").',
  'Event functions take their events from the RabbitMQ connector, one per exchange, subscribed by their `topic`;',
  'scheduled functions are invoked by the cron-connector (`topic: cron-function`) on their `schedule`; one invocation',
  'may last up to a minute, so the gateway\'s upstream_timeout must be above 60 s.',
  'com.openfaas.scale.zero: the idler of OpenFaaS Standard scales those functions to zero; Community Edition keeps one replica.',
  ...(eventTargetsAnswerProbes ? [] : ['Their health paths fail until the functions-framework host answers GET for an event function.']),
];

export function renderOpenFaas(): RenderedFile[] {
  const doc = new Document(openfaasStack(), { aliasDuplicateObjects: false });
  // faas-cli's own files say `version: 1.0`; a plain number would print as `1`.
  (doc.get('version', true) as Scalar).minFractionDigits = 1;
  doc.commentBefore = header.map((line) => ` ${line}`).join('\n');
  return [{ path: 'stack.yml', content: doc.toString({ lineWidth: 0 }) }];
}
