/**
 * The shape of every message that crosses a domain or reaches a browser, as zod schemas in one place:
 * the `data` of each CloudEvent on the bus, and each event the realtime relay sends over Socket.IO.
 *
 * Producers type their event data with these (`cloudEvent<AlertData>(…)`), consumers parse with them
 * (`dataOf(DeviceStatusData, event)`), and the dashboard takes their types only (`import type`, so no zod
 * goes into the page). test/messages.test.ts produces each event through its real code path and parses what
 * arrives on the bus here. Exchanges, routing keys and event names: shared/bus/topology.ts.
 *
 *   const data = dataOf(CommandData, JSON.parse(body));   // undefined when it is not one
 */
import { z } from 'zod';
import type { AlertEventName, CommandEventName, DeviceEventName } from './bus/topology.ts';

const maxFutureMs = 24 * 3600 * 1000;

// Telemetry ------------------------------------------------------------------------------------------

/** The last instant a JS Date holds (8.64e15 ms after the epoch): the bound of every time the platform takes. */
export const maxEpochMs = 8_640_000_000_000_000;

/**
 * Whether every store can hold the text: PostgreSQL's text and jsonb refuse NUL (\u0000), and an unpaired
 * surrogate is not Unicode at all. Refused at the edge, so nothing accepted is lost at the store.
 */
export const isStorableText = (text: string): boolean => !/[\0\p{Cs}]/u.test(text);
export const storableTextMessage = 'must not contain a NUL character (\\u0000) or an unpaired surrogate';

export const TelemetryKey = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'keys have 1 to 64 letters, digits or _ . : -');
export const TelemetryValue = z.union([
  // zod 4's number refuses NaN and ±Infinity (JSON's 1e400) itself.
  z.number(),
  z.boolean(),
  z.string().max(1024).refine(isStorableText, storableTextMessage),
]);
export type TelemetryValue = z.output<typeof TelemetryValue>;

/** One point as a device sends it (ThingsBoard's shape): `ts` defaults to when it arrived. */
export const TelemetryPoint = z.object({
  ts: z
    .number()
    .int()
    .min(0)
    .max(maxEpochMs)
    // A backstop for whatever reads points off the bus; the edge holds them to TELEMETRY_MAX_FUTURE_SKEW_SECONDS.
    .refine((ts) => ts <= Date.now() + maxFutureMs, 'is more than a day in the future')
    .optional()
    .describe('Epoch milliseconds; default: when the platform received it'),
  values: z
    .record(TelemetryKey, TelemetryValue)
    .refine((v) => Object.keys(v).length > 0, 'must hold at least one value')
    .refine((v) => Object.keys(v).length <= 1000, 'holds more than 1,000 keys'),
});

/** A point once received: its time is set. */
export const StoredPoint = TelemetryPoint.required({ ts: true });
export type StoredPoint = z.output<typeof StoredPoint>;

/** `iotfn.telemetry` on the telemetry exchange, routing key `telemetry.{deviceId}`. */
export const TelemetryData = z.object({
  deviceId: z.uuid(),
  ownerId: z.uuid(),
  via: z.enum(['http', 'mqtt']),
  receivedAt: z.number(),
  points: z.array(StoredPoint).min(1),
});
export type TelemetryData = z.output<typeof TelemetryData>;

/**
 * `iotfn.telemetry` as the MQTT bridge sends it, routing key `telemetry.batch`: the messages of many devices
 * that arrived within a few milliseconds, in one bus message, so a fleet of devices sending a point each costs
 * the bus and the store one message per batch instead of one per point. Each entry keeps the id the device's
 * message was given, so the store skips it on a redelivery exactly as it skips a single event.
 */
export const TelemetryBatchEntry = TelemetryData.extend({ id: z.string().min(1).max(100) });
export const TelemetryBatchData = z.object({ messages: z.array(TelemetryBatchEntry).min(1).max(10_000) });
export type TelemetryBatchData = z.output<typeof TelemetryBatchData>;

/** What an `iotfn.telemetry` event carries: one device's points or a batch of many devices' messages. */
export const TelemetryEventData = z.union([TelemetryData, TelemetryBatchData]);
export type TelemetryEventData = z.output<typeof TelemetryEventData>;

