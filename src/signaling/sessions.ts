// All live sessions: creation (with the capacity check and worker placement),
// message dispatch, and removal when a session ends for any reason.
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { PublicationRegistry } from '../media/registry.ts';
import type { WorkerPool } from '../media/worker-pool.ts';
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
  /** Creations in flight: counted against maxSessions. */
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

  /** The live sessions (tests and operators' tooling). */
  all(): Session[] {
    return [...this.#sessions.values()];
  }

  /** Sessions being created: counted against maxSessions until they exist or fail. */
  get pending(): number {
    return this.#pendingTotal;
  }

  /**
   * Answers a createSession offer. The capacity check and the worker choice
   * are taken synchronously, before the first await, so a burst of parallel
   * requests can neither pass maxSessions nor pile onto one worker.
   */
  async create(offer: string): Promise<{ session: Session; answer: string }> {
    if (this.#draining) throw new AppError('over_capacity', 'this focus is shutting down');
    if (this.#sessions.size + this.#pendingTotal >= this.#config.maxSessions) {
      throw new AppError('over_capacity', `this focus already has ${this.#config.maxSessions} sessions`);
    }
    // Counted on its worker now (released when creation fails or the session closes).
    const worker = this.#pool.leastLoaded();
    worker.sessions++;
    this.#pendingTotal++;
    let created: { session: Session; answer: string };
    try {
      created = await Session.create({ config: this.#config, log: this.#log, registry: this.#registry }, worker, offer);
    } catch (error) {
      worker.sessions--;
      throw error;
    } finally {
      this.#pendingTotal--;
    }
    const { session } = created;
    if (this.#draining) {
      // closeAll ran while this one was being made: it would outlive the shutdown.
      worker.sessions--;
      session.close('server_shutdown');
      throw new AppError('over_capacity', 'this focus is shutting down');
    }
    this.#sessions.set(session.id, session);
    session.on('message', (text, stream) => void this.#dispatcher.dispatch(session, text, stream));
    session.once('close', (reason) => {
      worker.sessions--;
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
