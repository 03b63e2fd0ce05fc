#!/bin/sh
# Rendered by deploy/renderers/container.ts from the function registry (`iotfn render`): edit the renderer, not this file.
#
# One image, many processes: FUNCTION_TARGET names what this container runs. The function names come from
# the registry, so a typo stops the container with the list of valid targets instead of a framework error.
set -eu

target="${FUNCTION_TARGET:-}"
case "$target" in
  relay) exec node --import tsx bin/iotfn.ts relay ;;
  bridge) exec node --import tsx bin/iotfn.ts bridge ;;
  triggers) exec node --import tsx bin/iotfn.ts triggers ;;
  gateway) exec node --import tsx bin/iotfn.ts dev ;;
  register|login|refresh|logout|me|jwks|addDevice|bulkAddDevices|searchDevices|getDevice|updateDevice|deleteDevice|rotateDeviceToken|setDeviceConfig|getDeviceConfig|sendCommand|listCommands|getCommand|getConfigForDevice|reportDeviceState|pendingDeviceCommands|postCommandResult|publishTelemetry|ingestTelemetry|purgeDeviceTelemetry|queryMetrics|latestMetrics|queryManyDevices|deleteTelemetry|forecastMetric|addAlertRule|listAlertRules|updateAlertRule|deleteAlertRule|listAlerts|acknowledgeAlert)
    exec node --import tsx node_modules/.bin/functions-framework --source=functions/index.ts --target="$target" ;;
  *)
    echo "FUNCTION_TARGET: expected one of register, login, refresh, logout, me, jwks, addDevice, bulkAddDevices, searchDevices, getDevice, updateDevice, deleteDevice, rotateDeviceToken, setDeviceConfig, getDeviceConfig, sendCommand, listCommands, getCommand, getConfigForDevice, reportDeviceState, pendingDeviceCommands, postCommandResult, publishTelemetry, ingestTelemetry, purgeDeviceTelemetry, queryMetrics, latestMetrics, queryManyDevices, deleteTelemetry, forecastMetric, addAlertRule, listAlertRules, updateAlertRule, deleteAlertRule, listAlerts, acknowledgeAlert, relay, bridge, triggers, gateway, got \"$target\"" >&2
    exit 64 ;;
esac
