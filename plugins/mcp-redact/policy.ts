// Redaction from the one reviewable policy file (mcp-authz's, conf `policy_file`): a route
// entry with `data_policy.redact: [detectors]` turns those detectors on for the calls its
// `match` covers (server, tools, resources, prompts), arguments and results, in addition to
// the plugin conf's own scope:
//
//   call in the conf's scope and matched by entries -> conf detectors + the entries' detectors
//   call matched by entries only                    -> the entries' detectors only (conf modes
//                                                      and tax_ids; no field rules)
//   otherwise                                       -> the conf alone decides
//
// The file is watched by the runner's policy service (shared with mcp-authz); a new version is used
// from the first call after it was accepted. Redactions per detector set are compiled when the
// policy is compiled and cached (at most 2 x 2^6 sets exist, so the cache is bounded).

import type { McpMessage } from '../../runner/mcp/types.js';
import { routeRedactionRules, type PolicyDoc, type PolicyService, type PolicySource, type RouteEntryMatch } from '../../runner/policy/index.js';
import { DETECTOR_NAMES, type DetectorName } from './detectors.js';
import { compileRedaction, type Redaction, type RedactionConf } from './redactor.js';

interface DataPolicyEntry {
  readonly match: RouteEntryMatch;
  readonly detectors: readonly DetectorName[];
}

export class PolicyRedaction {
  private version: number;
  private entries: readonly DataPolicyEntry[];
  /** 'c:' (conf scope too) or 'p:' (policy only) + sorted detectors -> compiled redaction. */
  private readonly compiled = new Map<string, Redaction>();
  private readonly confDetectors: readonly DetectorName[];

  private constructor(
    private readonly source: PolicySource,
    private readonly conf: RedactionConf,
    private readonly confRedaction: Redaction,
    private readonly salt: (() => string | undefined) | undefined,
  ) {
    this.confDetectors = conf.detectors ?? DETECTOR_NAMES;
    this.version = source.current.version;
    this.entries = this.compileEntries(source.current.doc);
  }

  /** At prepare: load (or reuse) the watched file; errors name the conf field, file and field. */
  static async open(policies: PolicyService, path: string, conf: RedactionConf, confRedaction: Redaction, salt: (() => string | undefined) | undefined): Promise<PolicyRedaction> {
    const source = await policies.loaded(path, 'policy_file');
    try {
      return new PolicyRedaction(source, conf, confRedaction, salt);
    } catch (err) {
      throw new Error(`policy_file: ${(err as Error).message}`);
    }
  }

  /**
   * The redaction for one request: undefined when neither the conf scope nor an entry covers
   * it. Per call: a version compare, then one match test per data_policy entry.
   */
  redactionFor(msg: McpMessage, server: string | undefined, inConfScope: boolean): Redaction | undefined {
    const snap = this.source.current;
    if (snap.version !== this.version) {
      // A version that does not compile keeps the entries we have (the source already
      // validated it against the schema, so this is not expected).
      try {
        this.entries = this.compileEntries(snap.doc);
      } catch {
        /* keep the last good entries */
      }
      this.version = snap.version;
    }
    let added: Set<DetectorName> | undefined;
    for (const e of this.entries) {
      if (!e.match.matches(msg, server)) continue;
      added ??= new Set();
      for (const d of e.detectors) added.add(d);
    }
    if (added === undefined) return inConfScope ? this.confRedaction : undefined;
    return this.redactionOf(added, inConfScope);
  }

  /** The widest redaction: for answers whose requests are unknown (fail closed). */
  widest(): Redaction {
    const all = new Set<DetectorName>();
    for (const e of this.entries) for (const d of e.detectors) all.add(d);
    return all.size === 0 ? this.confRedaction : this.redactionOf(all, true);
  }

  private compileEntries(doc: PolicyDoc | undefined): DataPolicyEntry[] {
    const out: DataPolicyEntry[] = [];
    for (const rule of routeRedactionRules(doc ?? {})) {
      const detectors = rule.detectors as readonly DetectorName[];
      out.push({ match: rule.match, detectors });
      // Compile the sets one entry alone yields now, so calls do not pay for it.
      this.redactionOf(new Set(detectors), true);
      this.redactionOf(new Set(detectors), false);
    }
    return out;
  }

  private redactionOf(added: ReadonlySet<DetectorName>, inConfScope: boolean): Redaction {
    const detectors = inConfScope ? DETECTOR_NAMES.filter((d) => added.has(d) || this.confDetectors.includes(d)) : DETECTOR_NAMES.filter((d) => added.has(d));
    const key = `${inConfScope ? 'c' : 'p'}:${detectors.join(',')}`;
    let r = this.compiled.get(key);
    if (r === undefined) {
      r = inConfScope
        ? detectors.length === this.confDetectors.length
          ? this.confRedaction
          : compileRedaction({ ...this.conf, detectors: [...detectors] }, this.salt)
        : compileRedaction({ detectors: [...detectors], tax_ids: this.conf.tax_ids, mode: this.conf.mode, modes: this.conf.modes, fields: { keys: [], paths: [] } }, this.salt);
      this.compiled.set(key, r);
    }
    return r;
  }
}
