// All live sessions: creation (with the capacity check and worker placement),
// message dispatch, and removal when a session ends for any reason.
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { PublicationRegistry } from '../media/registry.ts';
import type { MediaWorker, WorkerPool } from '../media/worker-pool.ts';
import { Dispatcher } from './dispatcher.ts';
import { Session, type SessionCloseReason } from './session.ts';

export interface SessionObserver {
  opened(session: Session): void;
  closed(session: Session, reason: SessionCloseReason): void;
}

export class SessionManager {
  readonly #sessions = new Map<string, Session>();
  readonly #config: Config;
  readonly #log: Logger;
  readonly #pool: WorkerPool;
  readonly #registry: PublicationRegistry;
  readonly #dispatcher: Dispatcher;
  readonly #observers: SessionObserver[] = [];
  /** Creations in flight, in total and per worker. */
  readonly #pending = new Map<MediaWorker, number>();
  #pendingTotal = 0;
  #draining = false;

  constructor(config: Config, log: Logger, pool: WorkerPool, registry: PublicationRegistry) {
    this.#config = config;
    this.#log = log;
    this.#pool = pool;
    this.#registry = registry;
    this.#dispatcher = new Dispatcher(config, log);
  }

  get size(): number {
    return this.#sessions.size;
  }

  get draining(): boolean {
    return this.#draining;
  }

  observe(observer: SessionObserver): void {
    this.#observers.push(observer);
  }

  get(id: string): Session | undefined {
    return this.#sessions.get(id);
  }

  /** Sessions being created: counted against maxSessions until they exist or fail. */
  get pending(): number {
    return this.#pendingTotal;
  }

  /**
   * The worker for a new session: the one with the fewest sessions, counting
   * creations still in flight there (worker.sessions only moves once a
   * session exists, after several awaits).
   */
  #place(): MediaWorker {
    let best: MediaWorker | undefined;
    let bestLoad = Infinity;
    for (const w of this.#pool.workers) {
      if (w.worker.closed) continue;
      const load = w.sessions + (this.#pending.get(w) ?? 0);
      if (load < bestLoad) [best, bestLoad] = [w, load];
    }
    if (!best) throw new Error('no live mediasoup worker');
    return best;
  }

  /**
   * Answers a createSession offer. The capacity check and the worker choice
   * are reserved synchronously, before the first await, so a burst of
   * parallel requests can neither pass maxSessions nor pile onto one worker.
   */
  async create(offer: string): Promise<{ session: Session; answer: string }> {
    if (this.#draining) throw new AppError('over_capacity', 'this focus is shutting down');
    if (this.#sessions.size + this.#pendingTotal >= this.#config.maxSessions) {
      throw new AppError('over_capacity', `this focus already has ${this.#config.maxSessions} sessions`);
    }
    const worker = this.#place();
    this.#pendingTotal++;
    this.#pending.set(worker, (this.#pending.get(worker) ?? 0) + 1);
    let created: { session: Session; answer: string };
    try {
      created = await Session.create({ config: this.#config, log: this.#log, registry: this.#registry }, worker, offer);
    } finally {
      // Session.create counts the session on its worker (worker.sessions++) when it succeeds.
      this.#pendingTotal--;
      const left = (this.#pending.get(worker) ?? 1) - 1;
      if (left > 0) this.#pending.set(worker, left);
      else this.#pending.delete(worker);
    }
    const { session } = created;
    if (this.#draining) {
      // closeAll ran while this one was being made: it would outlive the shutdown.
      session.close('server_shutdown');
      throw new AppError('over_capacity', 'this focus is shutting down');
    }
    this.#sessions.set(session.id, session);
    session.on('message', (text, stream) => void this.#dispatcher.dispatch(session, text, stream));
    session.once('close', (reason) => {
      this.#sessions.delete(session.id);
      this.#dispatcher.forget(session);
      for (const o of this.#observers) o.closed(session, reason);
    });
    for (const o of this.#observers) o.opened(session);
    session.log.info({ worker: worker.pid }, 'session created');
    return created;
  }

  /** Refuses new sessions and closes the live ones. */
  closeAll(reason: SessionCloseReason = 'server_shutdown'): void {
    this.#draining = true;
    for (const session of [...this.#sessions.values()]) session.close(reason);
  }
}
