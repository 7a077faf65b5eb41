import { describe, expect, it, vi } from 'vitest';
import { AppError } from '../../src/errors.ts';
import { Negotiator, OfferRejected, Withdrawn, type ServerOffer } from '../../src/signaling/negotiator.ts';

const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: AppError) => e.code ?? e.name);
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const negotiator = (timeoutMs = 1000, onLost = vi.fn()) => new Negotiator({ timeoutMs, onLost });
/** A server offer that a client offer shows it applied only when `applied` says so. */
const serverOffer = (event: string, id: string, applied = false): ServerOffer => ({ event, id, appliedBy: () => applied });

describe('Negotiator', () => {
  it('runs tasks one at a time, in order', async () => {
    const n = negotiator();
    const order: string[] = [];
    let release!: () => void;
    const first = n.run(() => new Promise<void>((r) => (release = () => { order.push('first'); r(); })));
    const second = n.run(async () => { order.push('second'); });
    await tick(10);
    expect(order).toEqual([]);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'second']);
  });

  it('resolves a server offer with the answer on the same event and id', async () => {
    const n = negotiator();
    const sent: string[] = [];
    const answer = n.run(() => n.offer(serverOffer('subscribe', 's1'), async () => { sent.push('offer'); }));
    await tick();
    expect(n.awaitingAnswer).toBe(true);
    expect(n.answer('negotiate', 's1', 'wrong event')).toBe(false);
    expect(n.answer('subscribe', 's2', 'wrong id')).toBe(false);
    expect(n.answer('subscribe', 's1', 'v=0')).toBe(true);
    expect(await answer).toBe('v=0');
    expect(sent).toEqual(['offer']);
    expect(n.awaitingAnswer).toBe(false);
  });

  it('withdraws a server offer crossed by a client offer that did not apply it, then runs the task again after the client offer', async () => {
    const n = negotiator();
    const order: string[] = [];
    let attempts = 0;
    const task = n.run(async () => {
      attempts++;
      order.push(`server offer ${attempts}`);
      return n.offer(serverOffer('negotiate', `n${attempts}`), async () => undefined);
    });
    await tick();
    const client = n.runClientOffer({ media: [] }, async () => { order.push('client offer'); return 'answer'; });
    expect(await client).toBe('answer');
    await tick();
    expect(n.answer('negotiate', 'n1', 'late answer to the withdrawn offer')).toBe(false);
    expect(n.answer('negotiate', 'n2', 'v=0')).toBe(true);
    expect(await task).toBe('v=0');
    expect(order).toEqual(['server offer 1', 'client offer', 'server offer 2']);
  });

  it('lets a client offer that shows the server offer applied wait for that answer (no withdrawal)', async () => {
    const n = negotiator();
    const task = n.run(() => n.offer(serverOffer('negotiate', 'n1', true), async () => undefined));
    await tick();
    let ran = false;
    const client = n.runClientOffer({}, async () => { ran = true; return 'answer'; });
    await tick(10);
    expect(ran).toBe(false);
    expect(n.answer('negotiate', 'n1', 'v=0')).toBe(true);
    expect(await task).toBe('v=0');
    expect(await client).toBe('answer');
  });

  it('never sends a server offer while a client offer waits: the task yields and runs after it', async () => {
    const n = negotiator();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sent: string[] = [];
    let attempts = 0;
    const task = n.run(async () => {
      attempts++;
      if (attempts === 1) await gate;
      return n.offer(serverOffer('negotiate', `n${attempts}`), async () => { sent.push(`n${attempts}`); });
    });
    const client = n.runClientOffer({}, async () => 'answer');
    release();
    expect(await client).toBe('answer');
    await tick();
    expect(sent).toEqual(['n2']);
    n.answer('negotiate', 'n2', 'v=0');
    expect(await task).toBe('v=0');
  });

  it('a task that catches Withdrawn itself is not run again', async () => {
    const n = negotiator();
    let attempts = 0;
    const task = n.run(async () => {
      attempts++;
      try {
        await n.offer(serverOffer('negotiate', 'prime'), async () => undefined, null);
        return 'answered';
      } catch (error) {
        if (error instanceof Withdrawn) return 'withdrawn';
        throw error;
      }
    });
    await tick();
    await n.runClientOffer({}, async () => 'answer');
    expect(await task).toBe('withdrawn');
    expect(attempts).toBe(1);
  });

  it('passes a client rejection to the task as OfferRejected', async () => {
    const n = negotiator();
    const task = n.run(() => n.offer(serverOffer('subscribe', 's9'), async () => undefined));
    await tick();
    expect(n.reject('subscribe', 'other', 'x')).toBe(false);
    expect(n.reject('subscribe', 's9', 'codec collision')).toBe(true);
    await expect(task).rejects.toBeInstanceOf(OfferRejected);
    expect(await code(n.run(async () => 'next'))).toBe('ok');
  });

  it('times out an unanswered offer and reports the session lost', async () => {
    const onLost = vi.fn();
    const n = negotiator(30, onLost);
    expect(await code(n.run(() => n.offer(serverOffer('subscribe', 's3'), async () => undefined)))).toBe('negotiation_timeout');
    expect(onLost).toHaveBeenCalledOnce();
    expect(n.awaitingAnswer).toBe(false);
  });

  it('waits without a time limit when told to (priming)', async () => {
    const onLost = vi.fn();
    const n = negotiator(20, onLost);
    const task = n.run(() => n.offer(serverOffer('negotiate', 'p'), async () => undefined, null));
    await tick(60);
    expect(onLost).not.toHaveBeenCalled();
    n.answer('negotiate', 'p', 'v=0');
    expect(await task).toBe('v=0');
  });

  it('rejects the pending offer and all later work once closed', async () => {
    const n = negotiator();
    const pending = code(n.run(() => n.offer(serverOffer('subscribe', 's4'), async () => undefined)));
    await tick();
    n.close();
    expect(await pending).toBe('session_closed');
    expect(await code(n.run(async () => 'late'))).toBe('session_closed');
  });

  it('survives the session closing while an offer is still being sent', async () => {
    const n = negotiator();
    let finishSend!: () => void;
    const pending = code(n.run(() => n.offer(serverOffer('negotiate', 'n5'), () => new Promise<void>((r) => (finishSend = r)))));
    await tick();
    n.close(); // rejects the answer before offer() has returned it to anyone
    await tick(10);
    finishSend();
    expect(await pending).toBe('session_closed');
  });
});
