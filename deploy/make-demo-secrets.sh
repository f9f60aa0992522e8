#!/bin/sh
# Generates DEMO-ONLY secrets for docker-compose into deploy/secrets/ (git-ignored).
# Never use these in production: mount real secrets (Kubernetes Secret, Vault agent, ...).
# Env files feed $env://NAME references; other files are mounted at /etc/apisix-mcp/secrets
# for $file:///etc/apisix-mcp/secrets/<name> references.
# Existing files are kept, so re-running does not rotate anything; pass --force to rotate.
#   ./deploy/make-demo-secrets.sh [--force] [DIR]
set -eu

force=0
if [ "${1:-}" = "--force" ]; then force=1; shift; fi
dir=${1:-"$(cd "$(dirname "$0")" && pwd)/secrets"}
mkdir -p "$dir"

random_hex() { # bytes
  od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}

# write NAME CONTENT: world-readable on purpose (demo): the container's apisix user (uid 636)
# must read files created by the host user.
write() {
  if [ -s "$dir/$1" ] && [ "$force" -eq 0 ]; then return 0; fi
  umask 022
  printf '%s\n' "$2" > "$dir/$1.tmp" && mv "$dir/$1.tmp" "$dir/$1"
  echo "wrote $dir/$1"
}

admin_key=$(random_hex 16)
if [ ! -s "$dir/admin_key" ] || [ "$force" -eq 1 ]; then
  write admin_key "$admin_key"
  # env_file for the apisix service: conf/config.yaml reads ${{APISIX_ADMIN_KEY}}.
  write apisix-admin.env "APISIX_ADMIN_KEY=$admin_key"
fi
# env_file for the apisix service: the $env://NAME references of conf/gateway.yaml (also
# listed in conf/config.yaml nginx_config.envs so they reach the runner).
jwt_secret=$(random_hex 32)
if [ ! -s "$dir/runner.env" ] || [ "$force" -eq 1 ]; then
  write runner.env "MCP_GATEWAY_JWT_SECRET=$jwt_secret
MCP_GATEWAY_CONFIRMATION_SECRET=$(random_hex 32)
SAMPLE_TOOLS_TOKEN=demo-upstream-$(random_hex 16)"
  # The same HS256 secret as a file, to mint demo client tokens (docs/deployment.md).
  write jwt_shared_secret "$jwt_secret"
fi
# For confs that prefer files ($file:///etc/apisix-mcp/secrets/<name>, re-read on change).
write redact_hash_salt "$(random_hex 32)"

# EC P-256 key for mcp-credential identity tokens (PKCS#8 PEM) and its public half.
if [ ! -s "$dir/identity_signing_key.pem" ] || [ "$force" -eq 1 ]; then
  if command -v openssl >/dev/null 2>&1; then
    umask 022
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/identity_signing_key.pem" 2>/dev/null
    openssl pkey -in "$dir/identity_signing_key.pem" -pubout -out "$dir/identity_signing_key.pub.pem" 2>/dev/null
    chmod 0644 "$dir/identity_signing_key.pem" "$dir/identity_signing_key.pub.pem"
    echo "wrote $dir/identity_signing_key.pem"
  else
    echo "openssl not found: identity_signing_key.pem not generated (routes using mcp-credential identity tokens fail closed)" >&2
  fi
fi
echo "demo secrets ready in $dir"
