// `npm run bench`: runs the scenarios against Foci, Janus and a bare mediasoup
// worker on the same load in the same run, prints a table, and writes JSON and
// SVG plots.
//
//   npm run bench                               full profile, every scenario, every target
//   npm run bench -- --scenario fanout          one scenario (repeat or comma-separate)
//   npm run bench -- --profile smoke            seconds, for CI (no figures asserted)
//   npm run bench -- --targets foci             skip Janus and the bare mediasoup floor
//   npm run bench -- --out bench-results/mine   where results go (default bench-results/latest)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { cleanup } from 'node-datachannel';
import { machineFacts } from './measure.ts';
import { PROFILES, SCENARIOS, type Row, type ScenarioName } from './scenarios.ts';
import { TARGET_NAMES, makeTarget, splitCores } from './targets.ts';
import { renderPlots } from './plot.ts';
import { addedLatency } from './p2p.ts';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', multiple: true },
    profile: { type: 'string', default: 'full' },
    targets: { type: 'string', default: TARGET_NAMES.join(',') },
    out: { type: 'string', default: 'bench-results/latest' },
    'max-minutes': { type: 'string', default: '60' },
  },
});

const profile = PROFILES[values.profile as keyof typeof PROFILES];
if (!profile) throw new Error(`unknown profile ${values.profile} (smoke or full)`);
const scenarioNames = (values.scenario?.flatMap((s) => s.split(',')) ?? Object.keys(SCENARIOS)) as ScenarioName[];
for (const name of scenarioNames) if (!(name in SCENARIOS)) throw new Error(`unknown scenario ${name}: ${Object.keys(SCENARIOS).join(', ')}`);
const targetNames = values.targets!.split(',');

// Every run is bounded: past this the process ends, whatever is running.
const deadline = setTimeout(() => {
  console.error(`bench: stopped after ${values['max-minutes']} minutes`);
  process.exit(3);
}, Number(values['max-minutes']) * 60_000);
deadline.unref();

