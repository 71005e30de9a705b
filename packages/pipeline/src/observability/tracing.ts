import { AsyncLocalStorage } from "node:async_hooks";
import {
  type Context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  type Span,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  BasicTracerProvider,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";

/**
 * One process's tracer and its current-span context, passed through context like everything else: no
 * global tracer provider or context manager is registered, so two systems in one test process keep
 * their own spans. The trace context travels between processes as a W3C `traceparent` (on outbox rows
 * and stage messages).
 */
export class Tracing {
  private readonly store = new AsyncLocalStorage<Context>();
  private readonly propagator = new W3CTraceContextPropagator();
  readonly tracer: Tracer;

  constructor(private readonly provider?: BasicTracerProvider) {
    this.tracer = (provider ?? trace.getTracerProvider()).getTracer("docfleet");
  }

  /** The context spans started now take as parent. */
  active(): Context {
    return this.store.getStore() ?? ROOT_CONTEXT;
  }

  /** The trace id of the current span, if any (log correlation). */
  traceId(): string | undefined {
    const id = trace.getSpanContext(this.active())?.traceId;
    return id && id !== "00000000000000000000000000000000" ? id : undefined;
  }

  /** The current span as a W3C `traceparent`, or undefined outside any span. */
  traceparent(): string | undefined {
    const carrier: Record<string, string> = {};
    this.propagator.inject(this.active(), carrier, defaultTextMapSetter);
    return carrier.traceparent;
  }

  /** The context a `traceparent` (header or message field) names; the root context when absent or bad. */
  extract(traceparent: string | null | undefined): Context {
    if (!traceparent) return ROOT_CONTEXT;
    return this.propagator.extract(ROOT_CONTEXT, { traceparent }, defaultTextMapGetter);
  }

  /**
   * Runs `fn` in a new span, child of `parent` (default: the current span); ends it when `fn` settles
   * and records a thrown error.
   */
  async span<T>(
    name: string,
    attributes: Record<string, string | number | boolean | undefined>,
    fn: (span: Span) => Promise<T>,
    parent: Context = this.active(),
  ): Promise<T> {
    const span = this.tracer.startSpan(name, { attributes: defined(attributes) }, parent);
    try {
      return await this.store.run(trace.setSpan(parent, span), () => fn(span));
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
      throw err;
    } finally {
      span.end();
    }
  }

  /** Runs `fn` with `ctx` as the current context (a span started elsewhere, e.g. per GraphQL operation). */
  with<T>(ctx: Context, fn: () => T): T {
    return this.store.run(ctx, fn);
  }

  async shutdown(): Promise<void> {
    await this.provider?.shutdown();
  }
}

function defined(a: Record<string, string | number | boolean | undefined>) {
  return Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as Record<
    string,
    string | number | boolean
  >;
}

/**
 * Tracing as configured by `OTEL_TRACES_EXPORTER`: `none` (default: spans are created, so trace ids
 * reach logs and messages, but exported nowhere) or `console`. `exporter` overrides (tests pass an
 * in-memory one). OTLP needs `@opentelemetry/exporter-trace-otlp-http` in the deployment image.
 */
export function createTracing(kind: "none" | "console" = "none", exporter?: SpanExporter): Tracing {
  const chosen = exporter ?? (kind === "console" ? new ConsoleSpanExporter() : undefined);
  return new Tracing(
    new BasicTracerProvider({
      spanProcessors: chosen ? [new SimpleSpanProcessor(chosen)] : [],
    }),
  );
}

// For composition roots and tests, which do not depend on the SDK themselves.
export { InMemorySpanExporter, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base";
