// Prometheus metrics, on a registry of our own so tests can build many apps.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { PublicationRegistry } from './media/registry.ts';
import type { WorkerPool } from './media/worker-pool.ts';
import type { SessionManager } from './signaling/sessions.ts';

export interface Metrics {
  registry: Registry;
  sessionsCreated: Counter;
  sessionsClosed: Counter<'reason'>;
  createSessionErrors: Counter<'code'>;
}

export function createMetrics(sessions: SessionManager, publications: PublicationRegistry, pool: WorkerPool): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'foci_process_' });
  const metrics: Metrics = {
    registry,
    sessionsCreated: new Counter({ name: 'foci_sessions_created_total', help: 'Sessions created', registers: [registry] }),
    sessionsClosed: new Counter({ name: 'foci_sessions_closed_total', help: 'Sessions closed, by reason', labelNames: ['reason'], registers: [registry] }),
    createSessionErrors: new Counter({ name: 'foci_create_session_errors_total', help: 'Refused createSession requests, by code', labelNames: ['code'], registers: [registry] }),
  };
  new Gauge({ name: 'foci_sessions', help: 'Live sessions', registers: [registry], collect() { this.set(sessions.size); } });
  new Gauge({ name: 'foci_publications', help: 'Published streams', registers: [registry], collect() { this.set(publications.size); } });
  new Gauge({
    name: 'foci_worker_sessions',
    help: 'Sessions per mediasoup worker',
    labelNames: ['worker'],
    registers: [registry],
    collect() {
      for (const w of pool.workers) this.set({ worker: String(w.index) }, w.sessions);
    },
  });
  new Gauge({
    name: 'foci_fast_leave_deferred',
    help: 'Silent peers not closed at once because many peers of their worker were quiet together (overload); ICE consent decides',
    labelNames: ['worker'],
    registers: [registry],
    collect() {
      for (const w of pool.workers) this.set({ worker: String(w.index) }, w.fastLeaveDeferrals);
    },
  });
  sessions.observe({
    opened: () => metrics.sessionsCreated.inc(),
    closed: (_s, reason) => metrics.sessionsClosed.inc({ reason }),
  });
  return metrics;
}