const started = performance.now();
const progress = (message: string) => console.error(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}`);

const sfuCpus = splitCores(progress);

export interface Results {
  profile: string;
  startedAt: string;
  machine: Record<string, string | number>;
  sfuCpus: string | undefined;
  notes: string[];
  scenarios: Record<string, Record<string, Row[] | { skipped: string }>>;
}

const results: Results = {
  profile: profile.name,
  startedAt: new Date().toISOString(),
  machine: machineFacts(),
  sfuCpus,
  notes: [
    'Load clients: node-datachannel (libdatachannel) in one Node process, DTLS-SRTP over loopback, raw Opus/VP8-shaped RTP.',
    'Clients send RTCP receiver reports and NACKs but no transport-cc feedback.',
    'mediasoup: the same worker build and router codecs driven directly over plain RTP (no ICE, DTLS-SRTP or signaling), fed by plain UDP sockets: the floor under Foci.',
    'mediasoup-webrtc: the same worker build, router codecs and transport settings with a WebRtcServer and one WebRtcTransport per client (ICE-lite, DTLS-SRTP), answers built by src/sdp, no data channel, signaling or session logic: the WebRTC floor. Foci ÷ it is our own overhead; it ÷ mediasoup is the WebRTC protocol cost.',
    'p2p: the same clients connected directly (publisher → each subscriber, no SFU), the latency baseline; addedP50Ms/addedP99Ms are an SFU\'s percentiles minus the baseline\'s from the same run.',
    'sfuDrops/loadDrops: datagrams the kernel dropped at full receive buffers of the SFU\'s sockets and of the load\'s, in the window.',
    'Latency is measured from a timestamp in each payload to its arrival in the client, so it includes the clients\' own send and receive paths.',
  ],
  scenarios: {},
};

for (const scenario of scenarioNames) {
  results.scenarios[scenario] = {};
  for (const name of targetNames) {
    const target = await makeTarget(name);
    if (typeof target === 'string') {
      progress(`${scenario} on ${name}: skipped (${target})`);
      results.scenarios[scenario][name] = { skipped: target };
      continue;
    }
    const unsupported = target.unsupported?.[scenario];
    if (unsupported) {
      progress(`${scenario} on ${name}: not run (${unsupported})`);
      results.scenarios[scenario][name] = { skipped: unsupported };
      continue;
    }
    progress(`${scenario} on ${name}: starting`);
    try {
      await target.start(sfuCpus ? { cpus: sfuCpus } : {});
      results.scenarios[scenario][name] = await SCENARIOS[scenario](target, profile, (m) => progress(`${name} ${m}`));
    } catch (error) {
      progress(`${scenario} on ${name} failed: ${(error as Error).stack ?? error}`);
      results.scenarios[scenario][name] = { skipped: `failed: ${(error as Error).message}` };
    } finally {
      await target.stop();
    }
  }
  // Every SFU's latency over the direct peer-to-peer baseline.
  if (scenario === 'latency') addedLatency(results.scenarios[scenario]);
  // Saved after every scenario, so a run cut short keeps what it measured.
  await save();
}

const plots = await save();
printTable(results);
console.log(`\nresults: ${join(values.out!, 'results.json')}${plots.length ? `\nplots:   ${plots.join(', ')}` : ''}`);
cleanup();
process.exit(0);

function printTable(r: Results): void {
  console.log(`\nFoci benchmark — profile ${r.profile}, ${r.machine.cores} cores (${r.machine.cpuModel}), SFU on CPU ${r.sfuCpus ?? 'any'}`);
  console.log(`node ${r.machine.node}, mediasoup ${r.machine.mediasoup}, ${r.machine.janus}`);
  for (const [scenario, byTarget] of Object.entries(r.scenarios)) {
    console.log(`\n== ${scenario}`);
    const rows = tableRows(byTarget);
    console.table(rows);
    const ratio = ratios(scenario, byTarget);
    if (ratio) console.log(ratio);
  }
}

/** Writes results.json, summary.md and the plots; returns the plots' paths. */
async function save(): Promise<string[]> {
  mkdirSync(values.out!, { recursive: true });
  writeFileSync(join(values.out!, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(values.out!, 'summary.md'), markdown(results));
  return renderPlots(results, values.out!);
}

/** One table of a scenario: every target's rows, tagged with it, or the reason it has none. */
function tableRows(byTarget: Record<string, Row[] | { skipped: string }>): Row[] {
  const rows: Row[] = [];
  for (const [target, data] of Object.entries(byTarget)) {
    if ('skipped' in data) rows.push({ sfu: target, note: data.skipped });
    else for (const row of data) rows.push({ sfu: target, ...row });
  }
  return rows;
}

/** The results as Markdown tables (docs/performance.md is built from this). */
function markdown(r: Results): string {
  const lines = [
    `Profile \`${r.profile}\`, ${r.startedAt}. Machine: ${r.machine.cores} cores (${r.machine.cpuModel}), ${r.machine.memoryGiB} GiB, kernel ${r.machine.kernel}; SFU pinned to CPU ${r.sfuCpus ?? 'any'}, load on the others.`,
    `Versions: Node ${r.machine.node}, mediasoup ${r.machine.mediasoup}, node-datachannel ${r.machine.nodeDatachannel}, ${r.machine.janus}.`,
    '',
    ...r.notes.map((n) => `- ${n}`),
  ];
  for (const [scenario, byTarget] of Object.entries(r.scenarios)) {
    lines.push('', `### ${scenario}`, '');
    const rows = tableRows(byTarget);
    const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
    lines.push(`| ${columns.join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`);
    for (const row of rows) lines.push(`| ${columns.map((c) => String(row[c] ?? '')).join(' | ')} |`);
    const ratio = ratios(scenario, byTarget);
    if (ratio) lines.push('', ratio);
  }
  return lines.join('\n') + '\n';
}

/** The headline comparisons of a scenario: Foci against each peer that produced figures. */
function ratios(scenario: string, byTarget: Record<string, Row[] | { skipped: string }>): string | undefined {
  const foci = byTarget.foci;
  if (!Array.isArray(foci) || !foci.length) return undefined;
  // The last measured step still under the loss limit (a failed step has no lossPct).
  const last = (rows: Row[], field: string) => Number(rows.filter((r) => r.lossPct !== undefined && Number(r.lossPct) <= 1).at(-1)?.[field] ?? NaN);
  const lines: string[] = [];
  for (const peer of ['janus', 'mediasoup', 'mediasoup-webrtc']) {
    const other = byTarget[peer];
    if (!Array.isArray(other) || !other.length) continue;
    switch (scenario) {
      case 'fanout':
        lines.push(`foci/${peer}: µs per forwarded packet ${(last(foci, 'sfuUsPerPacket') / last(other, 'sfuUsPerPacket')).toFixed(2)}, max subscribers at <1% loss ${last(foci, 'subscribers')} vs ${last(other, 'subscribers')}`);
        break;
      case 'calls':
        lines.push(`foci/${peer}: max calls of 4 at <1% loss ${last(foci, 'calls')} vs ${last(other, 'calls')}, µs per forwarded packet there ${(last(foci, 'sfuUsPerPacket') / last(other, 'sfuUsPerPacket')).toFixed(2)}`);
        break;
      case 'latency':
        lines.push(`foci/${peer}: p50 latency ${(Number(foci[0]!.p50Ms) / Number(other[0]!.p50Ms)).toFixed(2)}`);
        break;
      case 'memory':
        lines.push(`foci/${peer}: MiB per video consumer ${(Number(foci[0]!.miBPerConsumer) / Number(other[0]!.miBPerConsumer)).toFixed(2)}`);
        break;
    }
  }
  return lines.length ? lines.join('\n') : undefined;
}
