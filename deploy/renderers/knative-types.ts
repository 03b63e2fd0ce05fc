/**
 * The shapes of the cluster objects `knative/` is made of, so `tsc` checks every field the renderer writes.
 *
 * Kubernetes' own kinds come from the published `kubernetes-types` package. Knative Serving, the Knative
 * RabbitMQ source, the RabbitMQ operators and the Gateway API publish no TypeScript types: their fields are
 * declared here once, copied from their Go API types (only the fields we use, with the same JSON names):
 *   serving.knative.dev/v1          knative/serving pkg/apis/serving/v1 (Service, RevisionSpec)
 *   sources.knative.dev/v1alpha1    knative-extensions/eventing-rabbitmq pkg/apis/sources/v1alpha1/rabbitmq_types.go
 *   sources.knative.dev/v1          knative/eventing pkg/apis/sources/v1/ping_types.go (PingSource)
 *   rabbitmq.com/v1beta1            rabbitmq/cluster-operator (RabbitmqCluster) and
 *                                   rabbitmq/messaging-topology-operator api/v1beta1 (Exchange, Queue, Binding)
 *   gateway.networking.k8s.io       kubernetes-sigs/gateway-api apis/v1 (GatewayClass, Gateway, HTTPRoute)
 *                                   and apis/v1beta1 (ReferenceGrant)
 * A field that is not in those types does not compile, e.g. a `deadLetterSink` on a RabbitmqSource's
 * delivery (its API has none: see knative.ts for where its dead letters go).
 */
import type { ObjectMeta } from 'kubernetes-types/meta/v1.js';
import type { ConfigMap, Container, Namespace, ResourceRequirements, Secret, Service } from 'kubernetes-types/core/v1.js';
import type { Deployment, StatefulSet } from 'kubernetes-types/apps/v1.js';

/** A published Kubernetes kind with apiVersion, kind and metadata required (the package leaves them optional). */
export type Manifest<T extends { apiVersion?: string; kind?: string; metadata?: ObjectMeta }> = T &
  Required<Pick<T, 'apiVersion' | 'kind' | 'metadata'>>;

interface Resource<ApiVersion extends string, Kind extends string, Spec> {
  apiVersion: ApiVersion;
  kind: Kind;
  metadata: ObjectMeta;
  spec: Spec;
}

// --- Knative Serving -------------------------------------------------------------------------------------

/** A Revision's pod: Knative accepts one serving container and a subset of PodSpec. */
export interface RevisionSpec {
  containers: Container[];
  /** Hard limit of requests in flight per pod; 0 is unlimited (the autoscaler's target is the soft one). */
  containerConcurrency?: number;
  timeoutSeconds?: number;
  serviceAccountName?: string;
  enableServiceLinks?: boolean;
}

export type KnativeService = Resource<'serving.knative.dev/v1', 'Service', { template: { metadata?: ObjectMeta; spec: RevisionSpec } }>;

// --- Knative Eventing duck types ---------------------------------------------------------------------------

