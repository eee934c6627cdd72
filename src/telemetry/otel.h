/* telemetry/otel.h - OpenTelemetry spans of each call (GenAI conventions) over OTLP/HTTP JSON */
#ifndef TG_TELEMETRY_OTEL_H
#define TG_TELEMETRY_OTEL_H

#include "core/buf.h"
#include "core/record.h"

#include <stdbool.h>
#include <stdint.h>

/* What one call's spans are made of: its ledger record plus what the record does not
 * hold. Times are Unix epoch nanoseconds. */
struct tg_span_input {
    const struct tg_call_record *rec;
    const char *client_span_id; /* the provider call's span (16 hex); "" when none was made */
    const char *tracestate;     /* the caller's, or "" */
    uint8_t trace_flags;        /* W3C trace-flags of the gateway span */
    bool parent_is_remote;      /* the caller's traceparent was continued */
    int64_t start_ns, end_ns;   /* the SERVER span: request received -> response done */
    int64_t upstream_start_ns, upstream_end_ns; /* the CLIENT span */
    const char *genai_provider;                 /* gen_ai.provider.name */
    const char *server_address;                 /* the provider's host */
    int server_port;
    int64_t request_max_tokens; /* -1: the request set none */
};

/** The gen_ai.provider.name for an upstream: its name when it is a well-known value
 *  (openai, anthropic, groq, deepseek, mistral_ai, ...), else its API family. Pure. */
const char *tg_otel_provider_name(const char *upstream_name, const char *api_family);

/** Appends the call's spans as OTLP/JSON Span objects separated by a comma: the SERVER
 *  span of the gateway, and the CLIENT span of the provider call as its child when one
 *  was made. Returns the number of spans (1 or 2). Encoding per OTLP/JSON: lowercase hex
 *  ids, integer enums, int64 as decimal strings. Pure. */
int tg_otel_encode(const struct tg_span_input *in, struct tg_buf *out);

/** Wraps span objects (comma-separated) into an ExportTraceServiceRequest. Pure. */
void tg_otel_wrap(const char *service_name, const char *spans, size_t len, struct tg_buf *out);

struct tg_otel_config {
    char url[512];      /* the traces endpoint, used as is */
    char headers[1024]; /* "k=v,k2=v2", sent with every export */
    char service_name[64];
    int batch_spans; /* spans per export request */
    int queue_spans; /* spans held at most; beyond that new spans are dropped (counted) */
    int flush_ms;    /* a partial batch waits at most this long */
    int timeout_ms;  /* per export request */
    int max_retries; /* retries of one batch on 429/502/503/504 or no answer */
};

struct tg_otel_stats {
    int64_t exported_spans;
    int64_t dropped_queue_full, dropped_rejected, dropped_failed;
    int64_t retries;
    int64_t queued_spans;
};

struct tg_otel;

/** Starts the exporter thread. Returns owned; free with tg_otel_destroy. */
struct tg_otel *tg_otel_new(const struct tg_otel_config *cfg);
/** Queues n spans (json: span objects, copied) and returns at once; a full queue drops
 *  them and counts the drop. Never blocks on the network. Any thread; o may be NULL. */
void tg_otel_enqueue(struct tg_otel *o, const char *json, size_t len, int n);
void tg_otel_get_stats(struct tg_otel *o, struct tg_otel_stats *out);
/** Sends what is queued (one attempt per batch, all of it within one timeout_ms; what is
 *  left then is dropped and counted), stops the thread and frees. NULL is accepted. */
void tg_otel_destroy(struct tg_otel *o);

#endif
