// OpenTelemetry semantic conventions for MCP (GenAI conventions, status: development), as the
// gateway applies them. The gateway is the *server* to the agent (SERVER span
// `{mcp.method.name} {target}`, histogram mcp.server.operation.duration, every call) and the
// *client* to the upstream MCP server (CLIENT span and mcp.client.operation.duration, only for
// calls whose answer the runner sees, i.e. routes with a response phase: on the others APISIX
// proxies without telling the runner when the answer came).
// Gateway-specific facts (decision, rule, limit, route, identity dimensions) use our own
// `mcp_gateway.` prefix, never the `mcp.` namespace the conventions own.

import type { Attributes } from '@opentelemetry/api';
import type { McpRequestBody } from '../../runner/mcp/types.js';

/** Attribute keys defined by the conventions (and the general ones they reference). */
export const SEMCONV = {
  methodName: 'mcp.method.name',
  sessionId: 'mcp.session.id',
  protocolVersion: 'mcp.protocol.version',
  resourceUri: 'mcp.resource.uri',
  requestId: 'jsonrpc.request.id',
  toolName: 'gen_ai.tool.name',
  promptName: 'gen_ai.prompt.name',
  operationName: 'gen_ai.operation.name',
  errorType: 'error.type',
  rpcStatusCode: 'rpc.response.status_code',
  networkTransport: 'network.transport',
  networkProtocolName: 'network.protocol.name',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  httpStatusCode: 'http.response.status_code',
} as const;

/** Our own attributes. */
export const GATEWAY_ATTR = {
  server: 'mcp_gateway.server',
  route: 'mcp_gateway.route',
  result: 'mcp_gateway.result',
  decision: 'mcp_gateway.decision',
  rule: 'mcp_gateway.decision.rule',
  limit: 'mcp_gateway.limit.rule',
  batchSize: 'mcp_gateway.batch.size',
  app: 'mcp_gateway.app',
  agent: 'mcp_gateway.agent',
  tenant: 'mcp_gateway.tenant',
  environment: 'mcp_gateway.environment',
} as const;

/** Histogram names, unit and the bucket boundaries the conventions advise (seconds). */
export const SERVER_DURATION = 'mcp.server.operation.duration';
export const CLIENT_DURATION = 'mcp.client.operation.duration';
export const DURATION_UNIT = 's';
export const DURATION_BUCKETS: readonly number[] = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];

/** What the request tells about the operation (first request or notification of the body). */
export interface OperationFacts {
  method?: string;
  toolName?: string;
  promptName?: string;
  resourceUri?: string;
  requestId?: string;
}

export function operationFacts(body: McpRequestBody | undefined): OperationFacts {
  const first = body?.ok ? body.messages.find((m) => m.type !== 'response') : undefined;
  if (first === undefined) return {};
  const facts: OperationFacts = {};
  if (first.method !== undefined) facts.method = first.method;
  if (first.toolName !== undefined) facts.toolName = first.toolName;
  if (first.promptName !== undefined) facts.promptName = first.promptName;
  if (first.resourceUri !== undefined) facts.resourceUri = first.resourceUri;
  // A null or absent id is a notification: not recorded.
  if (first.id !== undefined && first.id !== null) facts.requestId = String(first.id);
  return facts;
}

/** `{mcp.method.name} {target}`: the tool or prompt name; never the resource URI (cardinality). */
export function spanName(f: OperationFacts): string {
  if (f.method === undefined) return 'mcp';
  const target = f.toolName ?? f.promptName;
  return target === undefined ? f.method : `${f.method} ${target}`;
}

/** The conventions' attributes of one operation (spans; metrics take the low-cardinality ones). */
export function operationAttributes(f: OperationFacts, sessionId: string | undefined, protocolVersion: string | undefined): Attributes {
  const a: Attributes = { [SEMCONV.networkTransport]: 'tcp', [SEMCONV.networkProtocolName]: 'http' };
  if (f.method !== undefined) a[SEMCONV.methodName] = f.method;
  if (f.toolName !== undefined) a[SEMCONV.toolName] = f.toolName;
  if (f.method === 'tools/call') a[SEMCONV.operationName] = 'execute_tool';
  if (f.promptName !== undefined) a[SEMCONV.promptName] = f.promptName;
  if (f.resourceUri !== undefined) a[SEMCONV.resourceUri] = f.resourceUri;
  if (f.requestId !== undefined) a[SEMCONV.requestId] = f.requestId;
  if (sessionId !== undefined && sessionId !== '') a[SEMCONV.sessionId] = sessionId;
  if (protocolVersion !== undefined && protocolVersion !== '') a[SEMCONV.protocolVersion] = protocolVersion;
  return a;
}

/**
 * error.type, set if and only if the operation failed: the JSON-RPC error code as a string
 * (gateway refusals carry one too), else the HTTP status of a failed answer, else `_OTHER`.
 */
export function errorType(failed: boolean, rpcErrorCode: number | undefined, httpStatus: number | undefined): string | undefined {
  if (rpcErrorCode !== undefined) return String(rpcErrorCode);
  if (!failed) return undefined;
  if (httpStatus !== undefined && httpStatus >= 400) return String(httpStatus);
  return '_OTHER';
}
