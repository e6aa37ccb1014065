/** Prometheus metrics of one instance, on a registry of its own (never prom-client's global one). */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { AuthEvent } from '../auth/service.js';
import { createWorkerMetricsText } from './cluster-metrics.js';

export interface MetricsOptions {
  /** A worker of `latchkey serve --workers N`: /metrics answers the sum over every worker. */
  acrossWorkers?: boolean;
}

export class Metrics {
  readonly registry = new Registry();
  readonly logins = new Counter({
    name: 'latchkey_logins_total',
    help: 'Login attempts by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly refreshes = new Counter({
    name: 'latchkey_refreshes_total',
    help: 'Refresh-token uses by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly reuseDetected = new Counter({
    name: 'latchkey_refresh_reuse_detected_total',
    help: 'Rotated refresh tokens used again after the grace window (family revoked)',
    registers: [this.registry],
  });
  readonly throttled = new Counter({
    name: 'latchkey_throttled_total',
    help: 'Requests refused by throttling',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });
  readonly registrations = new Counter({
    name: 'latchkey_registrations_total',
    help: 'Accounts created',
    registers: [this.registry],
  });
  readonly sessionsRevoked = new Counter({
    name: 'latchkey_sessions_revoked_total',
    help: 'Sessions revoked by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly backgroundFailures = new Counter({
    name: 'latchkey_background_failures_total',
    help: 'Failures of background work (revocation and key sync, key maintenance, housekeeping)',
    labelNames: ['task'] as const,
    registers: [this.registry],
  });
  readonly redisFailures = new Counter({
    name: 'latchkey_redis_failures_total',
    help: 'Redis commands that failed or timed out (the store answered instead)',
    registers: [this.registry],
  });
  /** Whether Redis answers now; set by `watchRedis`. */
  #redisAvailable: () => boolean = () => false;
  /**
   * Registered by `watchRedis` only: without REDIS_URL there is no such series, rather than a 0 that
   * an alert on "Redis is down" would fire on for every single-instance deployment.
   */
  readonly redisAvailable = new Gauge({
    name: 'latchkey_redis_available',
    help: '1 while Redis (REDIS_URL) answers; 0 while it is away',
    registers: [],
    // Across the workers of `serve --workers N`: 1 only while every worker reaches Redis (a sum says N).
    aggregator: 'min',
    collect: () => {
      this.redisAvailable.set(this.#redisAvailable() ? 1 : 0);
    },
  });
  readonly requestDuration = new Histogram({
    name: 'latchkey_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  /** Histogram children by method, route and status: prom-client hashes the labels on every call. */
  readonly #requestSeries = new Map<string, { observe(seconds: number): void }>();

  readonly #text: () => Promise<string>;

  constructor(options: MetricsOptions = {}) {
    collectDefaultMetrics({ register: this.registry, prefix: 'latchkey_' });
    this.#text = options.acrossWorkers
      ? createWorkerMetricsText(this.registry)
      : () => this.registry.metrics();
  }

  /** What /metrics answers, in the Prometheus text format (`registry.contentType`). */
  text(): Promise<string> {
    return this.#text();
  }

  watchRedis(available: () => boolean): void {
    this.#redisAvailable = available;
    if (this.registry.getSingleMetric('latchkey_redis_available') === undefined)
      this.registry.registerMetric(this.redisAvailable);
  }

  /** One answered request. Routes are Fastify's patterns, so the series stay few. */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let series = this.#requestSeries.get(key);
    if (series === undefined) {
      series = this.requestDuration.labels({ method, route, status: String(status) });
      this.#requestSeries.set(key, series);
    }
    series.observe(seconds);
  }

  record(event: AuthEvent): void {
    switch (event.type) {
      case 'registered':
        this.registrations.inc();
        break;
      case 'login_succeeded':
        this.logins.inc({ result: 'success' });
        break;
      case 'login_failed':
        this.logins.inc({ result: 'failure' });
        break;
      case 'login_throttled':
        this.logins.inc({ result: 'throttled' });
        this.throttled.inc({ action: 'login' });
        break;
      case 'registration_throttled':
        this.throttled.inc({ action: 'register' });
        break;
      case 'refreshed':
        this.refreshes.inc({ result: 'rotated' });
        break;
      case 'refresh_rejected':
        this.refreshes.inc({ result: 'rejected' });
        break;
      case 'refresh_reuse_detected':
        this.refreshes.inc({ result: 'reuse' });
        this.reuseDetected.inc();
        break;
      case 'sessions_revoked':
        this.sessionsRevoked.inc({ reason: event.reason }, event.sessionIds.length);
        break;
      case 'password_changed':
        break;
    }
  }
}
