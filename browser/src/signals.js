// Web Vitals and uncaught errors as spans.
import { SpanStatusCode } from '@opentelemetry/api';
import { onCLS, onINP, onLCP, onTTFB } from 'web-vitals';

// Timings from the start of navigation are drawn as such; INP and CLS are a score at the
// moment they are reported.
const FROM_NAVIGATION = new Set(['LCP', 'TTFB']);

export function watchVitals(tracer) {
  const report = (metric) => {
    const now = performance.now();
    const fromStart = FROM_NAVIGATION.has(metric.name);
    const start = fromStart ? performance.timeOrigin : performance.timeOrigin + now;
    const end = fromStart ? start + metric.value : start;
    const span = tracer.startSpan(`web-vital ${metric.name}`, {
      startTime: start,
      attributes: {
        'web_vital.name': metric.name,
        'web_vital.value': metric.value,
        'web_vital.rating': metric.rating,
        'web_vital.id': metric.id,
        'web_vital.navigation_type': metric.navigationType,
      },
    });
    span.end(end);
  };
  onLCP(report);
  onINP(report);
  onCLS(report);
  onTTFB(report);
}

function recordError(tracer, kind, error, fallbackMessage) {
  const span = tracer.startSpan(kind);
  if (error instanceof Error) {
    span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  } else {
    const message = typeof error === 'string' ? error : fallbackMessage;
    span.addEvent('exception', { 'exception.type': 'Error', 'exception.message': message });
    span.setStatus({ code: SpanStatusCode.ERROR, message });
  }
  span.end();
}

export function watchErrors(tracer) {
  addEventListener('error', (event) => {
    // Errors of <img>/<script> loads carry no ``error``: the resource spans show those.
    if (!(event instanceof ErrorEvent)) return;
    recordError(tracer, 'uncaught error', event.error, event.message || 'uncaught error');
  });
  addEventListener('unhandledrejection', (event) => {
    recordError(tracer, 'unhandled rejection', event.reason, 'unhandled promise rejection');
  });
}
