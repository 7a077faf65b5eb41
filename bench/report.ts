// What a run reports: repeated runs merged into medians with their spread,
// the table printed and written as Markdown, and the like-for-like ratios.
import { LOAD_BOUND_CORE_SHARE, LOSS_LIMIT_PCT, aggregate, formatSpread, ratiosAtCommonSteps, slopes, spread, usable, type Row } from './stats.ts';

/** One target in one scenario: every repetition as measured, and their merge. */
export interface TargetResult {
  runs: (Row[] | { skipped: string })[];
  /** One row per step: medians, with `<field>Min`/`<field>Max` where the runs differed. */
  summary: Row[];
  /** Set when no run produced rows. */
  skipped?: string;
}

export interface Results {
  profile: string;
  repeat: number;
  startedAt: string;
  commit: string;
  command: string;
  machine: Record<string, string | number>;
  sfuCpus: string | undefined;
  /** What each target ran with (log level, socket buffers, transport-cc). */
  settings: Record<string, string>;
  notes: string[];
  scenarios: Record<string, Record<string, TargetResult>>;
}

export function mergeRuns(runs: (Row[] | { skipped: string })[], stepKey: string): TargetResult {
  const measured = runs.filter((r): r is Row[] => Array.isArray(r));
  const result: TargetResult = { runs, summary: aggregate(measured, stepKey) };
  if (!measured.length) result.skipped = (runs[0] as { skipped: string } | undefined)?.skipped ?? 'not run';
  return result;
}

/** A summary row for a table: each figure with its spread, `median [min–max]`. */
function displayRow(row: Row): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(row)) {
    if (/(Min|Max)$/.test(k) && k.slice(0, -3) in row) continue;
    const min = row[`${k}Min`];
    const max = row[`${k}Max`];
    out[k] = typeof v === 'number' && typeof min === 'number' && typeof max === 'number' ? `${round(v)} [${round(min)}–${round(max)}]` : typeof v === 'number' ? round(v) : v;
  }
  return out;
}

const round = (v: number) => (Number.isInteger(v) ? v : +v.toPrecision(4));

/** Every target's summary rows, tagged with it, or the reason it has none. */
export function tableRows(byTarget: Record<string, TargetResult>): Row[] {
  const rows: Row[] = [];
  for (const [target, data] of Object.entries(byTarget)) {
    if (data.skipped) rows.push({ sfu: target, note: data.skipped });
    else for (const row of data.summary) rows.push({ sfu: target, ...displayRow(row) });
  }
  return rows;
}

export const LOAD_BOUND_NOTE = `loadBound: the load generator used more than ${LOAD_BOUND_CORE_SHARE * 100} % of a core (its JavaScript thread, or the whole process over its cores) or its sockets dropped packets in at least one run; such rows are excluded from ratios and capacity claims.`;

const runsOf = (r: TargetResult | undefined): Row[][] => (r?.runs ?? []).map((x) => (Array.isArray(x) ? x : []));

/**
 * Like-for-like comparisons of `base` (Foci) against each peer: ratios only at
 * steps both measured under the loss limit with an unsaturated load in the
 * same repetition, medians over repetitions with their range; for the stepped
 * scenarios also the ratio of the slopes of SFU CPU against forwarded
 * packets/s (the marginal cost of a packet) over those steps.
 */
