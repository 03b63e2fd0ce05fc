/**
 * The registry: every function of the platform, in one list. The gateway, the functions-framework entry,
 * the OpenAPI document and every deploy artefact are derived from it; adding a function here adds it
 * everywhere.
 */
import type { EventFunction, HttpFunction, PlatformFunction, ScheduleFunction } from '../shared/function.ts';
import register from './signing/register.ts';
import login from './signing/login.ts';
import refresh from './signing/refresh.ts';
import logout from './signing/logout.ts';
import me from './signing/me.ts';
import jwks from './signing/jwks.ts';
import addDevice from './devices/add-device.ts';
import bulkAddDevices from './devices/bulk-add-devices.ts';
import searchDevices from './devices/search-devices.ts';
import getDevice from './devices/get-device.ts';
import updateDevice from './devices/update-device.ts';
import deleteDevice from './devices/delete-device.ts';
import rotateDeviceToken from './devices/rotate-device-token.ts';
import setDeviceConfig from './devices/set-device-config.ts';
import getDeviceConfig from './devices/get-device-config.ts';
import sendCommand from './devices/send-command.ts';
import listCommands from './devices/list-commands.ts';
import getCommand from './devices/get-command.ts';
import getConfigForDevice from './devices/get-config-for-device.ts';
import reportDeviceState from './devices/report-device-state.ts';
import pendingDeviceCommands from './devices/pending-device-commands.ts';
import postCommandResult from './devices/post-command-result.ts';
import publishTelemetry from './devices/publish-telemetry.ts';
import platformInfo from './devices/platform-info.ts';
import sweepPresence from './devices/sweep-presence.ts';
import expireCommands from './devices/expire-commands.ts';
import ingestTelemetry from './monitoring/ingest-telemetry.ts';
import purgeDeviceTelemetry from './monitoring/purge-device-telemetry.ts';
import queryMetrics from './monitoring/query-metrics.ts';
import latestMetrics from './monitoring/latest-metrics.ts';
import queryManyDevices from './monitoring/query-many-devices.ts';
import deleteTelemetry from './monitoring/delete-telemetry.ts';
import forecastMetric from './monitoring/forecast-metric.ts';
import addAlertRule from './monitoring/add-alert-rule.ts';
import listAlertRules from './monitoring/list-alert-rules.ts';
import updateAlertRule from './monitoring/update-alert-rule.ts';
import deleteAlertRule from './monitoring/delete-alert-rule.ts';
import listAlerts from './monitoring/list-alerts.ts';
import acknowledgeAlert from './monitoring/acknowledge-alert.ts';
import expireTelemetry from './monitoring/expire-telemetry.ts';
import sweepNoData from './monitoring/sweep-no-data.ts';

const declared = [
  register,
  login,
  refresh,
  logout,
  me,
  jwks,
  addDevice,
  bulkAddDevices,
  searchDevices,
  getDevice,
  updateDevice,
  deleteDevice,
  rotateDeviceToken,
  setDeviceConfig,
  getDeviceConfig,
  sendCommand,
  listCommands,
  getCommand,
  getConfigForDevice,
  reportDeviceState,
  pendingDeviceCommands,
  postCommandResult,
  publishTelemetry,
  platformInfo,
  sweepPresence,
  expireCommands,
  ingestTelemetry,
  purgeDeviceTelemetry,
  queryMetrics,
  latestMetrics,
  queryManyDevices,
  deleteTelemetry,
  forecastMetric,
  addAlertRule,
  listAlertRules,
  updateAlertRule,
  deleteAlertRule,
  listAlerts,
  acknowledgeAlert,
  expireTelemetry,
  sweepNoData,
] as const;

export const functions: readonly PlatformFunction[] = declared;

/** The HTTP functions with their routes and schemas in their types: what the typed API client reads (api-routes.ts). */
export type DeclaredHttpFunction = Extract<(typeof declared)[number], { kind: 'http' }>;

export const httpFunctions: readonly HttpFunction[] = functions.filter((fn): fn is HttpFunction => fn.kind === 'http');
export const eventFunctions: readonly EventFunction[] = functions.filter((fn): fn is EventFunction => fn.kind === 'event');

export const scheduleFunctions: readonly ScheduleFunction[] = functions.filter((fn): fn is ScheduleFunction => fn.kind === 'schedule');

export function functionNamed(name: string): PlatformFunction | undefined {
  return functions.find((fn) => fn.name === name);
}