/** The device messages in a telemetry event, each with the id the store remembers it by. */
export function telemetryMessagesOf(eventId: string, data: TelemetryEventData): Array<TelemetryData & { id: string }> {
  return 'messages' in data ? data.messages : [{ ...data, id: eventId }];
}

// Device lifecycle and presence ----------------------------------------------------------------------

/** Every device event names its device and the device's owner. */
const DeviceRef = z.object({ deviceId: z.uuid(), ownerId: z.uuid() });
/** The device as the devices API shows it (`GET /devices/{id}`). */
const DeviceView = z.record(z.string(), z.unknown());

export const DeviceCreatedData = DeviceRef.extend({ device: DeviceView });
export const DeviceUpdatedData = DeviceRef.extend({ changed: z.array(z.string()).describe('the fields the change named'), device: DeviceView });
export const DeviceTokenRotatedData = DeviceRef;
export const DeviceDeletedData = DeviceRef;
export type DeviceDeletedData = z.output<typeof DeviceDeletedData>;

/** `device.status`: the first message after silence (online) or the window passing without one (offline). */
export const DeviceStatusData = DeviceRef.extend({ online: z.boolean(), lastSeenAt: z.iso.datetime() });
export type DeviceStatusData = z.output<typeof DeviceStatusData>;

// Configuration and state ----------------------------------------------------------------------------

export const DesiredConfig = z.object({
  version: z.number().int().describe('0 until the owner first sets a configuration'),
  config: z.record(z.string(), z.unknown()),
  updatedAt: z.iso.datetime().nullable(),
});
export type DesiredConfig = z.output<typeof DesiredConfig>;

export const ReportedState = z.object({
  version: z.number().int().nullable().describe('The configuration version the device says it applied'),
  state: z.record(z.string(), z.unknown()),
  reportedAt: z.iso.datetime(),
});
export type ReportedState = z.output<typeof ReportedState>;

/** `device.config.updated`: the owner set a new desired configuration. */
export const DeviceConfigData = DeviceRef.extend({ ...DesiredConfig.shape, updatedAt: z.iso.datetime() });
export type DeviceConfigData = z.output<typeof DeviceConfigData>;

/** `device.state.reported`: the device reported its state. */
export const DeviceStateData = DeviceRef.extend(ReportedState.shape);
export type DeviceStateData = z.output<typeof DeviceStateData>;

// Commands -------------------------------------------------------------------------------------------

export const CommandStatus = z.enum(['queued', 'sent', 'succeeded', 'failed', 'expired']);
export type CommandStatus = z.output<typeof CommandStatus>;

/** A command to a device, as the owner sees it. */
export const Command = z.object({
  id: z.uuid(),
  deviceId: z.uuid(),
  name: z.string(),
  params: z.record(z.string(), z.unknown()),
  status: CommandStatus,
  result: z.unknown().describe('What the device answered (any JSON), null until then'),
  createdAt: z.iso.datetime(),
  sentAt: z.iso.datetime().nullable(),
  completedAt: z.iso.datetime().nullable(),
  expiresAt: z.iso.datetime(),
});
export type Command = z.output<typeof Command>;

/** `command.updated`: a command was queued, sent, answered or expired. */
export const CommandData = DeviceRef.extend({ command: Command });
export type CommandData = z.output<typeof CommandData>;

// Alerts ---------------------------------------------------------------------------------------------

export const Alert = z.object({
  id: z.uuid(),
  ruleId: z.uuid(),
  deviceId: z.uuid(),
  key: z.string(),
  state: z.enum(['open', 'cleared']),
  value: z.number().nullable().describe('the value that opened it (none for nodata)'),
  openedAt: z.string(),
  clearedAt: z.string().nullable(),
  acknowledgedAt: z.string().nullable(),
});
export type Alert = z.output<typeof Alert>;

/** `alert.opened` / `alert.cleared`. */
export const AlertData = DeviceRef.extend({ alert: Alert });
export type AlertData = z.output<typeof AlertData>;

