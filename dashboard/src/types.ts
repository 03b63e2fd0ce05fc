/**
 * The shapes the dashboard reads from the platform's REST API and its Socket.IO relay. The relay's messages
 * are the platform's own schemas (shared/messages.ts), taken as types only: `import type` leaves no zod in
 * the bundle.
 */
import type { z } from 'zod';
import type * as messages from '../../shared/messages.ts';

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: string;
  expiresIn: number;
}

export interface Location {
  lat: number;
  lon: number;
  alt?: number;
}

export type DeviceStatus = 'active' | 'disabled';

export interface Device {
  id: string;
  ownerId: string;
  name: string;
  type: string;
  tags: string[];
  metadata: Record<string, unknown>;
  location: Location | null;
  status: DeviceStatus;
  online: boolean;
  lastSeenAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface DevicePage {
  items: Device[];
  nextCursor: string | null;
  total: number;
  /** true when `total` is the server's estimate (over a thousand matches, `count=estimated`). */
  totalIsEstimate: boolean;
}

/** What POST /devices and POST /devices/{id}/token answer: the only moment the token is readable. */
export interface DeviceWithToken {
  device: Device;
  deviceToken: string;
}

export type TelemetryValue = z.output<typeof messages.TelemetryValue>;

/** One value of one key; `count` is there when the query aggregated. */
export interface TelemetryPoint {
  key: string;
  ts: number;
  value: TelemetryValue;
  count?: number;
}

export interface TelemetryItems {
  items: TelemetryPoint[];
  nextCursor?: string | null;
}

/** RFC 9457 problem details, as every error of the API comes. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: { path: string; message: string }[];
}

/** Socket.IO `telemetry`: one or more keys sent together (the relay may coalesce them). */
export type TelemetryEvent = z.output<typeof messages.LiveTelemetry>;

/** Socket.IO `device:status`. */
export type DeviceStatusEvent = z.output<typeof messages.LiveDeviceStatus>;

/** Socket.IO `device:deleted`. */
export type DeviceDeletedEvent = z.output<typeof messages.LiveDeviceDeleted>;

/** An alert a rule opened; `GET /alerts`, `POST /alerts/{id}/ack` and the socket's `alert` event (`{alert}`). */
export type Alert = z.output<typeof messages.Alert>;
export type AlertEvent = z.output<typeof messages.LiveAlert>;

/** Socket.IO `device:config`: the desired configuration (`kind: 'desired'`) or the reported state (`'reported'`). */
export type DeviceConfigEvent = z.output<typeof messages.LiveDeviceConfig>;

/** A command to a device; Socket.IO `command` carries it (`{command}`) whenever its status changes. */
export type Command = z.output<typeof messages.Command>;
export type CommandEvent = z.output<typeof messages.LiveCommand>;

/** Every event the relay sends, typed for `Socket<LiveEvents, …>`. */
export type LiveEvents = messages.LiveEvents;

export type AlertRuleOp = 'gt' | 'lt' | 'outside' | 'nodata';

/** What `POST /devices/{id}/rules` takes. */
export interface AlertRuleFields {
  key: string;
  op: AlertRuleOp;
  value?: number;
  low?: number;
  high?: number;
  forSeconds?: number;
}

/** The ack of `subscribe` and `unsubscribe`. */
export type SubscriptionAck = z.output<typeof messages.SubscriptionAck>;

/** `GET /devices/{id}/forecast`: the predicted buckets of one key, with their band. */
export interface Forecast {
  key: string;
  interval: string;
  horizon: string;
  model: string;
  season: number | null;
  parameters: Record<string, unknown>;
  sigma: number;
  confidence: number;
  fittedOn: number;
  weather: unknown;
  points: { ts: number; value: number; lower: number; upper: number }[];
  notes: string[];
}
