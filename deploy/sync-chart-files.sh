#!/bin/sh
# Copies the files the helm chart packages (helm can only read files inside the chart):
# conf/admin/*.json -> charts/apisix-mcp/files/routes/, conf/policies/*.yaml -> files/policies/,
# deploy/setup-routes.sh -> files/. Run after `npm run layout` or a policy change;
# t/deploy fails while the copies differ.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
files="$root/charts/apisix-mcp/files"
rm -rf "$files/routes" "$files/policies"
mkdir -p "$files/routes" "$files/policies"
cp "$root"/conf/admin/*.json "$files/routes/"
cp "$root"/conf/policies/*.yaml "$files/policies/"
cp "$root/deploy/setup-routes.sh" "$files/setup-routes.sh"
echo "chart files synced into $files"
