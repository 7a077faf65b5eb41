import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.ts';
import { Negotiator } from '../../src/signaling/negotiator.ts';

const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: AppError) => e.code);

describe('Negotiator', () => {
  it('runs tasks one at a time, in order', async () => {
    const n = new Negotiator(1000);
    const order: string[] = [];
    let release!: () => void;
    const first = n.run(() => new Promise<void>((r) => (release = () => { order.push('first'); r(); })));
    const second = n.run(async () => { order.push('second'); });
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual([]);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'second']);
  });

  it('resolves a server offer with the answer on the same event and id', async () => {
    const n = new Negotiator(1000);
    const sent: string[] = [];
    const answer = n.run(() => n.offer('subscribe', 's1', async () => { sent.push('offer'); }));
    await new Promise((r) => setTimeout(r, 0));
    expect(n.awaitingAnswer).toBe(true);
    expect(n.answer('negotiate', 's1', 'wrong event')).toBe(false);
    expect(n.answer('subscribe', 's2', 'wrong id')).toBe(false);
    expect(n.answer('subscribe', 's1', 'v=0')).toBe(true);
    expect(await answer).toBe('v=0');
    expect(sent).toEqual(['offer']);
    expect(n.awaitingAnswer).toBe(false);
  });

  it('refuses a client offer while a server offer is out (glare)', async () => {
    const n = new Negotiator(1000);
    const pending = n.run(() => n.offer('negotiate', 'n1', async () => undefined));
    await new Promise((r) => setTimeout(r, 0));
    expect(await code(n.runClientOffer(async () => 'answer'))).toBe('glare');
    n.answer('negotiate', 'n1', 'v=0');
    await pending;
    expect(await n.runClientOffer(async () => 'answer')).toBe('answer');
  });

  it('refuses a client offer queued behind a server offer that went out after it arrived', async () => {
    const n = new Negotiator(1000);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const serverOffer = n.run(async () => {
      await gate;
      return n.offer('negotiate', 'n2', async () => undefined);
    });
    const clientOffer = code(n.runClientOffer(async () => 'answer'));
    release();
    await new Promise((r) => setTimeout(r, 0));
    n.answer('negotiate', 'n2', 'v=0');
    await serverOffer;
    expect(await clientOffer).toBe('glare');
  });

  it('times out an unanswered offer, and then accepts new work', async () => {
    const n = new Negotiator(30);
    expect(await code(n.run(() => n.offer('subscribe', 's3', async () => undefined)))).toBe('negotiation_timeout');
    expect(n.awaitingAnswer).toBe(false);
    expect(await n.run(async () => 'next')).toBe('next');
  });

  it('rejects the pending offer and all later work once closed', async () => {
    const n = new Negotiator(1000);
    const pending = code(n.run(() => n.offer('subscribe', 's4', async () => undefined)));
    await new Promise((r) => setTimeout(r, 0));
    n.close();
    expect(await pending).toBe('session_closed');
    expect(await code(n.run(async () => 'late'))).toBe('session_closed');
  });

  it('survives the session closing while an offer is still being sent', async () => {
    const n = new Negotiator(1000);
    let finishSend!: () => void;
    const pending = code(n.run(() => n.offer('negotiate', 'n5', () => new Promise<void>((r) => (finishSend = r)))));
    await new Promise((r) => setTimeout(r, 0));
    n.close(); // rejects the answer before offer() has returned it to anyone
    await new Promise((r) => setTimeout(r, 10));
    finishSend();
    expect(await pending).toBe('session_closed');
  });
});
