// `npm run bench`: runs the scenarios against Foci, Janus and a bare mediasoup
// worker on the same load in the same run, prints a table, and writes JSON and
// SVG plots.
//
//   npm run bench                               full profile, every scenario, every target
//   npm run bench -- --scenario fanout          one scenario (repeat or comma-separate)
//   npm run bench -- --profile smoke            seconds, for CI (no figures asserted)
//   npm run bench -- --targets foci             skip Janus and the bare mediasoup floor
//   npm run bench -- --out bench-results/mine   where results go (default bench-results/latest)
//   npm run bench -- --repeat 5                 runs per scenario (full profile: 3, smoke: 1)
//
// Each scenario runs --repeat times, the targets' order rotated each time so
// none always runs first (or last, on a warmer machine); the tables give
// medians with their range, and ratios only at steps both SFUs passed with an
// unsaturated load in the same run (bench/report.ts).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { cleanup } from 'node-datachannel';
import { clockTicks, machineFacts } from './measure.ts';
import { PROFILES, SCENARIOS, STEP_KEY, type ScenarioName } from './scenarios.ts';
import { TARGET_NAMES, makeTarget, splitCores } from './targets.ts';
import { renderPlots } from './plot.ts';
import { LOAD_BOUND_NOTE, markdown, mergeRuns, ratios, tableRows, type Results } from './report.ts';
import type { Row } from './stats.ts';

export type { Results };
import { addedLatency } from './p2p.ts';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', multiple: true },
    profile: { type: 'string', default: 'full' },
    targets: { type: 'string', default: TARGET_NAMES.join(',') },
    out: { type: 'string', default: 'bench-results/latest' },
    'max-minutes': { type: 'string' },
    repeat: { type: 'string' },
  },
});

const profile = PROFILES[values.profile as keyof typeof PROFILES];
if (!profile) throw new Error(`unknown profile ${values.profile} (smoke or full)`);
const scenarioNames = (values.scenario?.flatMap((s) => s.split(',')) ?? Object.keys(SCENARIOS)) as ScenarioName[];
for (const name of scenarioNames) if (!(name in SCENARIOS)) throw new Error(`unknown scenario ${name}: ${Object.keys(SCENARIOS).join(', ')}`);
const targetNames = values.targets!.split(',');
const repeat = values.repeat ? Number(values.repeat) : profile.repeat;
if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`--repeat must be a positive integer, not ${values.repeat}`);

// Every run is bounded: past this the process ends, whatever is running
// (default 45 minutes per repetition).
const maxMinutes = Number(values['max-minutes'] ?? 45 * repeat);
const deadline = setTimeout(() => {
  console.error(`bench: stopped after ${maxMinutes} minutes`);
  process.exit(3);
}, maxMinutes * 60_000);
deadline.unref();

const started = performance.now();
const progress = (message: string) => console.error(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}`);

const sfuCpus = splitCores(progress);

const results: Results = {
  profile: profile.name,
  repeat,
  startedAt: new Date().toISOString(),
  commit: gitCommit(),
  command: `node bench/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
  machine: { ...machineFacts(), clockTicks, ...socketDefaults() },
  sfuCpus,
  settings: {},
  notes: [
    'Load clients: node-datachannel (libdatachannel) in one Node process, DTLS-SRTP over loopback, raw Opus/VP8-shaped RTP.',
    'Clients send RTCP sender and receiver reports; libdatachannel sends no NACKs and no transport-cc feedback. transport-cc is stripped from what every target negotiates (bench/transport-cc.ts), so no SFU keeps a send history for it.',
    'mediasoup: the same worker build and router codecs driven directly over plain RTP (no ICE, DTLS-SRTP or signaling), fed by plain UDP sockets: the plain floor under Foci.',
    'Loss: sent and received count the same packets, by the send time each carries, over the window; read after a drain (bench/window.ts). Signed: a negative loss is a counting bug. Raw sent, received, expected and seconds are in every row.',
    'CPU: per-thread scheduler time (/proc/PID/task/*/schedstat) of every process of the SFU and of the load, split into user and system by their utime/stime ticks.',
    'mediasoup-webrtc: the same worker build, router codecs and transport settings with a WebRtcServer and one WebRtcTransport per client (ICE-lite, DTLS-SRTP), answers built by src/sdp, no data channel, signaling or session logic: the WebRTC floor. Foci ÷ it is our own overhead; it ÷ mediasoup is the WebRTC protocol cost.',
    'p2p: the same clients connected directly (publisher → each subscriber, no SFU), the latency baseline; addedP50Ms/addedP99Ms are an SFU\'s percentiles minus the baseline\'s from the same repetition.',
    'sfuDrops/loadDrops: datagrams the kernel dropped at full receive buffers of the SFU\'s sockets and of the load\'s, in the window.',
    'Latency is measured from a timestamp in each payload to its arrival in the client, so it includes the clients\' own send and receive paths; percentiles by nearest rank; misses are packets sent in the window that never arrived.',
    'Memory: RssAnon of all of the SFU\'s processes; MiB per consumer is the least-squares slope over all steps.',
  ],
  scenarios: {},
};

