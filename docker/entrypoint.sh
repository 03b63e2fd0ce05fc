#!/bin/sh
# Rendered by deploy/renderers/container.ts from the function registry (`iotfn render`): edit the renderer, not this file.
#
# One image, many processes: FUNCTION_TARGET names what this container runs. The function names come from
# the registry, so a typo stops the container with the list of valid targets instead of a framework error.
set -eu

target="${FUNCTION_TARGET:-}"
case "$target" in
  relay) exec node --enable-source-maps dist/bin/iotfn.js relay ;;
  bridge) exec node --enable-source-maps dist/bin/iotfn.js bridge ;;
  triggers) exec node --enable-source-maps dist/bin/iotfn.js triggers ;;
  scheduler) exec node --enable-source-maps dist/bin/iotfn.js scheduler ;;
  gateway) exec node --enable-source-maps dist/bin/iotfn.js dev ;;
  register|login|refresh|logout|me|jwks|addDevice|bulkAddDevices|searchDevices|getDevice|updateDevice|deleteDevice|rotateDeviceToken|setDeviceConfig|getDeviceConfig|sendCommand|listCommands|getCommand|getConfigForDevice|reportDeviceState|pendingDeviceCommands|postCommandResult|publishTelemetry|platformInfo|sweepPresence|expireCommands|ingestTelemetry|purgeDeviceTelemetry|queryMetrics|latestMetrics|queryManyDevices|deleteTelemetry|forecastMetric|addAlertRule|listAlertRules|updateAlertRule|deleteAlertRule|listAlerts|acknowledgeAlert|expireTelemetry|sweepNoData)
    exec node --max-semi-space-size=2 "dist/functions/$target.js" ;;
  *)
    echo "FUNCTION_TARGET: expected one of register, login, refresh, logout, me, jwks, addDevice, bulkAddDevices, searchDevices, getDevice, updateDevice, deleteDevice, rotateDeviceToken, setDeviceConfig, getDeviceConfig, sendCommand, listCommands, getCommand, getConfigForDevice, reportDeviceState, pendingDeviceCommands, postCommandResult, publishTelemetry, platformInfo, sweepPresence, expireCommands, ingestTelemetry, purgeDeviceTelemetry, queryMetrics, latestMetrics, queryManyDevices, deleteTelemetry, forecastMetric, addAlertRule, listAlertRules, updateAlertRule, deleteAlertRule, listAlerts, acknowledgeAlert, expireTelemetry, sweepNoData, relay, bridge, triggers, scheduler, gateway, got \"$target\"" >&2
    exit 64 ;;
esac
