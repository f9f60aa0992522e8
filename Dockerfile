# syntax=docker/dockerfile:1
# APISIX 3.18 (Debian) + Node 24 (LTS) + the MCP gateway runner at /opt/apisix-mcp.
# APISIX spawns the runner itself (conf/config.yaml ext-plugin.cmd); nothing else to start.
#   docker build -t apisix-mcp-gateway:0.1.0 .

ARG APISIX_IMAGE=apache/apisix:3.18.0-debian
ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: compile the runner, plugins and sample server; keep production deps only ---
FROM node:24-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY deploy/tsconfig.image.json ./deploy/
COPY runner ./runner
COPY plugins ./plugins
COPY examples ./examples
COPY schemas ./schemas
# Tests and benches are not part of the image (deploy/tsconfig.image.json leaves them out).
RUN npx tsc -p deploy/tsconfig.image.json && npm prune --omit=dev

# --- node: the official binary, same Debian release as the APISIX image: apache/apisix-docker's
# debian/Dockerfile for 3.18.0 starts FROM debian:bookworm-slim (Debian 12) ---
FROM ${NODE_IMAGE} AS node

# --- final: APISIX with the runner ---
FROM ${APISIX_IMAGE}
USER root
COPY --from=node /usr/local/bin/node /usr/bin/node
# Fail the build here, not at runtime, if a shared library is missing.
RUN ["/usr/bin/node", "--version"]

# Owned by root, read-only for the apisix user that runs nginx and the runner.
WORKDIR /opt/apisix-mcp
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/runner ./dist/runner
COPY --from=build /src/dist/plugins ./dist/plugins
COPY --from=build /src/dist/examples ./dist/examples
COPY --from=build /src/schemas ./schemas
COPY conf/policies ./conf/policies

COPY --chown=apisix:0 conf/config.yaml /usr/local/apisix/conf/config.yaml
# Runner log and audit files (MCP_RUNNER_LOG_FILE); kept out of APISIX's error.log.
# Route confs name policy files relative to the runner's working directory, the APISIX home
# (policy_file: conf/policies/support.yaml), so link them there.
RUN ln -s /opt/apisix-mcp/conf/policies /usr/local/apisix/conf/policies \
    && mkdir -p /var/log/apisix-mcp /etc/apisix-mcp/secrets \
    && chown apisix:0 /var/log/apisix-mcp \
    && chmod 0750 /var/log/apisix-mcp

ENV MCP_RUNNER_LOG_FILE=/var/log/apisix-mcp/runner.log \
    MCP_RUNNER_LOG_LEVEL=info \
    MCP_RUNNER_METRICS_PORT=9464

WORKDIR /usr/local/apisix
# The upstream image's non-root user (uid 636); nginx master, workers and runner run as it.
USER apisix
# The runner metrics endpoint (MCP_RUNNER_METRICS_PORT) listens on 127.0.0.1 only.
EXPOSE 9080 9180 9091 7085
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["/usr/bin/node", "-e", "fetch('http://127.0.0.1:7085/status').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# ENTRYPOINT, CMD and STOPSIGNAL (SIGQUIT: graceful; the runner then gets SIGTERM) come from APISIX.
