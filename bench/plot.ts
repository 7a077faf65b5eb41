// SVG plots of a run's results, drawn with Vega-Lite (no browser, no canvas):
// medians over the repeated runs, with bars from the lowest to the highest run.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Results } from './run.ts';
import type { Row } from './stats.ts';

/**
 * Summary rows of every target for a scenario, each tagged with its SFU, with
 * `<field>Min`/`<field>Max` filled in (equal to the median where all runs agreed).
 */
function rowsOf(results: Results, scenario: string): Row[] {
  const out: Row[] = [];
  for (const [sfu, data] of Object.entries(results.scenarios[scenario] ?? {})) {
    // A step that failed has a note and no figures to draw.
    for (const row of data.summary ?? []) {
      if ('note' in row) continue;
      const filled: Row = { sfu, ...row };
      for (const [k, v] of Object.entries(row)) {
        if (typeof v !== 'number') continue;
        filled[`${k}Min`] ??= v;
        filled[`${k}Max`] ??= v;
      }
      out.push(filled);
    }
  }
  return out;
}

function lines(title: string, rows: Row[], x: string, xTitle: string, ys: [string, string][]): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    data: { values: rows },
    hconcat: ys.map(([field, yTitle]) => ({
      width: 300,
      height: 220,
      layer: [
        {
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: x, type: 'quantitative', title: xTitle },
            y: { field, type: 'quantitative', title: yTitle },
            color: { field: 'sfu', type: 'nominal', title: 'SFU' },
          },
        },
        {
          // The spread over the repeated runs.
          mark: { type: 'rule' },
          encoding: {
            x: { field: x, type: 'quantitative' },
            y: { field: `${field}Min`, type: 'quantitative' },
            y2: { field: `${field}Max` },
            color: { field: 'sfu', type: 'nominal' },
          },
        },
      ],
    })),
  } as TopLevelSpec;
}

function bars(title: string, rows: Row[], group: string, fields: [string, string][]): TopLevelSpec {
  const long = rows.flatMap((r) =>
    fields.map(([field, label]) => ({ sfu: r.sfu, group: String(r[group] ?? ''), stat: label, value: Number(r[field]), min: Number(r[`${field}Min`]), max: Number(r[`${field}Max`]) })),
  );
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    data: { values: long },
    facet: { column: { field: 'group', type: 'nominal', title: null } },
    spec: {
      layer: [
        {
          mark: 'bar',
          encoding: {
            x: { field: 'stat', type: 'nominal', title: null },
            xOffset: { field: 'sfu' },
            y: { field: 'value', type: 'quantitative', title: 'ms' },
            color: { field: 'sfu', type: 'nominal', title: 'SFU' },
          },
        },
        {
          // The spread over the repeated runs.
          mark: { type: 'rule', color: 'black' },
          encoding: {
            x: { field: 'stat', type: 'nominal' },
            xOffset: { field: 'sfu' },
            y: { field: 'min', type: 'quantitative' },
            y2: { field: 'max' },
          },
        },
      ],
    },
  } as TopLevelSpec;
}

/** Writes one SVG per scenario that has figures; returns the paths. */
export async function renderPlots(results: Results, dir: string): Promise<string[]> {
  const subtitle = `${results.machine.cores} cores, ${results.profile} profile, ${results.startedAt.slice(0, 10)}`;
  const specs: [string, TopLevelSpec][] = [];
  const fanout = rowsOf(results, 'fanout');
  if (fanout.length) {
    specs.push(['fanout.svg', lines(`Fan-out: 1 publisher → N subscribers (${subtitle})`, fanout, 'subscribers', 'subscribers', [
      ['forwardedPps', 'forwarded packets/s'],
      ['sfuUsPerPacket', 'SFU CPU µs per forwarded packet'],
      ['lossPct', 'loss %'],
    ])]);
  }
  const calls = rowsOf(results, 'calls');
  if (calls.length) {
    specs.push(['calls.svg', lines(`Calls of 4 (${subtitle})`, calls, 'sessions', 'sessions', [
      ['sfuCpuPct', 'SFU CPU %'],
      ['lossPct', 'loss %'],
    ])]);
  }
  const latency = rowsOf(results, 'latency');
  if (latency.length) {
    specs.push(['latency.svg', bars(`Send → receive delay through the SFU (${subtitle})`, latency.map((r) => ({ ...r, group: 'per packet' })), 'group', [
      ['p50Ms', 'p50'],
      ['p95Ms', 'p95'],
      ['p99Ms', 'p99'],
    ])]);
  }
  const session = rowsOf(results, 'session');
  if (session.length) {
    specs.push(['session.svg', bars(`Session path (${subtitle})`, session, 'step', [
      ['p50Ms', 'p50'],
      ['p95Ms', 'p95'],
      ['p99Ms', 'p99'],
    ])]);
  }
  const memory = rowsOf(results, 'memory');
  if (memory.length) {
    specs.push(['memory.svg', lines(`SFU memory (${subtitle})`, memory, 'videoConsumers', 'video consumers', [['rssAnonMiB', 'RssAnon MiB, all processes']])]);
  }
  const written: string[] = [];
  for (const [file, spec] of specs) {
    const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
    const path = join(dir, file);
    writeFileSync(path, await view.toSVG());
    view.finalize();
    written.push(path);
  }
  return written;
}
