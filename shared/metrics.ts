/**
 * Prometheus metrics: the one registry of the process and the one list of metric names.
 * Dashboards and alert rules (rendered from the registry) use only the names declared here.
 */
import client from 'prom-client';

export const metricsRegistry = new client.Registry();
client.collectDefaultMetrics({ register: metricsRegistry });

export const metricNames = {
  httpRequests: 'iotfn_http_requests_total',
  httpDuration: 'iotfn_http_request_duration_seconds',
  mqttMessages: 'iotfn_mqtt_messages_total',
  telemetryPublished: 'iotfn_telemetry_published_points_total',
  eventsHandled: 'iotfn_events_total',
  eventDuration: 'iotfn_event_duration_seconds',
  eventsDeadLettered: 'iotfn_events_dead_lettered_total',
  eventsHeld: 'iotfn_events_held',
  telemetryStored: 'iotfn_telemetry_stored_points_total',
  relaySockets: 'iotfn_relay_sockets',
  relayEmitted: 'iotfn_relay_emitted_total',
  scheduleRuns: 'iotfn_schedule_runs_total',
  scheduleDuration: 'iotfn_schedule_duration_seconds',
  authCacheLookups: 'iotfn_auth_cache_lookups_total',
} as const;

export const authCacheLookups = new client.Counter({
  name: metricNames.authCacheLookups,
  help: 'Lookups in the per-process caches of an authenticated request, by cache (verified-tokens, sessions, users, devices) and outcome (hit, miss)',
  labelNames: ['cache', 'outcome'] as const,
  registers: [metricsRegistry],
});

export const httpRequests = new client.Counter({
  name: metricNames.httpRequests,
  help: 'HTTP requests answered, by function, method and status',
  labelNames: ['function', 'method', 'status'] as const,
  registers: [metricsRegistry],
});

export const httpDuration = new client.Histogram({
  name: metricNames.httpDuration,
  help: 'Time to answer an HTTP request, by function, method and status',
  labelNames: ['function', 'method', 'status'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [metricsRegistry],
});

export const mqttMessages = new client.Counter({
  name: metricNames.mqttMessages,
  help: 'MQTT messages from devices handled, by kind (telemetry, state, command-result) and result (accepted, malformed, unauthorized, not-found, conflict, unavailable)',
  labelNames: ['kind', 'result'] as const,
  registers: [metricsRegistry],
});

export const telemetryPublished = new client.Counter({
  name: metricNames.telemetryPublished,
  help: 'Telemetry points confirmed by the bus, by the protocol they came in on',
  labelNames: ['via'] as const,
  registers: [metricsRegistry],
});

export const eventsHandled = new client.Counter({
  name: metricNames.eventsHandled,
  help: 'Events handled by event functions, by function and result (ok, error, poison)',
  labelNames: ['function', 'result'] as const,
  registers: [metricsRegistry],
});

export const eventDuration = new client.Histogram({
  name: metricNames.eventDuration,
  help: 'Time to handle an event or a batch of events, by function and result',
  labelNames: ['function', 'result'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [metricsRegistry],
});

export const eventsDeadLettered = new client.Counter({
  name: metricNames.eventsDeadLettered,
  help: 'Events sent to the dead-letter queue, by function and reason (poison, retries-exhausted, failed: an error that is no outage)',
  labelNames: ['function', 'reason'] as const,
  registers: [metricsRegistry],
});

export const eventsHeld = new client.Gauge({
  name: metricNames.eventsHeld,
  help: 'Events a trigger holds unacknowledged because a dependency (database, store, bus) is down, by function',
  labelNames: ['function'] as const,
  registers: [metricsRegistry],
});

export const telemetryStored = new client.Counter({
  name: metricNames.telemetryStored,
  help: 'Telemetry values written to the telemetry store',
  registers: [metricsRegistry],
});

export const relaySockets = new client.Gauge({
  name: metricNames.relaySockets,
  help: 'Socket.IO clients connected to this relay',
  registers: [metricsRegistry],
});

export const relayEmitted = new client.Counter({
  name: metricNames.relayEmitted,
  help: 'Live updates the relay emitted to device rooms, by event',
  labelNames: ['event'] as const,
  registers: [metricsRegistry],
});

export const scheduleRuns = new client.Counter({
  name: metricNames.scheduleRuns,
  help: 'Passes of scheduled functions, by function and outcome (ok, error; skipped: another run held the function\'s lock)',
  labelNames: ['function', 'outcome'] as const,
  registers: [metricsRegistry],
});

export const scheduleDuration = new client.Histogram({
  name: metricNames.scheduleDuration,
  help: 'Time one pass of a scheduled function took, by function and outcome (ok, error)',
  labelNames: ['function', 'outcome'] as const,
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
  registers: [metricsRegistry],
});

export async function renderMetrics(): Promise<{ contentType: string; body: string }> {
  return { contentType: metricsRegistry.contentType, body: await metricsRegistry.metrics() };
}
