// Which plugins the runner knows, and their conf validators (compiled once at start-up).

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { pathToFileURL } from 'node:url';
import type { Plugin } from './plugin.js';

/** The shipped plugins, loaded at start-up (a plugin that fails to load is reported, not skipped silently). */
export const BUILTIN_PLUGINS = ['mcp-authz', 'mcp-ratelimit', 'mcp-audit', 'mcp-credential', 'mcp-redact'] as const;

export interface RegisteredPlugin {
  plugin: Plugin<unknown, unknown>;
  validate: ValidateFunction;
}

// ajv-formats is CommonJS with a default export; under NodeNext it arrives as the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (a: Ajv) => Ajv;

export class PluginRegistry {
  private readonly plugins = new Map<string, RegisteredPlugin>();
  readonly ajv: Ajv;

  constructor() {
    // useDefaults: a validated conf carries the schema's defaults, so plugins read one shape.
    this.ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
    addFormats(this.ajv);
  }

  register(plugin: Plugin<never, unknown>): void {
    const p = plugin as unknown as Plugin<unknown, unknown>;
    if (this.plugins.has(p.name)) throw new Error(`plugin ${p.name} registered twice`);
    this.plugins.set(p.name, { plugin: p, validate: this.ajv.compile(p.confSchema) });
  }

  get(name: string): RegisteredPlugin | undefined {
    return this.plugins.get(name);
  }

  names(): string[] {
    return [...this.plugins.keys()];
  }

  all(): RegisteredPlugin[] {
    return [...this.plugins.values()];
  }
}

/** Operator-readable conf errors: `mcp-authz: /limits/0/window must be >= 1`. */
export function formatConfErrors(pluginName: string, errors: readonly ErrorObject[] | null | undefined): string {
  if (!errors || errors.length === 0) return `${pluginName}: invalid conf`;
  return errors
    .slice(0, 5)
    .map((e) => {
      const at = e.instancePath || '/';
      const extra =
        e.keyword === 'additionalProperties'
          ? ` '${String((e.params as { additionalProperty?: unknown }).additionalProperty)}'`
          : e.keyword === 'enum'
            ? ` (${((e.params as { allowedValues?: unknown[] }).allowedValues ?? []).join(', ')})`
            : '';
      return `${pluginName}: ${at} ${e.message ?? 'is invalid'}${extra}`;
    })
    .join('; ');
}

/**
 * Load the built-in plugins from plugins/<name>/index.js, then any extra plugin modules
 * (absolute paths, e.g. from MCP_RUNNER_PLUGINS) that export `plugin`. Failures are
 * returned, not thrown: routes that name a missing plugin fail closed.
 */
export async function loadPlugins(registry: PluginRegistry, extraModules: readonly string[] = []): Promise<string[]> {
  const failures: string[] = [];
  const specs = [...BUILTIN_PLUGINS.map((n) => ({ label: n, spec: `../../plugins/${n}/index.js` })), ...extraModules.map((m) => ({ label: m, spec: pathToFileURL(m).href }))];
  for (const { label, spec } of specs) {
    try {
      const mod = (await import(spec)) as { plugin?: Plugin<never, unknown> };
      if (!mod.plugin) throw new Error('module has no `plugin` export');
      registry.register(mod.plugin);
    } catch (err) {
      failures.push(`${label}: ${(err as Error).message}`);
    }
  }
  return failures;
}
