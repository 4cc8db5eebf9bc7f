// saler-tracing in the browser: one call, ``init({ serviceName, intakeUrl, propagateTo })``.
// docs/browser.md says what it records and exactly what it sends.
import { context, trace } from '@opentelemetry/api';
import { hrTime, hrTimeToMilliseconds } from '@opentelemetry/core';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { DocumentLoadInstrumentation } from '@opentelemetry/instrumentation-document-load';
import { FetchInstrumentation } from '@opentelemetry/instrumentation-fetch';
import { UserInteractionInstrumentation } from '@opentelemetry/instrumentation-user-interaction';
import { XMLHttpRequestInstrumentation } from '@opentelemetry/instrumentation-xml-http-request';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { WebTracerProvider } from '@opentelemetry/sdk-trace-web';
import { IntakeExporter } from './otlp.js';
import { watchErrors, watchVitals } from './signals.js';

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
// An origin matches itself and every path under it, never ``https://api.example.com.evil``.
const originPattern = (origin) => new RegExp(`^${escape(origin.replace(/\/+$/, ''))}(/|$)`);

// Keeps the user-interaction spans that led to a request (a fetch or XHR started inside the
// click's listener) and drops the rest, with the page's route on every span.
class PageProcessor {
  constructor(next, route) {
    this.next = next;
    this.route = route;
    this.clicksWithRequests = new Set();
  }

  onStart(span, parentContext) {
    span.setAttribute('saler.page.route', this.route());
    const parent = trace.getSpan(parentContext || context.active());
    const scope = span.instrumentationScope.name;
    if (parent && /fetch|xml-http-request/.test(scope)) {
      this.clicksWithRequests.add(parent.spanContext().spanId);
    }
    this.next.onStart(span, parentContext);
  }

  onEnd(span) {
    if (/user-interaction/.test(span.instrumentationScope.name)) {
      const id = span.spanContext().spanId;
      if (!this.clicksWithRequests.delete(id)) return;
    }
    this.next.onEnd(span);
  }

  forceFlush() {
    return this.next.forceFlush();
  }

  shutdown() {
    return this.next.shutdown();
  }
}

let running = null;

export function init(options) {
  if (running) return running;
  const {
    serviceName,
    intakeUrl,
    propagateTo = [],
    serviceVersion,
    environment,
    keepQueryParams = [],
    sampleRatio = 1,
    route = () => location.pathname,
    userId,
  } = options || {};
  if (!serviceName || !intakeUrl) throw new Error('saler-tracing: init needs serviceName and intakeUrl');
  const keepQuery = new Set(keepQueryParams);
  const intake = new URL(intakeUrl, location.href).href;
  const nativeFetch = window.fetch.bind(window); // before the fetch instrumentation patches it
  const exporter = new IntakeExporter({
    url: intake,
    keepQuery,
    send: nativeFetch,
    now: () => hrTimeToMilliseconds(hrTime()),
  });
  const batches = new BatchSpanProcessor(exporter, {
    maxExportBatchSize: 100,
    scheduledDelayMillis: 5000,
    maxQueueSize: 1000,
    // Flushed below, after the Web Vitals listeners, so the vitals reported at page hide
    // leave in the same beacon.
    disableAutoFlushOnDocumentHide: true,
  });
  const resource = {
    'service.name': serviceName,
    'telemetry.sdk.language': 'webjs',
    'telemetry.sdk.name': 'saler-tracing-browser',
  };
  if (serviceVersion) resource['service.version'] = serviceVersion;
  if (environment) resource['deployment.environment.name'] = environment;
  let user = userId;
  const page = new PageProcessor(batches, route);
  const onStart = page.onStart.bind(page);
  page.onStart = (span, parentContext) => {
    if (user) span.setAttribute('enduser.id', String(user));
    onStart(span, parentContext);
  };
  const provider = new WebTracerProvider({
    resource: resourceFromAttributes(resource),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(sampleRatio) }),
    spanProcessors: [page],
  });
  provider.register();
  const propagate = propagateTo.map(originPattern);
  // The intake's own requests are never traced (nor given a traceparent).
  const ignoreUrls = [new RegExp(`^${escape(intake.split('?')[0])}`)];
  const unregister = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new DocumentLoadInstrumentation(),
      new FetchInstrumentation({ propagateTraceHeaderCorsUrls: propagate, ignoreUrls }),
      new XMLHttpRequestInstrumentation({ propagateTraceHeaderCorsUrls: propagate, ignoreUrls }),
      new UserInteractionInstrumentation({ eventNames: ['click', 'submit'] }),
    ],
  });
  const tracer = provider.getTracer('saler-tracing-browser');
  watchVitals(tracer);
  watchErrors(tracer);
  const flush = () => batches.forceFlush().catch(() => {});
  addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') flush();
  });
  addEventListener('pagehide', flush);
  running = {
    flush,
    setUser(id) {
      user = id || undefined;
    },
    async shutdown() {
      unregister();
      await provider.shutdown();
      running = null;
    },
  };
  return running;
}

// Sends what has ended now (a single-page app before it swaps views, or a test).
export function flush() {
  return running ? running.flush() : Promise.resolve();
}
