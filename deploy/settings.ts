/**
 * Names every deploy artefact shares: the image and its tags, services, ports, the one place they are set.
 */
import { configSchema } from '../shared/config.ts';
import { version } from '../shared/version.ts';

export const project = 'iotfn';
/** Default registry prefix; `iotfn render` takes REGISTRY to change it. */
export const registry = process.env.REGISTRY ?? 'localhost:32000';
export const imageVersion = version;

/** `<registry>/<project>-<target>:<version>`: one tag per function and long-lived process (functions/processes.ts), one image. */
export function imageTag(target: string): string {
  return `${registry}/${project}-${kebab(target)}:${imageVersion}`;
}

/** Kubernetes/Compose service name of a function or process: `ingest-telemetry`. */
export function kebab(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

/** Port every function container listens on (functions-framework's default). */
export const functionPort = 8080;

/**
 * Port of every process's internal endpoints (/metrics, the detailed /readyz): METRICS_PORT's default, which the
 * deploy files leave as it is. Prometheus scrapes it; no ingress, NGINX route or published port reaches it.
 */
export const metricsPort: number = configSchema.shape.METRICS_PORT.parse(undefined);
