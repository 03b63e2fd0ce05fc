/**
 * The shapes the dashboard reads from the platform's REST API and its Socket.IO relay. The relay's messages
 * are the platform's own schemas (shared/messages.ts), taken as types only: `import type` leaves no zod in
 * the bundle.
 */
import type { z } from 'zod';
import type * as messages from '../../shared/messages.ts';
import type { ApiInput, ApiResponse } from '../../functions/api-routes.ts';

// The REST shapes come from the registry's own schemas (functions/api-routes.ts): a field the API renames or drops
// fails the dashboard's type check instead of reading as undefined in a browser.

export type TokenPair = ApiResponse<'POST /auth/login'>;

export type Device = ApiResponse<'GET /devices/{id}'>;

export type Location = NonNullable<Device['location']>;

export type DeviceStatus = Device['status'];

/** One page of `GET /devices`; `totalIsEstimate` is true when `total` is the server's estimate (`count=estimated`). */
export type DevicePage = ApiResponse<'GET /devices'>;

/** What POST /devices and POST /devices/{id}/token answer: the only moment the token is readable. */
export type DeviceWithToken = ApiResponse<'POST /devices'>;

export type TelemetryValue = z.output<typeof messages.TelemetryValue>;

/** A page of `GET /devices/{id}/telemetry` (and the one of `…/latest`): values of keys, `count` when aggregated. */
export type TelemetryItems = ApiResponse<'GET /devices/{id}/telemetry'>;

/** One value of one key; `count` is there when the query aggregated. */
export type TelemetryPoint = TelemetryItems['items'][number];

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

/** What `POST /devices/{id}/rules` takes. */
export type AlertRuleFields = ApiInput<'POST /devices/{id}/rules'>['body'];

export type AlertRuleOp = AlertRuleFields['op'];

/** The ack of `subscribe` and `unsubscribe`. */
export type SubscriptionAck = z.output<typeof messages.SubscriptionAck>;

/** `GET /devices/{id}/forecast`: the predicted buckets of one key, with their band. */
export type Forecast = ApiResponse<'GET /devices/{id}/forecast'>;

/** A command to a device: what `POST`, `GET /devices/{id}/commands` and the socket's `command` event carry. */
export type CommandPage = ApiResponse<'GET /devices/{id}/commands'>;

/** What `POST /devices/{id}/commands` takes. */
export type CommandFields = ApiInput<'POST /devices/{id}/commands'>['body'];

/** `GET /devices/{id}/config`: the desired configuration, the state last reported, and whether they agree. */
export type DeviceConfigView = ApiResponse<'GET /devices/{id}/config'>;

/** `.desired` of the view, and what `PUT /devices/{id}/config` answers (then `updatedAt` is always set). */
export type DesiredConfig = DeviceConfigView['desired'];

/** What the device last reported, with the configuration version it says it applied. */
export type ReportedState = NonNullable<DeviceConfigView['reported']>;
