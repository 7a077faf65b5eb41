// A createSession flood in its own process (so the focus's memory is measured
// without the flood client's): POSTs a datachannel-only offer from a given
// local address, `concurrency` at a time, until `maxRequests` were sent or
// `maxMs` passed. Prints one JSON line: { sent, ms, byCode }.
// Usage: node flood-client.ts <url> <localAddress> <maxRequests> <maxMs> <concurrency> <offerFile>
import http from 'node:http';
import { readFileSync } from 'node:fs';

const [url, localAddress, maxRequestsArg, maxMsArg, concurrencyArg, offerFile] = process.argv.slice(2);
const maxRequests = Number(maxRequestsArg);
const maxMs = Number(maxMsArg);
const concurrency = Number(concurrencyArg);
const offer = readFileSync(offerFile!, 'utf8');
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency, localAddress });
const target = new URL('/createSession', url);
const byCode: Record<string, number> = {};
const started = Date.now();
let sent = 0;

function one(): Promise<string> {
  return new Promise((resolve) => {
    const req = http.request(
      target,
      { method: 'POST', agent, headers: { 'Content-Type': 'application/sdp', 'Content-Length': Buffer.byteLength(offer) }, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode === 200) return resolve('ok');
          try {
            resolve(`${res.statusCode} ${JSON.parse(Buffer.concat(chunks).toString()).error.code}`);
          } catch {
            resolve(`${res.statusCode} untyped`);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve(`network ${e.message}`));
    req.end(offer);
  });
}

async function lane(): Promise<void> {
  while (sent < maxRequests && Date.now() - started < maxMs) {
    sent++;
    const outcome = await one();
    byCode[outcome] = (byCode[outcome] ?? 0) + 1;
  }
}

await Promise.all(Array.from({ length: concurrency }, lane));
agent.destroy();
process.stdout.write(JSON.stringify({ sent, ms: Date.now() - started, byCode }) + '\n');
