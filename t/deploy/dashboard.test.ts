// The Grafana dashboard and the Prometheus alert rules: the dashboard JSON is valid and every
// panel has a query; every metric the dashboard and the alerts query is on the runner's
// /metrics after a demo run (the real runner behind the emulator with the shipped routes); the
// chart and the compose stack ship the same files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { PACKAGE_ROOT } from '../../runner/host/schema-file.js';
import { runDemo } from '../../dev/demo.js';

const read = (p: string): string => readFileSync(join(PACKAGE_ROOT, p), 'utf8');
const DASHBOARD = 'deploy/grafana/mcp-gateway-dashboard.json';
const ALERTS = 'deploy/prometheus/mcp-gateway-alerts.yaml';

interface Panel {
  title?: string;
  type?: string;
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: { expr?: string; refId?: string }[];
}

function dashboardExprs(): string[] {
  const dash = JSON.parse(read(DASHBOARD)) as { title?: string; uid?: string; panels?: Panel[] };
  assert.ok(dash.title && dash.uid, 'dashboard has a title and uid');
  assert.ok(Array.isArray(dash.panels) && dash.panels.length >= 10, 'dashboard has panels');
  const exprs: string[] = [];
  for (const p of dash.panels) {
    assert.ok(p.title, 'panel has a title');
    assert.ok(p.gridPos && p.gridPos.w > 0 && p.gridPos.h > 0, `${p.title}: gridPos`);
    assert.ok((p.targets ?? []).length > 0, `${p.title}: has a query`);
    for (const t of p.targets!) {
      assert.ok(typeof t.expr === 'string' && t.expr.trim() !== '', `${p.title}: target ${t.refId} has an expr`);
      exprs.push(t.expr);
    }
  }
  return exprs;
}

function alertExprs(): string[] {
  const doc = loadYaml(read(ALERTS)) as { groups: { name: string; rules: { alert?: string; expr?: string; annotations?: { summary?: string } }[] }[] };
  const rules = doc.groups.flatMap((g) => g.rules);
  assert.ok(rules.length >= 5);
  for (const r of rules) {
    assert.ok(r.alert && typeof r.expr === 'string' && r.annotations?.summary, `rule ${r.alert}: alert, expr and summary`);
  }
  return rules.map((r) => r.expr!);
}

/** Metric names in a PromQL expression (identifiers that are not functions, keywords or labels). */
function metricNames(expr: string): string[] {
  const noStrings = expr.replace(/"[^"]*"/g, '""').replace(/\{[^}]*\}/g, '{}');
  const noGroupings = noStrings.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const names = [...noGroupings.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)].map((m) => m[1]!);
  const KEYWORDS = new Set(['by', 'without', 'offset', 'and', 'or', 'unless', 'bool', 'on', 'ignoring', 'le', 's', 'm', 'h', 'd']);
  return [...new Set(names.filter((n) => !KEYWORDS.has(n) && !/^\d/.test(n) && !n.startsWith('__')))];
}

/** The family a sample name belongs to (histogram series carry suffixes). */
const family = (name: string): string => name.replace(/_(bucket|sum|count)$/, '');

test('dashboard and alert rules: valid, every panel queries, every metric queried is on /metrics after a demo run', async () => {
  const queried = [...dashboardExprs(), ...alertExprs()].flatMap(metricNames);
  const wanted = [...new Set(queried.map(family))].sort();
  // What the issue asks the dashboard to show.
  for (const m of ['mcp_gateway_calls_total', 'mcp_gateway_policy_decisions_total', 'mcp_gateway_ratelimit_hits_total', 'mcp_ratelimit_breaker_state', 'mcp_server_operation_duration_seconds', 'process_start_time_seconds', 'mcp_runner_token_not_found_total', 'mcp_audit_events_dropped_total']) {
    assert.ok(wanted.includes(m), `the dashboard or alerts query ${m}`);
  }
  const report = await runDemo({ quiet: true });
  assert.equal(report.ok, true, JSON.stringify(report.steps.filter((s) => !s.ok)));
  const text = report.facts.metricsText ?? '';
  const families = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
  const missing = wanted.filter((m) => !families.has(m));
  assert.deepEqual(missing, [], `queried but not on /metrics: ${missing.join(', ')}`);
  // And the demo's traffic shows in the series the main panels read.
  assert.match(text, /^mcp_gateway_calls_total\{[^}]*result="denied"/m);
  assert.match(text, /^mcp_server_operation_duration_seconds_bucket\{mcp_method_name="tools\/call",gen_ai_tool_name="[^"]+"/m);
  assert.match(text, /^mcp_gateway_ratelimit_hits_total\{/m);
  assert.match(text, /^process_start_time_seconds \d/m);
});

test('the chart and the compose stack ship the same dashboard and rules', () => {
  assert.equal(read('charts/apisix-mcp/files/grafana/mcp-gateway-dashboard.json'), read(DASHBOARD));
  assert.equal(read('charts/apisix-mcp/files/prometheus/mcp-gateway-alerts.yaml'), read(ALERTS));
  assert.match(read('charts/apisix-mcp/templates/grafana-dashboard.yaml'), /\.Files\.Get "files\/grafana\/mcp-gateway-dashboard\.json"/);
  assert.match(read('charts/apisix-mcp/templates/prometheus-rule.yaml'), /kind: PrometheusRule[\s\S]*\.Files\.Get "files\/prometheus\/mcp-gateway-alerts\.yaml" \| indent 2/);
  const compose = loadYaml(read('docker-compose.yml')) as { services: Record<string, { volumes?: string[]; environment?: Record<string, string> }> };
  const vols = (s: string): string[] => compose.services[s]?.volumes ?? [];
  assert.ok(vols('prometheus').some((v) => v.startsWith(`./${ALERTS}:`)), 'compose Prometheus loads the rules');
  assert.ok(vols('grafana').some((v) => v.startsWith(`./${DASHBOARD}:/var/lib/grafana/dashboards/`)), 'compose Grafana has the dashboard');
  assert.ok(vols('grafana').some((v) => v.startsWith('./deploy/grafana/provisioning:/etc/grafana/provisioning')), 'compose Grafana provisioning');
  const prom = loadYaml(read('deploy/prometheus/prometheus.yml')) as { rule_files: string[]; scrape_configs: { static_configs: { targets: string[] }[] }[] };
  assert.ok(prom.rule_files.some((f) => f.endsWith('mcp-gateway-alerts.yaml')));
  assert.deepEqual(prom.scrape_configs[0]?.static_configs[0]?.targets, [`apisix:${compose.services['apisix']?.environment?.['MCP_RUNNER_METRICS_PORT']}`]);
  assert.equal(compose.services['apisix']?.environment?.['MCP_RUNNER_METRICS_HOST'], '0.0.0.0', 'the runner answers scrapes from another container');
});
