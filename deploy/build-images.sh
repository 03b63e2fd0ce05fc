#!/bin/sh
# Rendered by deploy/renderers/container.ts from the function registry (`iotfn render`): edit the renderer, not this file.
#
# Builds the one image of iotfn and tags it once per function and process (<registry>/<project>-<target>:<version>).
#   sh deploy/build-images.sh          build and tag
#   sh deploy/build-images.sh --push   and push every tag (microk8s: enable the registry add-on first)
set -eu
cd "$(dirname "$0")/.."

docker build -t iotfn:0.1.0 .
docker tag iotfn:0.1.0 localhost:32000/iotfn-register:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-login:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-refresh:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-logout:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-me:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-jwks:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-add-device:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-bulk-add-devices:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-search-devices:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-get-device:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-update-device:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-delete-device:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-rotate-device-token:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-set-device-config:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-get-device-config:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-send-command:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-list-commands:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-get-command:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-get-config-for-device:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-report-device-state:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-pending-device-commands:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-post-command-result:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-publish-telemetry:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-platform-info:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-sweep-presence:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-expire-commands:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-ingest-telemetry:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-purge-device-telemetry:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-query-metrics:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-latest-metrics:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-query-many-devices:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-delete-telemetry:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-forecast-metric:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-add-alert-rule:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-list-alert-rules:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-update-alert-rule:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-delete-alert-rule:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-list-alerts:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-acknowledge-alert:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-expire-telemetry:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-sweep-no-data:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-relay:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-bridge:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-triggers:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-scheduler:0.1.0
docker tag iotfn:0.1.0 localhost:32000/iotfn-gateway:0.1.0

if [ "${1:-}" = "--push" ]; then
  docker push localhost:32000/iotfn-register:0.1.0
  docker push localhost:32000/iotfn-login:0.1.0
  docker push localhost:32000/iotfn-refresh:0.1.0
  docker push localhost:32000/iotfn-logout:0.1.0
  docker push localhost:32000/iotfn-me:0.1.0
  docker push localhost:32000/iotfn-jwks:0.1.0
  docker push localhost:32000/iotfn-add-device:0.1.0
  docker push localhost:32000/iotfn-bulk-add-devices:0.1.0
  docker push localhost:32000/iotfn-search-devices:0.1.0
  docker push localhost:32000/iotfn-get-device:0.1.0
  docker push localhost:32000/iotfn-update-device:0.1.0
  docker push localhost:32000/iotfn-delete-device:0.1.0
  docker push localhost:32000/iotfn-rotate-device-token:0.1.0
  docker push localhost:32000/iotfn-set-device-config:0.1.0
  docker push localhost:32000/iotfn-get-device-config:0.1.0
  docker push localhost:32000/iotfn-send-command:0.1.0
  docker push localhost:32000/iotfn-list-commands:0.1.0
  docker push localhost:32000/iotfn-get-command:0.1.0
  docker push localhost:32000/iotfn-get-config-for-device:0.1.0
  docker push localhost:32000/iotfn-report-device-state:0.1.0
  docker push localhost:32000/iotfn-pending-device-commands:0.1.0
  docker push localhost:32000/iotfn-post-command-result:0.1.0
  docker push localhost:32000/iotfn-publish-telemetry:0.1.0
  docker push localhost:32000/iotfn-platform-info:0.1.0
  docker push localhost:32000/iotfn-sweep-presence:0.1.0
  docker push localhost:32000/iotfn-expire-commands:0.1.0
  docker push localhost:32000/iotfn-ingest-telemetry:0.1.0
  docker push localhost:32000/iotfn-purge-device-telemetry:0.1.0
  docker push localhost:32000/iotfn-query-metrics:0.1.0
  docker push localhost:32000/iotfn-latest-metrics:0.1.0
  docker push localhost:32000/iotfn-query-many-devices:0.1.0
  docker push localhost:32000/iotfn-delete-telemetry:0.1.0
  docker push localhost:32000/iotfn-forecast-metric:0.1.0
  docker push localhost:32000/iotfn-add-alert-rule:0.1.0
  docker push localhost:32000/iotfn-list-alert-rules:0.1.0
  docker push localhost:32000/iotfn-update-alert-rule:0.1.0
  docker push localhost:32000/iotfn-delete-alert-rule:0.1.0
  docker push localhost:32000/iotfn-list-alerts:0.1.0
  docker push localhost:32000/iotfn-acknowledge-alert:0.1.0
  docker push localhost:32000/iotfn-expire-telemetry:0.1.0
  docker push localhost:32000/iotfn-sweep-no-data:0.1.0
  docker push localhost:32000/iotfn-relay:0.1.0
  docker push localhost:32000/iotfn-bridge:0.1.0
  docker push localhost:32000/iotfn-triggers:0.1.0
  docker push localhost:32000/iotfn-scheduler:0.1.0
  docker push localhost:32000/iotfn-gateway:0.1.0
fi
