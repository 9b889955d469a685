// A real scrape of an Airlock's admin listener, parsed as Prometheus text.
import parsePrometheusTextFormat, { type MetricFamily } from 'parse-prometheus-text-format';

export interface Scrape {
  text: string;
  families: Map<string, MetricFamily>;
}

export async function scrapeMetrics(adminPort: number): Promise<Scrape> {
  const response = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  const text = await response.text();
  return { text, families: new Map(parsePrometheusTextFormat(text).map((family) => [family.name, family])) };
}

/** The value of the first sample of `name` whose labels include `labels`; 0 when there is none. */
export function sampleValue(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number {
  const sample = families.get(name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return Number(sample?.value ?? 0);
}

/**
 * Observations of a labelled histogram's series, read from the text: this
 * parser keeps a histogram's buckets but not its labels.
 */
export function histogramCount(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const match = line.match(new RegExp(`^${name}_count(?:\\{([^}]*)\\})? (\\S+)$`));
    if (!match) continue;
    const present = match[1] ?? '';
    if (Object.entries(labels).every(([k, v]) => present.includes(`${k}="${v}"`))) total += Number(match[2]);
  }
  return total;
}
