#!/bin/sh
# PUTs every route body in ROUTES_DIR (default conf/admin, the files `npm run layout` generates)
# to the APISIX Admin API: PUT /apisix/admin/routes/<file name without .json>.
# Waits for the Admin API first. Used by the compose `setup` service and the helm Job;
# runs in curlimages/curl (busybox sh + curl), so POSIX sh only.
#
#   ADMIN_URL       default http://apisix:9180
#   ADMIN_KEY       the admin key, or
#   ADMIN_KEY_FILE  a file holding it (default /run/secrets/admin_key)
#   ROUTES_DIR      default /routes
#   WAIT_SECONDS    how long to wait for the Admin API (default 120)
set -eu

admin_url=${ADMIN_URL:-http://apisix:9180}
routes_dir=${ROUTES_DIR:-/routes}
wait_seconds=${WAIT_SECONDS:-120}
key=${ADMIN_KEY:-}
if [ -z "$key" ]; then
  key_file=${ADMIN_KEY_FILE:-/run/secrets/admin_key}
  if [ ! -r "$key_file" ]; then
    echo "setup-routes: no ADMIN_KEY and $key_file is not readable" >&2
    exit 2
  fi
  key=$(tr -d '\r\n' < "$key_file")
fi

set -- "$routes_dir"/*.json
if [ ! -e "$1" ]; then
  echo "setup-routes: no route files in $routes_dir" >&2
  exit 2
fi

echo "setup-routes: waiting for $admin_url (up to ${wait_seconds}s)"
waited=0
until curl -fsS -o /dev/null -H "X-API-KEY: $key" "$admin_url/apisix/admin/routes"; do
  waited=$((waited + 2))
  if [ "$waited" -ge "$wait_seconds" ]; then
    echo "setup-routes: Admin API not ready after ${wait_seconds}s" >&2
    exit 1
  fi
  sleep 2
done

failed=0
for file in "$@"; do
  id=$(basename "$file" .json)
  status=$(curl -sS -o /tmp/setup-routes.out -w '%{http_code}' -X PUT \
    -H "X-API-KEY: $key" -H 'Content-Type: application/json' \
    --data-binary "@$file" "$admin_url/apisix/admin/routes/$id") || status=000
  case "$status" in
    200|201) echo "setup-routes: PUT routes/$id -> $status" ;;
    *)
      echo "setup-routes: PUT routes/$id -> $status: $(head -c 500 /tmp/setup-routes.out 2>/dev/null)" >&2
      failed=1
      ;;
  esac
done
exit "$failed"
