// A small in-process metrics registry that renders the Prometheus text format (0.0.4).
// We keep it ourselves instead of pulling a full exporter: the runner needs a handful of
// counters and histograms, label cardinality must stay bounded (tool names come from
// clients), and rendering happens only when someone scrapes.

/** Label values of one series, in the order of the metric's label names. */
export type Labels = Readonly<Record<string, string | number | undefined>>;

/** Value used for every label of a series that would exceed the cardinality bound. */
export const OVERFLOW_LABEL_VALUE = '_overflow_';

const DEFAULT_MAX_SERIES = 1000;

/** Latency buckets in seconds: 1 ms .. 60 s. */
export const DEFAULT_SECONDS_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

interface MetricOptions {
  name: string;
  help: string;
  labelNames?: readonly string[];
  /** Most distinct label sets kept; later new sets are folded into one overflow series. */
  maxSeries?: number;
}

abstract class Metric<S> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  private readonly maxSeries: number;
  protected readonly series = new Map<string, { labels: string[]; state: S }>();

  constructor(opts: MetricOptions) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(opts.name)) throw new Error(`invalid metric name ${opts.name}`);
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = opts.labelNames ?? [];
    this.maxSeries = opts.maxSeries ?? DEFAULT_MAX_SERIES;
  }

  protected abstract fresh(): S;
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  abstract renderSeries(labelText: (extra?: string) => string, state: S, out: string[]): void;

  private labelValues(labels: Labels | undefined): string[] {
    return this.labelNames.map((n) => {
      const v = labels?.[n];
      return v === undefined ? '' : String(v);
    });
  }

  /** The state of a series that exists; reading never creates one (nor fills the series cap). */
  protected peek(labels: Labels | undefined): S | undefined {
    return this.series.get(this.keyOf(labels))?.state;
  }

  /** The series key of a label set: the values joined by NUL, built without an array per call. */
  private keyOf(labels: Labels | undefined): string {
    const names = this.labelNames;
    let key = '';
    for (let i = 0; i < names.length; i++) {
      const v = labels?.[names[i]!];
      if (i > 0) key += '\u0000';
      if (v !== undefined) key += typeof v === 'string' ? v : String(v);
    }
    return key;
  }

  /**
   * Series states by label value, one Map level per label name. A lookup hashes each value
   * (short strings, mostly the same instances call after call) instead of building and
   * hashing a joined key. Holds only series stored under their own key (bounded by the cap).
   */
  private readonly byValue = new Map<string, unknown>();

  protected stateFor(labels: Labels | undefined): S {
    const names = this.labelNames;
    let level = this.byValue;
    for (let i = 0; i < names.length; i++) {
      const v = labels?.[names[i]!];
      const next = level.get(v === undefined ? '' : typeof v === 'string' ? v : String(v));
      if (next === undefined) return this.indexedStateFor(labels);
      if (i === names.length - 1) return next as S;
      level = next as Map<string, unknown>;
    }
    return this.indexedStateFor(labels);
  }

  /** The series of a label set through its joined key (created if new), then indexed by value. */
  private indexedStateFor(labels: Labels | undefined): S {
    const state = this.keyedStateFor(labels);
    const names = this.labelNames;
    if (names.length === 0 || this.series.get(this.keyOf(labels))?.state !== state) return state;
    let level = this.byValue;
    for (let i = 0; i < names.length; i++) {
      const v = labels?.[names[i]!];
      const text = v === undefined ? '' : typeof v === 'string' ? v : String(v);
      if (i === names.length - 1) {
        level.set(text, state);
        break;
      }
      let next = level.get(text) as Map<string, unknown> | undefined;
      if (next === undefined) level.set(text, (next = new Map()));
      level = next;
    }
    return state;
  }

  private keyedStateFor(labels: Labels | undefined): S {
    let key = this.keyOf(labels);
    let entry = this.series.get(key);
    if (entry === undefined) {
      if (this.series.size >= this.maxSeries) {
        const overflow = this.labelNames.map(() => OVERFLOW_LABEL_VALUE);
        key = overflow.join('\u0000');
        entry = this.series.get(key);
        if (entry === undefined) {
          entry = { labels: overflow, state: this.fresh() };
          this.series.set(key, entry);
        }
      } else {
        entry = { labels: this.labelValues(labels), state: this.fresh() };
        this.series.set(key, entry);
      }
    }
    return entry.state;
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`);
    out.push(`# TYPE ${this.name} ${this.type}`);
    for (const { labels, state } of this.series.values()) {
      const pairs = this.labelNames.map((n, i) => `${n}="${escapeLabel(labels[i] ?? '')}"`);
      this.renderSeries((extra) => {
        const all = extra === undefined ? pairs : [...pairs, extra];
        return all.length === 0 ? '' : `{${all.join(',')}}`;
      }, state, out);
    }
  }

  /** Number of distinct label sets held (for tests and self-monitoring). */
  get seriesCount(): number {
    return this.series.size;
  }
}

