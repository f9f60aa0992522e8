#!/bin/sh
# The whole e2e suite against a real Apache APISIX (3.18) with the e2e configuration of conf/e2e/
# (every route the scenarios use). Installs the configuration, starts APISIX, starts the e2e
# upstreams and Redis, runs the e2e CLI with everything a run needs, stops what it started,
# puts the previous APISIX configuration back and prints the summary.
# Run from a built checkout (npm ci && npx tsc -p tsconfig.json).
#
#   APISIX_HOME=/usr/local/apisix deploy/e2e-real-apisix.sh     # an APISIX installed on this host
#   APISIX_CONTAINER=apisix deploy/e2e-real-apisix.sh           # a running container of our image
#                                                               # (docker run --network host ...)
#
#   APISIX_HOME       APISIX's home (conf/; the `apisix` CLI on PATH or in bin/); the runner is this
#                     checkout's dist/runner/main.js run by `node` from PATH (or NODE_BIN)
#   APISIX_CONTAINER  a running container of the repository's image (runner at /opt/apisix-mcp) on
#                     the host network; its configuration is replaced, restarted, and put back
#   E2E_GATEWAY       the description (default conf/e2e/gateway.yaml); after changing it run
#                     `node dist/e2e/real-config.js generate` to regenerate conf/e2e/*.yaml
#   E2E_ARGS          extra CLI arguments (e.g. "--groups identity,policy")
#
# The host needs the ports of conf/e2e/gateway.yaml free on 127.0.0.1 (APISIX 9080, metrics 9464,
# upstreams 18100-18106, Redis 18379), redis-server on PATH (unless a Redis answers on that port),
# curl, and /tmp/apisix-mcp-e2e writable (made 0777: APISIX's user writes the audit and pid files).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
gateway=${E2E_GATEWAY:-conf/e2e/gateway.yaml}
state=$(sed -n 's/^state_dir: *//p' "$gateway")
node_bin=${NODE_BIN:-$(command -v node)}
[ -f dist/e2e/cli.js ] || { echo "e2e-real-apisix: build first (npx tsc -p tsconfig.json)" >&2; exit 2; }
if [ -z "${APISIX_HOME:-}" ] && [ -z "${APISIX_CONTAINER:-}" ]; then
  echo "e2e-real-apisix: set APISIX_HOME (an installed APISIX) or APISIX_CONTAINER (a running container)" >&2
  exit 2
fi

