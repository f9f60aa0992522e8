#!/bin/sh
# Generates DEMO-ONLY secrets for docker-compose into deploy/secrets/ (git-ignored).
# Never use these in production: mount real secrets (Kubernetes Secret, Vault agent, ...).
# Each file is referenced from plugin confs as $file:///etc/apisix-mcp/secrets/<name>.
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
write upstream_token "demo-upstream-$(random_hex 16)"
write redact_hash_salt "$(random_hex 32)"
write confirm_secret "$(random_hex 32)"
write jwt_shared_secret "$(random_hex 32)"

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