/** Each target's runs of the scenario being measured. */
for (const scenario of scenarioNames) {
  const runs: Record<string, (Row[] | { skipped: string })[]> = Object.fromEntries(targetNames.map((n) => [n, []]));
  const merged = () => Object.fromEntries(targetNames.map((n) => [n, mergeRuns(runs[n]!, STEP_KEY[scenario])]));
  for (let rep = 0; rep < repeat; rep++) {
    // Rotated each repetition: A B C, B C A, C A B.
    const order = targetNames.map((_, i) => targetNames[(i + rep) % targetNames.length]!);
    for (const name of order) {
      runs[name]!.push(await runOne(scenario, name, rep));
      results.scenarios[scenario] = merged();
    }
    // Every SFU's latency over the direct peer-to-peer baseline of the same repetition.
    if (scenario === 'latency') {
      addedLatency(Object.fromEntries(targetNames.map((n) => [n, runs[n]![rep]!])));
      results.scenarios[scenario] = merged();
    }
    // Saved after every repetition, so a run cut short keeps what it measured.
    await save();
  }
}

const plots = await save();
printTable(results);
console.log(`\nresults: ${join(values.out!, 'results.json')}${plots.length ? `\nplots:   ${plots.join(', ')}` : ''}`);
cleanup();
process.exit(0);

async function runOne(scenario: ScenarioName, name: string, rep: number): Promise<Row[] | { skipped: string }> {
  const label = `${scenario} on ${name}${repeat > 1 ? ` (run ${rep + 1}/${repeat})` : ''}`;
  const target = await makeTarget(name);
  if (typeof target === 'string') {
    progress(`${label}: skipped (${target})`);
    return { skipped: target };
  }
  if (target.settings) results.settings[name] = target.settings;
  const unsupported = target.unsupported?.[scenario];
  if (unsupported) {
    progress(`${label}: not run (${unsupported})`);
    return { skipped: unsupported };
  }
  progress(`${label}: starting`);
  try {
    await target.start(sfuCpus ? { cpus: sfuCpus } : {});
    return await SCENARIOS[scenario](target, profile, (m) => progress(`${name} ${m}`));
  } catch (error) {
    progress(`${label} failed: ${(error as Error).stack ?? error}`);
    return { skipped: `failed: ${(error as Error).message}` };
  } finally {
    await target.stop();
  }
}

function printTable(r: Results): void {
  console.log(`\nFoci benchmark — profile ${r.profile}, ${r.repeat} run(s) per scenario, ${r.machine.cores} cores (${r.machine.cpuModel}), SFU on CPU ${r.sfuCpus ?? 'any'}, commit ${r.commit}`);
  console.log(`node ${r.machine.node}, mediasoup ${r.machine.mediasoup}, ${r.machine.janus}`);
  console.log('Medians over the runs, [min–max] where they differed.');
  console.log(LOAD_BOUND_NOTE);
  for (const [scenario, byTarget] of Object.entries(r.scenarios)) {
    console.log(`\n== ${scenario}`);
    // Raw counts stay in results.json; the printed table keeps to the figures.
    console.table(tableRows(byTarget).map(({ sent: _s, received: _r, expected: _e, ...row }) => row));
    for (const line of ratios(scenario, byTarget, STEP_KEY[scenario as ScenarioName])) console.log(line);
  }
}

/** Writes results.json, summary.md and the plots; returns the plots' paths. */
async function save(): Promise<string[]> {
  mkdirSync(values.out!, { recursive: true });
  writeFileSync(join(values.out!, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(values.out!, 'summary.md'), markdown(results, STEP_KEY));
  return renderPlots(results, values.out!);
}

function gitCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head} (modified)` : head;
  } catch {
    return 'unknown';
  }
}

/** The kernel's UDP receive buffer default and cap: what an SFU that sets none gets. */
function socketDefaults(): Record<string, number> {
  const read = (name: string) => Number(readFileSync(`/proc/sys/net/core/${name}`, 'utf8').trim());
  try {
    return { rmemDefault: read('rmem_default'), rmemMax: read('rmem_max') };
  } catch {
    return {};
  }
}
