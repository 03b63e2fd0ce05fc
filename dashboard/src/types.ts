/** The shapes the dashboard reads from the platform's REST API and its Socket.IO relay. */

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
}

/** What POST /devices and POST /devices/{id}/token answer: the only moment the token is readable. */
export interface DeviceWithToken {
  device: Device;
  deviceToken: string;
}

export type TelemetryValue = number | boolean | string;

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
export interface TelemetryEvent {
  deviceId: string;
  ts: number;
  values: Record<string, TelemetryValue>;
}

/** Socket.IO `device:status`. */
export interface DeviceStatusEvent {
  deviceId: string;
  online: boolean;
  lastSeenAt: string | null;
}

/** An alert a rule opened; `GET /alerts`, `POST /alerts/{id}/ack` and the socket's `alert` event. */
export interface Alert {
  id: string;
  ruleId: string;
  deviceId: string;
  key: string;
  state: 'open' | 'cleared';
  value: number | null;
  openedAt: string;
  clearedAt: string | null;
  acknowledgedAt: string | null;
}

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
export interface SubscriptionAck {
  accepted: string[];
  refused: string[];
}

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