// The events exchange, by routing key ----------------------------------------------------------------

/** The data of each event on the events exchange, by its routing key (the event name). */
export const eventData = {
  'device.created': DeviceCreatedData,
  'device.updated': DeviceUpdatedData,
  'device.deleted': DeviceDeletedData,
  'device.token_rotated': DeviceTokenRotatedData,
  'device.status': DeviceStatusData,
  'device.config.updated': DeviceConfigData,
  'device.state.reported': DeviceStateData,
  'command.updated': CommandData,
  'alert.opened': AlertData,
  'alert.cleared': AlertData,
} as const satisfies Record<DeviceEventName | CommandEventName | AlertEventName, z.ZodType>;
export type EventName = keyof typeof eventData;
export type EventData<N extends EventName> = z.output<(typeof eventData)[N]>;

/** `session.ended` on the events exchange: every socket of the session is closed at once. */
export const SessionEndedData = z.object({ sessionId: z.string().min(1).max(100), userId: z.uuid(), reason: z.enum(['logout', 'revoked']) });
export type SessionEndedData = z.output<typeof SessionEndedData>;

/** The `data` of a parsed CloudEvent body when it has the schema's shape; undefined otherwise. */
export function dataOf<S extends z.ZodType>(schema: S, event: unknown): z.output<S> | undefined {
  const parsed = schema.safeParse(typeof event === 'object' && event !== null ? (event as { data?: unknown }).data : undefined);
  return parsed.success ? parsed.data : undefined;
}

// The realtime relay (Socket.IO on /socket.io) -------------------------------------------------------

/** `subscribe` / `unsubscribe`, from the browser, with an ack. */
export const SubscribeRequest = z.object({ deviceIds: z.array(z.string().max(64)).max(1000) });
export const SubscriptionAck = z.object({ accepted: z.array(z.string()), refused: z.array(z.string()), error: z.string().optional() });
export type SubscriptionAck = z.output<typeof SubscriptionAck>;

/** `telemetry`: the latest value of each key since the last update of the device (coalesced). */
export const LiveTelemetry = z.object({ deviceId: z.uuid(), ts: z.number(), values: z.record(z.string(), TelemetryValue) });
export type LiveTelemetry = z.output<typeof LiveTelemetry>;

/** `device:status`. */
export const LiveDeviceStatus = DeviceStatusData.omit({ ownerId: true });
export type LiveDeviceStatus = z.output<typeof LiveDeviceStatus>;

/** `device:deleted`: the device is gone, and the socket no longer subscribed to it. */
export const LiveDeviceDeleted = z.object({ deviceId: z.uuid() });
export type LiveDeviceDeleted = z.output<typeof LiveDeviceDeleted>;

/** `alert`: an alert of the device opened or cleared. */
export const LiveAlert = z.object({ alert: Alert });
export type LiveAlert = z.output<typeof LiveAlert>;

/** `device:config`: the desired configuration (kind `desired`) or the reported state (kind `reported`) changed. */
export const LiveDeviceConfig = z.discriminatedUnion('kind', [
  DeviceConfigData.extend({ kind: z.literal('desired') }),
  DeviceStateData.extend({ kind: z.literal('reported') }),
]);
export type LiveDeviceConfig = z.output<typeof LiveDeviceConfig>;

/** `command`: a command to the device changed status. */
export const LiveCommand = z.object({ command: Command });
export type LiveCommand = z.output<typeof LiveCommand>;

/** Every event the relay sends, by name; `session:ended` (no payload) precedes a disconnect when the session ends. */
export const liveEvents = {
  telemetry: LiveTelemetry,
  'device:status': LiveDeviceStatus,
  'device:deleted': LiveDeviceDeleted,
  alert: LiveAlert,
  'device:config': LiveDeviceConfig,
  command: LiveCommand,
} as const;

/** The relay's events as Socket.IO types them: `Server<ClientEvents, LiveEvents>`, `Socket<LiveEvents, ClientEvents>`. */
export type LiveEvents = { [K in keyof typeof liveEvents]: (message: z.output<(typeof liveEvents)[K]>) => void } & { 'session:ended': () => void };