/** duckv1.KReference */
export interface KReference {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

/** duckv1.Destination: where events are sent. */
export interface Destination {
  ref?: KReference;
  uri?: string;
}

// --- Knative RabbitMQ source -------------------------------------------------------------------------------

/** rabbitmq.com/v1beta1 RabbitmqClusterReference, as the source and the topology objects take it. */
export interface RabbitmqClusterReference {
  name: string;
  namespace?: string;
}

/**
 * The source's own DeliverySpec: retries of the POST to the sink. It has no deadLetterSink: after the last
 * retry the adapter rejects the message without requeueing, so the queue's dead-letter exchange takes it.
 */
export interface RabbitmqSourceDelivery {
  retry?: number;
  backoffPolicy?: 'linear' | 'exponential';
  /** ISO 8601 duration; exponential: backoffDelay × 2^attempt. */
  backoffDelay?: string;
}

export type RabbitmqSource = Resource<
  'sources.knative.dev/v1alpha1',
  'RabbitmqSource',
  {
    rabbitmqClusterReference: RabbitmqClusterReference;
    rabbitmqResourcesConfig: {
      vhost?: string;
      queueName: string;
      /** Required unless predeclared. */
      exchangeName?: string;
      /** Prefetch and number of workers posting to the sink at once, 1–1000. */
      parallelism?: number;
      /** Consume an existing queue instead of declaring one. */
      predeclared?: boolean;
    };
    delivery?: RabbitmqSourceDelivery;
    sink: Destination;
    serviceAccountName?: string;
  }
>;

// --- Knative PingSource ------------------------------------------------------------------------------------

/** Sends a CloudEvent (type dev.knative.sources.ping) with `data` to its sink on every tick of `schedule`. */
export type PingSource = Resource<
  'sources.knative.dev/v1',
  'PingSource',
  {
    /** Standard five-field cron. */
    schedule: string;
    /** IANA time zone of the schedule; UTC when absent. */
    timezone?: string;
    /** Media type of `data`; required with it. */
    contentType?: string;
    data?: string;
    dataBase64?: string;
    sink: Destination;
    ceOverrides?: { extensions?: Record<string, string> };
  }
>;

// --- RabbitMQ operators ------------------------------------------------------------------------------------

export type RabbitmqCluster = Resource<
  'rabbitmq.com/v1beta1',
  'RabbitmqCluster',
  {
    replicas?: number;
    image?: string;
    resources?: ResourceRequirements;
    persistence?: { storageClassName?: string; storage?: string };
    rabbitmq?: { additionalPlugins?: string[]; additionalConfig?: string };
  }
>;

type QueueArguments = Record<string, string | number | boolean>;

export type Exchange = Resource<
  'rabbitmq.com/v1beta1',
  'Exchange',
  {
    name: string;
    vhost?: string;
    type?: 'direct' | 'fanout' | 'topic' | 'headers';
    durable?: boolean;
    autoDelete?: boolean;
    arguments?: QueueArguments;
    rabbitmqClusterReference: RabbitmqClusterReference;
  }
>;

export type Queue = Resource<
  'rabbitmq.com/v1beta1',
  'Queue',
  {
    name: string;
    vhost?: string;
    type?: 'classic' | 'quorum' | 'stream';
    durable?: boolean;
    autoDelete?: boolean;
    arguments?: QueueArguments;
    rabbitmqClusterReference: RabbitmqClusterReference;
  }
>;

export type Binding = Resource<
  'rabbitmq.com/v1beta1',
  'Binding',
  {
    vhost?: string;
    source: string;
    destination: string;
    destinationType: 'queue' | 'exchange';
    routingKey?: string;
    arguments?: QueueArguments;
    rabbitmqClusterReference: RabbitmqClusterReference;
  }
>;

// --- Gateway API -------------------------------------------------------------------------------------------

export type GatewayClass = Resource<'gateway.networking.k8s.io/v1', 'GatewayClass', { controllerName: string; description?: string }>;

export interface Listener {
  name: string;
  protocol: 'HTTP' | 'HTTPS' | 'TLS' | 'TCP' | 'UDP';
  port: number;
  hostname?: string;
  allowedRoutes?: { namespaces?: { from: 'All' | 'Same' | 'Selector' } };
}

export type Gateway = Resource<'gateway.networking.k8s.io/v1', 'Gateway', { gatewayClassName: string; listeners: Listener[] }>;

export interface ParentReference {
  name: string;
  namespace?: string;
  sectionName?: string;
}

/** Core: Exact and PathPrefix. RegularExpression is implementation-specific (Envoy Gateway: RE2, whole path). */
export interface HTTPPathMatch {
  type: 'Exact' | 'PathPrefix' | 'RegularExpression';
  value: string;
}

export interface HTTPRouteMatch {
  path?: HTTPPathMatch;
  method?: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'CONNECT' | 'OPTIONS' | 'TRACE' | 'PATCH';
}

export type HTTPRouteFilter = { type: 'URLRewrite'; urlRewrite: { hostname?: string } };

export interface HTTPBackendRef {
  name: string;
  namespace?: string;
  port: number;
}

export interface HTTPRouteRule {
  matches: HTTPRouteMatch[];
  filters?: HTTPRouteFilter[];
  backendRefs: HTTPBackendRef[];
}

export type HTTPRoute = Resource<
  'gateway.networking.k8s.io/v1',
  'HTTPRoute',
  { parentRefs: ParentReference[]; hostnames?: string[]; rules: HTTPRouteRule[] }
>;

export type ReferenceGrant = Resource<
  'gateway.networking.k8s.io/v1beta1',
  'ReferenceGrant',
  {
    from: Array<{ group: string; kind: string; namespace: string }>;
    to: Array<{ group: string; kind: string; name?: string }>;
  }
>;

// --- kustomize ---------------------------------------------------------------------------------------------

export interface Kustomization {
  apiVersion: 'kustomize.config.k8s.io/v1beta1';
  kind: 'Kustomization';
  resources: string[];
}

/** Every object `knative/` holds: a test walks these for the rules no type expresses (names, labels). */
export type ClusterObject =
  | Manifest<Namespace>
  | Manifest<ConfigMap>
  | Manifest<Secret>
  | Manifest<Service>
  | Manifest<Deployment>
  | Manifest<StatefulSet>
  | KnativeService
  | RabbitmqSource
  | PingSource
  | RabbitmqCluster
  | Exchange
  | Queue
  | Binding
  | GatewayClass
  | Gateway
  | HTTPRoute
  | ReferenceGrant;