export function ratios(scenario: string, byTarget: Record<string, TargetResult>, stepKey: string, base = 'foci'): string[] {
  const mine = byTarget[base];
  if (!mine || mine.skipped) return [];
  const lines: string[] = [];
  const measuredOk = (r: Row | undefined): r is Row => !!r && r.note === undefined;
  const perStep = (peer: string, field: string, ok: (r: Row | undefined) => r is Row) =>
    [...ratiosAtCommonSteps(runsOf(mine), runsOf(byTarget[peer]), stepKey, field, ok)].map(([step, xs]) => `${step}: ${formatSpread(spread(xs))}${xs.length > 1 ? ` (${xs.length} runs)` : ''}`);
  for (const peer of Object.keys(byTarget)) {
    if (peer === base || byTarget[peer]!.skipped) continue;
    const tag = `${base}/${peer}`;
    switch (scenario) {
      case 'fanout':
      case 'calls': {
        const at = perStep(peer, 'sfuUsPerPacket', usable);
        lines.push(`${tag} µs per forwarded packet at the same ${stepKey}: ${at.length ? at.join('; ') : `no ${stepKey} step both passed unsaturated`}`);
        const a = slopes(runsOf(mine), 'forwardedPps', 'sfuCpuPct');
        const b = slopes(runsOf(byTarget[peer]), 'forwardedPps', 'sfuCpuPct');
        const slopeRatios = a.map((x, i) => x / b[i]!).filter((x) => Number.isFinite(x));
        if (slopeRatios.length) lines.push(`${tag} slope of SFU CPU against forwarded packets/s (unsaturated steps): ${formatSpread(spread(slopeRatios))}`);
        break;
      }
      case 'latency':
        lines.push(`${tag} p50 delay: ${perStep(peer, 'p50Ms', measuredOk).join('; ') || 'n/a'}`);
        break;
      case 'session':
        lines.push(`${tag} p50 time: ${perStep(peer, 'p50Ms', measuredOk).join('; ') || 'n/a'}`);
        break;
      case 'memory': {
        const xs = runsOf(mine).map((rows, i) => Number(rows[0]?.miBPerConsumer) / Number(runsOf(byTarget[peer])[i]?.[0]?.miBPerConsumer)).filter((x) => Number.isFinite(x));
        lines.push(`${tag} MiB per video consumer (fit over all steps, all processes): ${xs.length ? formatSpread(spread(xs)) : 'n/a'}`);
        break;
      }
    }
  }
  if (scenario === 'fanout' || scenario === 'calls') {
    for (const [name, data] of Object.entries(byTarget)) {
      if (data.skipped) continue;
      const runs = runsOf(data);
      // The largest step that passed unsaturated in every run; load-bound steps make no claim either way.
      const steps = data.summary.map((r) => r[stepKey]).filter((step) => runs.every((rows) => usable(rows.find((r) => r[stepKey] === step))));
      const bound = data.summary.filter((r) => r.loadBound === true).map((r) => r[stepKey]);
      lines.push(`${name}: largest ${stepKey} under ${LOSS_LIMIT_PCT} % loss with an unsaturated load in every run: ${steps.at(-1) ?? 'none'}${bound.length ? ` (load-bound, no claim: ${bound.join(', ')})` : ''}`);
    }
  }
  return lines;
}

/** The results as Markdown (docs/performance.md is built from this). */
export function markdown(r: Results, stepKeys: Record<string, string>): string {
  const lines = [
    `Profile \`${r.profile}\`, ${r.repeat} run(s) per scenario (targets' order rotated), ${r.startedAt}, commit ${r.commit}: \`${r.command}\`.`,
    `Machine: ${r.machine.cores} cores (${r.machine.cpuModel}), ${r.machine.memoryGiB} GiB, kernel ${r.machine.kernel}; SFU pinned to CPU ${r.sfuCpus ?? 'any'}, load on the others.`,
    `Versions: Node ${r.machine.node}, mediasoup ${r.machine.mediasoup}, node-datachannel ${r.machine.nodeDatachannel}, ${r.machine.janus}.`,
    '',
    ...r.notes.map((n) => `- ${n}`),
    ...Object.entries(r.settings).map(([t, s]) => `- ${t}: ${s}`),
    `- ${LOAD_BOUND_NOTE}`,
    '- Figures are medians over the runs, [min–max] where they differed.',
  ];
  for (const [scenario, byTarget] of Object.entries(r.scenarios)) {
    lines.push('', `### ${scenario}`, '');
    const rows = tableRows(byTarget);
    const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
    lines.push(`| ${columns.join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`);
    for (const row of rows) lines.push(`| ${columns.map((c) => String(row[c] ?? '')).join(' | ')} |`);
    const ratio = ratios(scenario, byTarget, stepKeys[scenario] ?? 'step');
    if (ratio.length) lines.push('', ...ratio.map((l) => `- ${l}`));
  }
  return lines.join('\n') + '\n';
}
