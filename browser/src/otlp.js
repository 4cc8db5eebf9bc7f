// OTLP/HTTP JSON for finished spans, and the way it leaves the page.
//
// Written here rather than taken from @opentelemetry/otlp-transformer: that package pulls the
// logs and metrics SDKs into the bundle (several times this file's size) to encode spans only.
// The body goes as text/plain, a CORS "simple" request: no preflight for every batch, and
// navigator.sendBeacon (which cannot set headers) sends the same body when the page is hidden.
import { cleanAttributes, cleanText } from './privacy.js';

const nanos = (hr) => (BigInt(hr[0]) * 1000000000n + BigInt(hr[1])).toString();

function anyValue(value) {
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value };
  }
  if (Array.isArray(value)) return { arrayValue: { values: value.map(anyValue) } };
  return { stringValue: String(value) };
}

const keyValues = (attributes) =>
  Object.entries(attributes)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([key, value]) => ({ key, value: anyValue(value) }));

function span(s, keepQuery) {
  const ctx = s.spanContext();
  const parent = s.parentSpanContext;
  return {
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    parentSpanId: parent ? parent.spanId : undefined,
    name: s.name,
    kind: s.kind + 1, // the API counts from INTERNAL = 0, OTLP from UNSPECIFIED = 0
    startTimeUnixNano: nanos(s.startTime),
    endTimeUnixNano: nanos(s.endTime),
    attributes: keyValues(cleanAttributes(s.attributes, keepQuery)),
    events: s.events.map((e) => ({
      timeUnixNano: nanos(e.time),
      name: e.name,
      attributes: keyValues(cleanAttributes(e.attributes, keepQuery)),
    })),
    status: s.status.code
      ? { code: s.status.code, message: cleanText(s.status.message || '', keepQuery) }
      : {},
  };
}

export function encode(spans, keepQuery) {
  const scopes = new Map();
  for (const s of spans) {
    const scope = s.instrumentationScope || { name: 'saler-tracing' };
    const key = `${scope.name}@${scope.version || ''}`;
    if (!scopes.has(key)) {
      scopes.set(key, { scope: { name: scope.name, version: scope.version }, spans: [] });
    }
    scopes.get(key).spans.push(span(s, keepQuery));
  }
  const resource = spans.length ? spans[0].resource.attributes : {};
  return JSON.stringify({
    resourceSpans: [{ resource: { attributes: keyValues(resource) }, scopeSpans: [...scopes.values()] }],
  });
}

// The span exporter: fetch with keepalive while the page is visible, sendBeacon once it is
// hidden (the page may be gone before a fetch's promise settles). ``now`` is the clock the
// spans were timed with; the intake compares it with its own to correct a skewed clock.
export class IntakeExporter {
  constructor({ url, keepQuery, send, now }) {
    this.url = url;
    this.keepQuery = keepQuery;
    this.send = send;
    this.now = now;
  }

  export(spans, done) {
    let body;
    try {
      body = encode(spans, this.keepQuery);
    } catch (error) {
      done({ code: 1, error });
      return;
    }
    const sep = this.url.includes('?') ? '&' : '?';
    const url = `${this.url}${sep}sent=${Math.round(this.now())}`;
    const hidden = typeof document !== 'undefined' && document.visibilityState === 'hidden';
    if (hidden && navigator.sendBeacon && navigator.sendBeacon(url, body)) {
      done({ code: 0 });
      return;
    }
    // keepalive bodies are capped at 64 KiB in flight; a larger batch goes without it.
    this.send(url, {
      method: 'POST',
      body,
      credentials: 'omit',
      keepalive: body.length < 60000,
      headers: { 'content-type': 'text/plain' },
    }).then(
      (response) => done({ code: response.ok ? 0 : 1 }),
      (error) => done({ code: 1, error }),
    );
  }

  shutdown() {
    return Promise.resolve();
  }

  forceFlush() {
    return Promise.resolve();
  }
}
