/** One Prometheus text exposition, parsed: `value(name, labels)` sums the series that match. */
export interface Scrape {
  readonly text: string;
  value(name: string, labels?: Readonly<Record<string, string>>): number;
}

const SERIES = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export async function scrape(port: number): Promise<Scrape> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  const text = await response.text();
  const series = text.split('\n').flatMap((line) => {
    const match = SERIES.exec(line);
    if (!match) return [];
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(LABEL)].map((label) => [label[1]!, label[2]!]));
    return [{ name: match[1]!, labels, value: Number(match[3]) }];
  });
  return {
    text,
    value: (name, wanted = {}) =>
      series
        .filter((entry) => entry.name === name && Object.entries(wanted).every(([key, value]) => entry.labels[key] === value))
        .reduce((sum, entry) => sum + entry.value, 0),
  };
}

/** The difference of one series between two scrapes. */
export function delta(before: Scrape, after: Scrape, name: string, labels?: Readonly<Record<string, string>>): number {
  return after.value(name, labels) - before.value(name, labels);
}
