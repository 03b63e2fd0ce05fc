/**
 * The long-lived processes of the image, in one list: what each runs (`iotfn <command>`, FUNCTION_TARGET=<name>),
 * what it needs, and how it is deployed. The image's entrypoint and tags (deploy/renderers/container.ts), the
 * Compose services with their dependencies and credentials, the Prometheus targets, the NGINX locations and
 * Gateway routes of their public paths, the Knative Deployments and `iotfn`'s dispatch are derived from it;
 * test/deploy-processes.test.ts says so. Every process listens on PORT and METRICS_PORT and answers the same
 * probes as a function, so those are not declared per process.
 *
 *   processNamed('bridge').cluster   // { workload: 'StatefulSet', replicas: 2, why: '…' }
 *
 * Functions are not here: each is its own deploy unit (functions/registry.ts).
 */
import type { Domain, PlatformFunction } from '../shared/function.ts';
import { credentials as credentialVariables, readsCredential, type Credential } from '../shared/config.ts';
import { eventFunctions, scheduleFunctions } from './registry.ts';

/** Services of the platform a process waits for before it starts (Compose `depends_on`); `jwks` is the function. */
export type Dependency = 'postgres' | 'redis' | 'rabbitmq' | 'mongo' | 'mosquitto' | 'jwks';

/** How a cluster runs a process: a workload that is never scaled to zero, or nothing, with what does its job there. */
export type ClusterPolicy =
  | { workload: 'Deployment' | 'StatefulSet'; replicas: number; why: string }
  | { workload: 'none'; replacedBy: string };

export interface LongLivedProcess {
  /** Its FUNCTION_TARGET, image tag suffix and service name. */
  name: string;
  /** The `iotfn` subcommand it runs. */
  command: string;
  summary: string;
  /** The registry functions it runs: it is given the credentials of their domains, as they would be. */
  runs: readonly PlatformFunction[];
  /**
   * `shared`: the platform's databases and bus (the URLs of .env). `embedded`: adapters of its own, no URL of a
   * shared service, so it can consume, publish or change nothing the functions own.
   */
  adapters: 'shared' | 'embedded';
  dependsOn: readonly Dependency[];
  /** Credentials (shared/config.ts) it needs beyond what its functions' domains are given. */
  credentials: readonly Credential[];
  /** Prometheus scrapes its internal port (METRICS_PORT). */
  scraped: boolean;
  /**
   * The public paths the entry point (NGINX, the cluster's Gateway) sends to it: a path ending in `/` (other than
   * `/` itself) is a prefix, any other exact. `websocket`: its connections are upgraded and long-lived.
   */
  ingress?: { paths: readonly string[]; websocket: boolean };
  cluster: ClusterPolicy;
}

const platformServices: readonly Dependency[] = ['postgres', 'redis', 'rabbitmq', 'mongo', 'jwks'];

export const processes = [
  {
    name: 'relay',
    command: 'relay',
    summary: 'The realtime Socket.IO relay',
    runs: [],
    adapters: 'shared',
    dependsOn: platformServices,
    credentials: [],
    scraped: true,
    ingress: { paths: ['/socket.io/'], websocket: true },
    cluster: {
      workload: 'Deployment',
      replicas: 1,
      why: "Socket.IO's polling transport needs every request of a session on the same process, and the Gateway's round robin cannot promise that: one replica",
    },
  },
  {
    name: 'bridge',
    command: 'bridge',
    summary: 'The MQTT bridge: Mosquitto → device token check → RabbitMQ',
    runs: [],
    adapters: 'shared',
    dependsOn: [...platformServices, 'mosquitto'],
    // The device token key gives the broker each device's credentials; MQTT_URL is the broker's admin account.
    credentials: ['DEVICE_TOKEN_SECRET', 'MQTT_URL'],
    scraped: true,
    cluster: {
      workload: 'StatefulSet',
      replicas: 2,
      why:
        'its persistent broker sessions are named after the host, and only a stable pod name lets a restarted bridge take up what the broker ' +
        'queued for it; two share one subscription group, so a rolling update never leaves the broker without a subscriber',
    },
  },
  {
    name: 'triggers',
    command: 'triggers',
    summary: `The event functions (${eventFunctions.map((fn) => `${fn.name} ← ${fn.trigger.queue}`).join(', ')}), fed from their queues as a Knative Trigger would`,
    runs: eventFunctions,
    adapters: 'shared',
    dependsOn: platformServices,
    credentials: [],
    scraped: true,
    cluster: { workload: 'none', replacedBy: 'a RabbitmqSource per event function feeds its Knative Service' },
  },
  {
    name: 'scheduler',
    command: 'scheduler',
    summary: `The scheduled functions (${scheduleFunctions.map((fn) => `${fn.name} "${fn.schedule.cron}"`).join(', ')}) on their schedules, each run under a lock`,
    runs: scheduleFunctions,
    adapters: 'shared',
    dependsOn: platformServices,
    credentials: [],
    scraped: true,
    cluster: { workload: 'none', replacedBy: 'a PingSource per scheduled function POSTs to its Knative Service on its cron' },
  },
  {
    name: 'gateway',
    command: 'dev',
    summary: 'Every function in one process; Compose runs it for the API docs, problem pages and dashboard only',
    runs: [],
    adapters: 'embedded',
    dependsOn: [],
    credentials: [],
    // Its embedded adapters count nothing the platform does.
    scraped: false,
    ingress: { paths: ['/', '/app/', '/docs', '/docs/', '/openapi.json', '/problems/'], websocket: false },
    cluster: { workload: 'none', replacedBy: 'the Knative Services serve every function; no cluster artefact serves the docs or the dashboard yet' },
  },
] as const satisfies readonly LongLivedProcess[];

/** Whether an ingress path is a prefix (`/app/`) rather than one exact path (`/`, `/docs`). */
export const isPrefixPath = (path: string): boolean => path.length > 1 && path.endsWith('/');

export type ProcessName = (typeof processes)[number]['name'];
/** The `iotfn` subcommands that run a long-lived process. */
export type ProcessCommand = (typeof processes)[number]['command'];

export function processNamed(name: ProcessName): LongLivedProcess {
  return processes.find((p) => p.name === name)!;
}

/** A process of the image: a function (its own deploy unit) or a long-lived process. */
export type ImageProcess = PlatformFunction | LongLivedProcess;

const isFunction = (p: ImageProcess): p is PlatformFunction => 'kind' in p;

/** The domains whose credentials a process gets: a function's own, a long-lived process's functions'. */
export function domainsOf(p: ImageProcess): Domain[] {
  return isFunction(p) ? [p.domain] : p.runs.map((fn) => fn.domain);
}

/**
 * The credentials a process of the image is given, in shared/config.ts's order: those its domains read there, and
 * those a long-lived process names. Every deploy file routes its secrets by this.
 */
export function credentialsOf(p: ImageProcess): Credential[] {
  const named: readonly Credential[] = isFunction(p) ? [] : p.credentials;
  return (Object.keys(credentialVariables) as Credential[]).filter((name) => readsCredential(name, domainsOf(p)) || named.includes(name));
}