export class Counter extends Metric<{ value: number }> {
  readonly type = 'counter' as const;
  protected fresh(): { value: number } {
    return { value: 0 };
  }
  inc(labels?: Labels, by = 1): void {
    if (!(by >= 0)) return; // counters never go down; NaN ignored
    this.stateFor(labels).value += by;
  }
  /** Current value of one series (tests, self-checks). */
  get(labels?: Labels): number {
    return this.peek(labels)?.value ?? 0;
  }
  renderSeries(labelText: (extra?: string) => string, state: { value: number }, out: string[]): void {
    out.push(`${this.name}${labelText()} ${formatNumber(state.value)}`);
  }
}

export class Gauge extends Metric<{ value: number }> {
  readonly type = 'gauge' as const;
  protected fresh(): { value: number } {
    return { value: 0 };
  }
  set(labels: Labels | undefined, value: number): void {
    this.stateFor(labels).value = value;
  }
  renderSeries(labelText: (extra?: string) => string, state: { value: number }, out: string[]): void {
    out.push(`${this.name}${labelText()} ${formatNumber(state.value)}`);
  }
}

interface HistogramState {
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram extends Metric<HistogramState> {
  readonly type = 'histogram' as const;
  readonly buckets: readonly number[];
  constructor(opts: MetricOptions & { buckets?: readonly number[] }) {
    super(opts);
    this.buckets = [...(opts.buckets ?? DEFAULT_SECONDS_BUCKETS)].sort((a, b) => a - b);
  }
  protected fresh(): HistogramState {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }
  observe(labels: Labels | undefined, value: number): void {
    if (!Number.isFinite(value)) return;
    const s = this.stateFor(labels);
    // counts[i] holds observations <= buckets[i] only in that bucket; cumulated at render time
    let i = 0;
    while (i < this.buckets.length && value > (this.buckets[i] as number)) i++;
    if (i < s.counts.length) s.counts[i] = (s.counts[i] as number) + 1;
    s.sum += value;
    s.count += 1;
  }
  renderSeries(labelText: (extra?: string) => string, state: HistogramState, out: string[]): void {
    let cumulative = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      cumulative += state.counts[i] as number;
      out.push(`${this.name}_bucket${labelText(`le="${formatNumber(this.buckets[i] as number)}"`)} ${cumulative}`);
    }
    out.push(`${this.name}_bucket${labelText('le="+Inf"')} ${state.count}`);
    out.push(`${this.name}_sum${labelText()} ${formatNumber(state.sum)}`);
    out.push(`${this.name}_count${labelText()} ${state.count}`);
  }
}

/** A value read at scrape time (e.g. the protocol server's connection count). */
export interface Collector {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  read(): number;
}

type AnyMetric = Counter | Gauge | Histogram;

export class MetricsRegistry {
  private readonly metrics = new Map<string, AnyMetric>();
  private readonly collectors = new Map<string, Collector>();

  /** Returns the existing metric of that name when there is one (modules may load twice in tests). */
  counter(opts: MetricOptions): Counter {
    return this.getOrAdd(opts.name, () => new Counter(opts), Counter);
  }
  gauge(opts: MetricOptions): Gauge {
    return this.getOrAdd(opts.name, () => new Gauge(opts), Gauge);
  }
  histogram(opts: MetricOptions & { buckets?: readonly number[] }): Histogram {
    return this.getOrAdd(opts.name, () => new Histogram(opts), Histogram);
  }
  /** Register (or replace) a scrape-time reader, e.g. runner-level counters. */
  collect(collector: Collector): void {
    this.collectors.set(collector.name, collector);
  }

  private getOrAdd<M extends AnyMetric>(name: string, make: () => M, cls: abstract new (...a: never[]) => M): M {
    const existing = this.metrics.get(name);
    if (existing !== undefined) {
      if (!(existing instanceof cls)) throw new Error(`metric ${name} already registered with another type`);
      return existing;
    }
    const m = make();
    this.metrics.set(name, m);
    return m;
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const out: string[] = [];
    for (const m of this.metrics.values()) m.render(out);
    for (const c of this.collectors.values()) {
      let value: number;
      try {
        value = c.read();
      } catch {
        continue; // a broken reader must not break the scrape
      }
      out.push(`# HELP ${c.name} ${escapeHelp(c.help)}`, `# TYPE ${c.name} ${c.type}`, `${c.name} ${formatNumber(value)}`);
    }
    return out.join('\n') + '\n';
  }
}

/** The runner's registry; plugins add their metrics here. */
export const defaultRegistry = new MetricsRegistry();

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}