pids=""
backup=""
apisix_started=""
cleanup() {
  status=$?
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  if [ -n "$apisix_started" ]; then (cd "$APISIX_HOME" && $apisix_cli stop) >/dev/null 2>&1 || true; fi
  if [ -n "$backup" ]; then
    if [ -n "${APISIX_HOME:-}" ]; then
      for f in config.yaml apisix.yaml; do
        if [ -f "$backup/$f" ]; then cp "$backup/$f" "$APISIX_HOME/conf/$f"; else rm -f "$APISIX_HOME/conf/$f"; fi
      done
    else
      docker cp "$backup/config.yaml" "$APISIX_CONTAINER:/usr/local/apisix/conf/config.yaml" 2>/dev/null || true
      docker cp "$backup/apisix.yaml" "$APISIX_CONTAINER:/usr/local/apisix/conf/apisix.yaml" 2>/dev/null || true
      docker restart "$APISIX_CONTAINER" >/dev/null 2>&1 || true
    fi
    rm -rf "$backup"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Per-run secrets ($file:// references of the routes) and the state directory; the yaml files
# generated from the description (for the default one, the same as conf/e2e/*.yaml).
case "$state" in /tmp/*) ;; *) echo "e2e-real-apisix: state_dir must be under /tmp (it is emptied)" >&2; exit 2 ;; esac
rm -rf "$state" && mkdir -p "$state/conf" && chmod 0777 "$state"
"$node_bin" dist/e2e/real-config.js secrets --gateway "$gateway"
"$node_bin" dist/e2e/real-config.js generate --gateway "$gateway" --out "$state/conf" >/dev/null

# Redis for the redis route, unless one answers on the described port.
redis_url=$(sed -n 's/^redis_url: *//p' "$gateway")
redis_port=${redis_url##*:}
if ! "$node_bin" -e "require('net').connect($redis_port, '127.0.0.1').on('connect', () => process.exit(0)).on('error', () => process.exit(1))"; then
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >"$state/redis.log" 2>&1 &
  pids="$pids $!"
fi

# The upstreams and their control endpoint.
"$node_bin" dist/e2e/upstreams.js --gateway "$gateway" --ready-file "$state/upstreams.ready" >"$state/upstreams.log" 2>&1 &
pids="$pids $!"

container_args=""
backup=$(mktemp -d)
if [ -n "${APISIX_HOME:-}" ]; then
  apisix_cli=$(command -v apisix || echo "$APISIX_HOME/bin/apisix")
  cp "$APISIX_HOME/conf/config.yaml" "$backup/config.yaml" 2>/dev/null || true
  cp "$APISIX_HOME/conf/apisix.yaml" "$backup/apisix.yaml" 2>/dev/null || true
  # This checkout's runner and node instead of the image's paths.
  sed -e "s#/opt/apisix-mcp/dist/runner/main.js#$root/dist/runner/main.js#" -e "s#/usr/bin/node#$node_bin#" "$state/conf/config.yaml" >"$APISIX_HOME/conf/config.yaml"
  cp "$state/conf/apisix.yaml" "$APISIX_HOME/conf/apisix.yaml"
  mkdir -p "$APISIX_HOME/conf/policies" && cp conf/policies/*.yaml "$APISIX_HOME/conf/policies/"
  (cd "$APISIX_HOME" && $apisix_cli start)
  apisix_started=1
else
  c=$APISIX_CONTAINER
  docker cp "$c:/usr/local/apisix/conf/config.yaml" "$backup/config.yaml"
  docker cp "$c:/usr/local/apisix/conf/apisix.yaml" "$backup/apisix.yaml" 2>/dev/null || true
  docker exec -u 0 "$c" sh -c "rm -rf $state && mkdir -p $state && chmod 0777 $state"
  for f in jwt-public.pem confirm-secret backend-token; do docker cp "$state/$f" "$c:$state/$f"; done
  docker exec -u 0 "$c" chmod -R a+r "$state"
  docker cp "$state/conf/config.yaml" "$c:/usr/local/apisix/conf/config.yaml"
  docker cp "$state/conf/apisix.yaml" "$c:/usr/local/apisix/conf/apisix.yaml"
  # From etcd to standalone: a restart, not a reload.
  docker restart "$c" >/dev/null
  container_args="--container $c"
fi

# Ready when the upstreams are and /mcp answers 401 without a token (APISIX and the runner are up).
listen=$(sed -n 's/^listen: *//p' "$gateway")
code=""
for _ in $(seq 1 60); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"ping"}' "http://127.0.0.1:$listen/mcp" || true)
  if [ -f "$state/upstreams.ready" ] && [ "$code" = 401 ]; then break; fi
  sleep 1
done
if [ "$code" != 401 ]; then echo "e2e-real-apisix: /mcp did not answer 401 (got ${code:-nothing}); see APISIX's error.log" >&2; exit 1; fi

# The whole suite with every access a scenario may need (npm run e2e -- --help), one argument
# per line from the description (docker exec commands contain spaces).
"$node_bin" dist/e2e/real-config.js cli-args --gateway "$gateway" $container_args >"$state/cli-args"
set --
while IFS= read -r arg; do set -- "$@" "$arg"; done <"$state/cli-args"
set +e
# shellcheck disable=SC2086 # E2E_ARGS is split on purpose
"$node_bin" dist/e2e/cli.js "$@" ${E2E_ARGS:-} >"$state/e2e.out" 2>&1
result=$?
set -e
cat "$state/e2e.out"
echo
echo "e2e-real-apisix: $(tail -n 1 "$state/e2e.out") (APISIX: ${APISIX_HOME:-container $APISIX_CONTAINER})"
exit "$result"
