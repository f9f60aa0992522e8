#!/bin/sh
# Copies the files the helm chart packages (helm can only read files inside the chart):
# conf/admin/*.json -> charts/apisix-mcp/files/routes/, conf/policies/*.yaml -> files/policies/,
# deploy/setup-routes.sh -> files/, the Grafana dashboard -> files/grafana/, the alert rules ->
# files/prometheus/. Run after `npm run layout` or a policy change;
# t/deploy fails while the copies differ.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
files="$root/charts/apisix-mcp/files"
rm -rf "$files/routes" "$files/policies" "$files/grafana" "$files/prometheus"
mkdir -p "$files/routes" "$files/policies" "$files/grafana" "$files/prometheus"
cp "$root"/conf/admin/*.json "$files/routes/"
cp "$root"/conf/policies/*.yaml "$files/policies/"
cp "$root/deploy/setup-routes.sh" "$files/setup-routes.sh"
cp "$root/deploy/grafana/mcp-gateway-dashboard.json" "$files/grafana/"
cp "$root/deploy/prometheus/mcp-gateway-alerts.yaml" "$files/prometheus/"
echo "chart files synced into $files"
