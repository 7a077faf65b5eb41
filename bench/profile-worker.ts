// `npm run bench:profile`: where an SFU's CPU time goes while it fans one
// publisher out to N subscribers. Samples the SFU's processes with perf
// (software cpu-clock, so it works where the VM hides hardware counters) during
// one measurement window, and writes the time per process and library and the
// hottest functions beside the window's figures.
//
//   npm run bench:profile                                   Foci and bare mediasoup, 200 subscribers
//   npm run bench:profile -- --targets foci,janus --subscribers 400 --seconds 10
//   npm run bench:profile -- --side load        the load clients' process instead of the SFU's
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cleanup } from 'node-datachannel';
import { newKey, pool, pump } from './scenarios.ts';
import { ProbeWindow, counted, measureWindow, windowRow } from './window.ts';
import { makeTarget, splitCores } from './targets.ts';
import type { LoadClient, SfuTarget, Subscription } from './target.ts';

const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: 'foci,mediasoup' },
    subscribers: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '10' },
    out: { type: 'string', default: 'bench-results/profile' },
    side: { type: 'string', default: 'sfu' },
  },
});
const subscribers = Number(values.subscribers);
const seconds = Number(values.seconds);
if (values.side !== 'sfu' && values.side !== 'load') throw new Error('--side sfu or load');
if (!(subscribers >= 1 && subscribers <= 1000) || !(seconds >= 1 && seconds <= 120)) throw new Error('--subscribers 1..1000, --seconds 1..120');

const say = (message: string) => console.error(`[profile] ${message}`);
const deadline = setTimeout(() => {
  say('stopped after 15 minutes');
  process.exit(3);
}, 15 * 60_000);
deadline.unref();

const sfuCpus = splitCores(say);
mkdirSync(values.out!, { recursive: true });

/** perf report as text: `sort` keys, entries over `limit` percent. */
function report(data: string, sort: string, limit: number): string {
  return execFileSync('perf', ['report', '-i', data, '--stdio', '--no-children', '--sort', sort, '--percent-limit', String(limit), '-q'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    maxBuffer: 64 * 2 ** 20,
  })
    .split('\n')
    .filter((line) => line.trim() && !line.startsWith('#'))
    .join('\n');
}

async function profile(target: SfuTarget): Promise<string> {
  const clients: LoadClient[] = [];
  await target.start(sfuCpus ? { cpus: sfuCpus } : {});
  try {
    const publisher = await target.connect();
    clients.push(publisher);
    const key = newKey('profile-publisher');
    const probes = new ProbeWindow();
    const publication = counted(await publisher.publish(key, { audio: true, video: true }), probes);
    const media = pump([publication], 600);
    try {
      say(`${target.name}: ${subscribers} subscribers`);
      const subs: Subscription[] = await pool(Array.from({ length: subscribers }), 10, async () => {
        const c = await target.connect();
        clients.push(c);
        return c.subscribe(key, { onPacket: probes.countReceived });
      });
      await new Promise((r) => setTimeout(r, 3000));
      const name = `perf-${target.name}${values.side === 'load' ? '-load' : ''}`;
      const data = join(values.out!, `${name}.data`);
      const pids = values.side === 'load' ? [process.pid] : target.pids();
      const perf = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', '999', '-o', data, '-p', pids.join(','), '--', 'sleep', String(seconds)], { stdio: 'ignore' });
      const [window] = await Promise.all([measureWindow(target, seconds, probes, () => subs.length), once(perf, 'exit')]);
      const row = windowRow(window);
      const text = [
        `${target.name}: 1 publisher (audio + video) → ${subscribers} subscribers, ${seconds} s window, SFU on CPU ${sfuCpus ?? 'any'}; profiled: ${values.side === 'load' ? 'the load clients' : 'the SFU'}`,
        Object.entries(row).map(([k, v]) => `${k} ${v}`).join(', '),
        '',
        'CPU samples by process and library:',
        report(data, 'comm,dso', 0.5),
        '',
        'Hottest functions:',
        report(data, 'sym', 0.7),
        '',
      ].join('\n');
      writeFileSync(join(values.out!, `${name}.txt`), text);
      return text;
    } finally {
      await media.stop();
    }
  } finally {
    for (const c of clients) c.close();
    await target.stop();
  }
}

for (const name of values.targets!.split(',')) {
  const target = await makeTarget(name);
  if (typeof target === 'string') {
    say(`${name}: ${target}`);
    continue;
  }
  console.log(await profile(target));
}
say(`written to ${values.out}`);
cleanup();
process.exit(0);
