// Encodes the small VP8 clip the light members of test/e2e/call-25.test.ts
// send (fixtures/media/clip-160x90.ivf): 10 frames of 160x90 at 5 fps, one
// key frame first and inter frames after it, so a sender can loop it and
// restart it on a key-frame request.
//
//   apt-get install --no-install-recommends vpx-tools   # Debian's libvpx encoder
//   node_modules/.bin/node scripts/make-vp8-clip.ts
//
// The picture (a moving square over a moving gradient) is generated here as
// raw YUV 4:2:0 (Y4M) and piped to vpxenc, so nothing is downloaded.
import { spawnSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const WIDTH = 160;
const HEIGHT = 90;
const FPS = 5;
const FRAMES = 10;
const OUT = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'media', 'clip-160x90.ivf');

function y4m(): Buffer {
  const parts: Buffer[] = [Buffer.from(`YUV4MPEG2 W${WIDTH} H${HEIGHT} F${FPS}:1 Ip A1:1 C420jpeg\n`)];
  const cw = WIDTH / 2;
  const ch = HEIGHT / 2;
  for (let f = 0; f < FRAMES; f++) {
    const y = Buffer.alloc(WIDTH * HEIGHT);
    const u = Buffer.alloc(cw * ch);
    const v = Buffer.alloc(cw * ch);
    const sx = Math.round((f / FRAMES) * (WIDTH - 40));
    for (let row = 0; row < HEIGHT; row++) {
      for (let col = 0; col < WIDTH; col++) {
        const inSquare = col >= sx && col < sx + 40 && row >= 25 && row < 65;
        y[row * WIDTH + col] = inSquare ? 235 : 40 + ((col + row + f * 8) % 120);
      }
    }
    for (let row = 0; row < ch; row++) {
      for (let col = 0; col < cw; col++) {
        u[row * cw + col] = 90 + ((col * 2 + f * 6) % 60);
        v[row * cw + col] = 160 - ((row * 2) % 50);
      }
    }
    parts.push(Buffer.from('FRAME\n'), y, u, v);
  }
  return Buffer.concat(parts);
}

mkdirSync(dirname(OUT), { recursive: true });
const args = [
  '--codec=vp8', '--ivf', '--good', '--cpu-used=4', '--passes=1', '--lag-in-frames=0',
  '--end-usage=cbr', '--target-bitrate=60', `--fps=${FPS}/1`,
  // One key frame, at the start: the sender restarts the clip to make another.
  '--kf-min-dist=0', `--kf-max-dist=${FRAMES * 10}`,
  '--quiet', '-o', OUT, '-',
];
const run = spawnSync('vpxenc', args, { input: y4m(), stdio: ['pipe', 'inherit', 'inherit'] });
if (run.error || run.status !== 0) {
  console.error(`vpxenc failed: ${run.error?.message ?? `exit ${run.status}`} (apt-get install vpx-tools)`);
  process.exit(1);
}
console.log(`wrote ${OUT} (${statSync(OUT).size} bytes)`);
