/* telemetry/otel.c - GenAI spans of each call, exported over OTLP/HTTP JSON
 *
 * DESIGN. A worker encodes a finished call's spans (tg_otel_encode, pure) after its
 * response is complete and queues the text (a copy and a signal). One exporter thread
 * batches queued spans into ExportTraceServiceRequest bodies and POSTs them with
 * libcurl's easy interface, so the network never touches the request path. The queue is
 * bounded in spans; when it is full, new spans are dropped and counted. Per the OTLP
 * specification (SPECS.md §2.2) only 429, 502, 503 and 504 answers, and no answer at all,
 * are retried: after Retry-After when the server sends one (delay-seconds or HTTP-date,
 * capped at 60 s), otherwise with exponential backoff and jitter; any other status drops
 * the batch (counted), and a 200 with partialSuccess counts the rejected spans as dropped.
 *
 * Span shape (SPECS.md §1–2): the gateway's SERVER span continues the caller's trace
 * (parent: the caller's span, flags bit 0x200 "parent is remote"); the CLIENT span of the
 * provider call is its child and is the parent the provider sees in traceparent. Both are
 * named "{gen_ai.operation.name} {gen_ai.request.model}" and carry the GenAI attributes,
 * the attribution fields and the cost under tollgate.* (docs/TELEMETRY.md). */
#include "telemetry/otel.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/money.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* --- encoding ------------------------------------------------------------------------- */

const char *tg_otel_provider_name(const char *upstream_name, const char *api_family)
{
    static const char *const known[] = {
        "openai",          "anthropic",      "aws.bedrock",   "azure.ai.inference",
        "azure.ai.openai", "gcp.gemini",     "gcp.vertex_ai", "gcp.gen_ai",
        "cohere",          "ibm.watsonx.ai", "perplexity",    "x_ai",
        "deepseek",        "groq",           "mistral_ai",    "moonshot_ai"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(upstream_name, known[i]) == 0)
            return known[i];
    return api_family;
}

struct attrs {
    struct tg_buf *b;
    bool first;
};

static void key(struct attrs *a, const char *k)
{
    tg_buf_appends(a->b, a->first ? "{\"key\":\"" : ",{\"key\":\"");
    a->first = false;
    tg_buf_appends(a->b, k);
    tg_buf_appends(a->b, "\",\"value\":");
}

static void attr_str(struct attrs *a, const char *k, const char *v)
{
    if (v == NULL || v[0] == '\0')
        return;
    key(a, k);
    tg_buf_appends(a->b, "{\"stringValue\":");
    tg_buf_append_json_str(a->b, v, strlen(v));
    tg_buf_appends(a->b, "}}");
}

static void attr_int(struct attrs *a, const char *k, int64_t v)
{
    key(a, k);
    tg_buf_appendf(a->b, "{\"intValue\":\"%lld\"}}", (long long)v);
}

static void attr_bool(struct attrs *a, const char *k, bool v)
{
    key(a, k);
    tg_buf_appendf(a->b, "{\"boolValue\":%s}}", v ? "true" : "false");
}

static const char *genai_operation(const char *op)
{
    return strcmp(op, "responses") == 0 ? "chat" : op; /* Responses API: openai.api.type */
}

/* The GenAI attributes both spans carry. */
static void genai_attrs(struct attrs *a, const struct tg_span_input *in)
{
    const struct tg_call_record *r = in->rec;
    const struct tg_usage *u = &r->usage;
    attr_str(a, "gen_ai.operation.name", genai_operation(r->operation));
    attr_str(a, "gen_ai.provider.name", in->genai_provider);
    attr_str(a, "gen_ai.request.model", r->request_model);
    if (r->is_stream)
        attr_bool(a, "gen_ai.request.stream", true);
    if (in->request_max_tokens >= 0)
        attr_int(a, "gen_ai.request.max_tokens", in->request_max_tokens);
    attr_str(a, "gen_ai.response.model", u->response_model);
    attr_str(a, "gen_ai.response.id", u->response_id);
    if (u->finish_reason[0] != '\0') {
        key(a, "gen_ai.response.finish_reasons");
        tg_buf_appends(a->b, "{\"arrayValue\":{\"values\":[{\"stringValue\":");
        tg_buf_append_json_str(a->b, u->finish_reason, strlen(u->finish_reason));
        tg_buf_appends(a->b, "}]}}}");
    }
    attr_str(a, "gen_ai.conversation.id", r->conversation_id);
    if (r->attempt > 0 && (u->has_usage || r->usage_estimated)) {
        attr_int(a, "gen_ai.usage.input_tokens", u->input_tokens);
        attr_int(a, "gen_ai.usage.output_tokens", u->output_tokens);
        if (u->cached_input_tokens > 0)
            attr_int(a, "gen_ai.usage.cache_read.input_tokens", u->cached_input_tokens);
        if (u->cache_write_5m_tokens + u->cache_write_1h_tokens > 0)
            attr_int(a, "gen_ai.usage.cache_creation.input_tokens",
                     u->cache_write_5m_tokens + u->cache_write_1h_tokens);
        if (u->reasoning_tokens > 0)
            attr_int(a, "gen_ai.usage.reasoning.output_tokens", u->reasoning_tokens);
    }
    if (strcmp(in->genai_provider, "openai") == 0 &&
        (strcmp(r->operation, "chat") == 0 || strcmp(r->operation, "responses") == 0))
        attr_str(a, "openai.api.type",
                 strcmp(r->operation, "responses") == 0 ? "responses" : "chat_completions");
    attr_str(a, "openai.response.service_tier", u->service_tier);
    if (strcmp(r->outcome, "ok") != 0)
        attr_str(a, "error.type", r->error_type[0] ? r->error_type : "_OTHER");
    if (r->status_code > 0)
        attr_int(a, "http.response.status_code", r->status_code);
}

/* The business identity and the money, under tollgate.* (docs/TELEMETRY.md). */
static void tollgate_attrs(struct attrs *a, const struct tg_call_record *r)
{
    attr_str(a, "tollgate.call_id", r->call_id);
    attr_str(a, "tollgate.request_id", r->request_id);
    attr_str(a, "tollgate.outcome", r->outcome);
    attr_str(a, "tollgate.tenant_id", r->tenant_id);
    attr_str(a, "tollgate.team", r->team);
    attr_str(a, "tollgate.cost_center", r->cost_center);
    attr_str(a, "tollgate.feature_id", r->feature_id);
    attr_str(a, "tollgate.workflow_id", r->workflow_id);
    attr_str(a, "tollgate.actor_id", r->actor_id);
    attr_str(a, "tollgate.actor_type", r->actor_type);
    attr_str(a, "tollgate.environment", r->environment);
    attr_str(a, "tollgate.service", r->service);
    attr_str(a, "tollgate.key_id", r->key_id);
    if (r->is_priced) {
        char usd[32];
        tg_money_format_usd(r->cost_nanos, usd, sizeof usd);
        attr_str(a, "tollgate.cost_usd", usd);
        attr_int(a, "tollgate.cost_nanos", r->cost_nanos);
        attr_str(a, "tollgate.price_ref", r->price_ref);
    } else if (r->attempt > 0) {
        attr_bool(a, "tollgate.unpriced", true);
    }
    if (r->usage_estimated)
        attr_bool(a, "tollgate.usage_estimated", true);
    attr_str(a, "tollgate.budget.scope", r->budget_scope);
    attr_str(a, "tollgate.budget.decision", r->budget_decision);
}

static void span_open(struct tg_buf *b, const struct tg_span_input *in, const char *span_id,
                      const char *parent, uint32_t flags, int kind, int64_t start, int64_t end)
{
    const struct tg_call_record *r = in->rec;
    tg_buf_appendf(b, "{\"traceId\":\"%s\",\"spanId\":\"%s\"", r->trace_id, span_id);
    if (in->tracestate[0] != '\0') {
        tg_buf_appends(b, ",\"traceState\":");
        tg_buf_append_json_str(b, in->tracestate, strlen(in->tracestate));
    }
    if (parent[0] != '\0')
        tg_buf_appendf(b, ",\"parentSpanId\":\"%s\"", parent);
    char name[200];
    const char *op = genai_operation(r->operation[0] ? r->operation : "unknown");
    if (r->request_model[0] != '\0')
        snprintf(name, sizeof name, "%s %s", op, r->request_model);
    else
        snprintf(name, sizeof name, "%s", op);
    tg_buf_appendf(b, ",\"flags\":%u,\"name\":", flags);
    tg_buf_append_json_str(b, name, strlen(name));
    tg_buf_appendf(b,
                   ",\"kind\":%d,\"startTimeUnixNano\":\"%lld\",\"endTimeUnixNano\":\"%lld\","
                   "\"attributes\":[",
                   kind, (long long)start, (long long)(end > start ? end : start));
}

static void span_close(struct tg_buf *b, const struct tg_call_record *r)
{
    tg_buf_appends(b, "],\"status\":");
    if (strcmp(r->outcome, "ok") == 0) {
        tg_buf_appends(b, "{\"code\":0}}");
        return;
    }
    tg_buf_appends(b, "{\"code\":2,\"message\":");
    const char *m = r->error_type[0] ? r->error_type : r->outcome;
    tg_buf_append_json_str(b, m, strlen(m));
    tg_buf_appends(b, "}}");
}

int tg_otel_encode(const struct tg_span_input *in, struct tg_buf *out)
{
    const struct tg_call_record *r = in->rec;
    /* flags: W3C trace-flags in bits 0-7, 0x100 "is-remote known", 0x200 "parent remote" */
    uint32_t server_flags = in->trace_flags | 0x100u | (in->parent_is_remote ? 0x200u : 0u);
    span_open(out, in, r->span_id, r->parent_span_id, server_flags, 2, in->start_ns, in->end_ns);
    struct attrs a = {out, true};
    genai_attrs(&a, in);
    attr_str(&a, "http.request.method", strcmp(r->operation, "models") == 0 ? "GET" : "POST");
    attr_str(&a, "http.route", r->endpoint);
    tollgate_attrs(&a, r);
    span_close(out, r);
    if (in->client_span_id[0] == '\0')
        return 1;
    tg_buf_appends(out, ",");
    span_open(out, in, in->client_span_id, r->span_id, in->trace_flags | 0x100u, 3,
              in->upstream_start_ns, in->upstream_end_ns);
    a.first = true;
    genai_attrs(&a, in);
    attr_str(&a, "server.address", in->server_address);
    if (in->server_port > 0)
        attr_int(&a, "server.port", in->server_port);
    tollgate_attrs(&a, r);
    span_close(out, r);
    return 2;
}

void tg_otel_wrap(const char *service_name, const char *spans, size_t len, struct tg_buf *out)
{
    tg_buf_appends(out, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service."
                        "name\",\"value\":{\"stringValue\":");
    tg_buf_append_json_str(out, service_name, strlen(service_name));
    tg_buf_appends(
        out, "}},{\"key\":\"service.version\",\"value\":{\"stringValue\":\"" TG_VERSION
             "\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"tollgate\",\"version\":\"" TG_VERSION
             "\"},\"spans\":[");
    tg_buf_append(out, spans, len);
    tg_buf_appends(out, "]}]}]}");
}

/* --- the exporter --------------------------------------------------------------------- */

struct entry {
    char *json;
    size_t len;
    int n;
};

struct tg_otel {
    struct tg_otel_config cfg;
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct entry *q;
    int cap, head, len; /* ring of entries */
    int64_t queued_spans;
    bool stop;
    int64_t stop_deadline_ns; /* monotonic: the final flush gives up here */
    struct tg_otel_stats st;
    struct curl_slist *hdrs;
};

struct answer {
    struct tg_buf body;
    long retry_after_s; /* -1 none */
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct answer *a = ud;
    if (a->body.len + size * n > (4u << 20))
        return 0; /* the client MUST limit what it parses (OTLP 1.11) */
    tg_buf_append(&a->body, p, size * n);
    return size * n;
}

static size_t on_hdr(char *p, size_t size, size_t n, void *ud)
{
    struct answer *a = ud;
    size_t len = size * n;
    if (len > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
        char v[128];
        size_t vl = len - 12 < sizeof v - 1 ? len - 12 : sizeof v - 1;
        memcpy(v, p + 12, vl);
        v[vl] = '\0';
        char *s = v;
        while (*s == ' ' || *s == '\t')
            s++;
        char *end = s + strlen(s);
        while (end > s && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
            *--end = '\0';
        char *num_end = NULL;
        long secs = strtol(s, &num_end, 10);
        if (num_end != s && *num_end == '\0' && secs >= 0) {
            a->retry_after_s = secs;
        } else {
            time_t when = curl_getdate(s, NULL); /* an HTTP-date */
            if (when > 0)
                a->retry_after_s = when > time(NULL) ? (long)(when - time(NULL)) : 0;
        }
    }
    return len;
}

/* Waits ms unless told to stop; returns false when stopping. */
static bool pause_ms(struct tg_otel *o, long ms)
{
    struct timespec ts;
    tg_abstime_after_ms(ms, &ts);
    pthread_mutex_lock(&o->mu);
    while (!o->stop && pthread_cond_timedwait(&o->cv, &o->mu, &ts) == 0)
        ;
    bool go_on = !o->stop;
    pthread_mutex_unlock(&o->mu);
    return go_on;
}

static void count(struct tg_otel *o, int64_t *field, int64_t n)
{
    pthread_mutex_lock(&o->mu);
    *field += n;
    pthread_mutex_unlock(&o->mu);
}

/* Spans the server says it rejected in a 200 (partialSuccess.rejectedSpans). */
static int64_t rejected_spans(const struct tg_buf *body)
{
    int64_t n = 0;
    cJSON *j = body->len ? cJSON_ParseWithLength(body->base, body->len) : NULL;
    cJSON *ps = cJSON_GetObjectItemCaseSensitive(j, "partialSuccess");
    cJSON *rs = cJSON_GetObjectItemCaseSensitive(ps, "rejectedSpans");
    if (cJSON_IsString(rs))
        n = strtoll(rs->valuestring, NULL, 10);
    else if (cJSON_IsNumber(rs))
        n = (int64_t)rs->valueint;
    cJSON_Delete(j);
    return n;
}

static void export_batch(struct tg_otel *o, CURL *e, const struct tg_buf *body, int n_spans,
                         bool final)
{
    long backoff = 500;
    for (int attempt = 0;; attempt++) {
        struct answer a = {{0}, -1};
        long status = 0;
        curl_easy_reset(e);
        curl_easy_setopt(e, CURLOPT_URL, o->cfg.url);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, o->hdrs);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body->base);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
        long timeout = o->cfg.timeout_ms;
        if (final) { /* shutting down: never past the deadline */
            int64_t left = (o->stop_deadline_ns - tg_mono_ns()) / 1000000;
            timeout = left < 1 ? 1 : left < timeout ? (long)left : timeout;
        }
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &a);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_hdr);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, &a);
        CURLcode rc = curl_easy_perform(e);
        if (rc == CURLE_OK)
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        if (rc == CURLE_OK && status >= 200 && status < 300) {
            int64_t rej = rejected_spans(&a.body);
            if (rej < 0 || rej > n_spans)
                rej = n_spans;
            if (rej > 0)
                tg_warn("event=otlp_partial_success rejected_spans=%lld", (long long)rej);
            pthread_mutex_lock(&o->mu);
            o->st.exported_spans += n_spans - rej;
            o->st.dropped_rejected += rej;
            pthread_mutex_unlock(&o->mu);
            tg_buf_free(&a.body);
            return;
        }
        bool retryable =
            rc != CURLE_OK || status == 429 || status == 502 || status == 503 || status == 504;
        tg_buf_free(&a.body);
        if (!retryable || final || attempt >= o->cfg.max_retries) {
            tg_warn("event=otlp_export_failed status=%ld error=\"%s\" spans=%d note=dropped",
                    status, rc == CURLE_OK ? "" : curl_easy_strerror(rc), n_spans);
            count(o, retryable ? &o->st.dropped_failed : &o->st.dropped_rejected, n_spans);
            return;
        }
        long wait = backoff + (long)(((unsigned long)random()) % (unsigned long)(backoff / 4 + 1));
        if (a.retry_after_s >= 0)
            wait = (a.retry_after_s > 60 ? 60 : a.retry_after_s) * 1000;
        backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
        count(o, &o->st.retries, 1);
        tg_info("event=otlp_export_retry status=%ld attempt=%d wait_ms=%ld", status, attempt + 1,
                wait);
        if (!pause_ms(o, wait))
            final = true; /* shutting down: one last try */
    }
}

static void *exporter(void *arg)
{
    struct tg_otel *o = arg;
    pthread_setname_np(pthread_self(), "tg-otel");
    CURL *e = curl_easy_init();
    struct tg_buf spans = {0}, body = {0};
    for (;;) {
        pthread_mutex_lock(&o->mu);
        while (o->len == 0 && !o->stop)
            pthread_cond_wait(&o->cv, &o->mu);
        if (!o->stop && o->queued_spans < o->cfg.batch_spans) { /* let a batch fill up */
            struct timespec ts;
            tg_abstime_after_ms(o->cfg.flush_ms, &ts);
            while (!o->stop && o->queued_spans < o->cfg.batch_spans &&
                   pthread_cond_timedwait(&o->cv, &o->mu, &ts) == 0)
                ;
        }
        if (o->len == 0) {
            pthread_mutex_unlock(&o->mu);
            break; /* stopping and nothing left */
        }
        bool final = o->stop;
        int n_spans = 0;
        tg_buf_reset(&spans);
        while (o->len > 0 && n_spans + o->q[o->head].n <= o->cfg.batch_spans) {
            struct entry *en = &o->q[o->head];
            if (spans.len > 0)
                tg_buf_appends(&spans, ",");
            tg_buf_append(&spans, en->json, en->len);
            n_spans += en->n;
            o->queued_spans -= en->n;
            free(en->json);
            o->head = (o->head + 1) % o->cap;
            o->len--;
        }
        pthread_mutex_unlock(&o->mu);
        if (final && tg_mono_ns() >= o->stop_deadline_ns) {
            tg_warn("event=otlp_export_failed reason=shutdown_deadline spans=%d note=dropped",
                    n_spans);
            count(o, &o->st.dropped_failed, n_spans);
            continue;
        }
        tg_buf_reset(&body);
        tg_otel_wrap(o->cfg.service_name, spans.base, spans.len, &body);
        export_batch(o, e, &body, n_spans, final);
    }
    tg_buf_free(&spans);
    tg_buf_free(&body);
    curl_easy_cleanup(e);
    return NULL;
}

struct tg_otel *tg_otel_new(const struct tg_otel_config *cfg)
{
    struct tg_otel *o = tg_calloc(1, sizeof *o);
    o->cfg = *cfg;
    if (o->cfg.batch_spans < 2)
        o->cfg.batch_spans = 2; /* one call's two spans always fit a batch */
    if (o->cfg.queue_spans < o->cfg.batch_spans)
        o->cfg.queue_spans = o->cfg.batch_spans;
    o->cap = o->cfg.queue_spans;
    o->q = tg_calloc((size_t)o->cap, sizeof *o->q);
    o->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    o->hdrs = curl_slist_append(o->hdrs, "User-Agent: tollgate/" TG_VERSION);
    o->hdrs = curl_slist_append(o->hdrs, "Expect:");
    /* OTEL_EXPORTER_OTLP_HEADERS form: k=v,k2=v2 */
    char hv[1024];
    snprintf(hv, sizeof hv, "%s", o->cfg.headers);
    for (char *p = hv, *next; p != NULL && *p != '\0'; p = next) {
        next = strchr(p, ',');
        if (next != NULL)
            *next++ = '\0';
        char *eq = strchr(p, '=');
        if (eq == NULL || eq == p)
            continue;
        *eq = '\0';
        char line[1100];
        snprintf(line, sizeof line, "%s: %s", p, eq + 1);
        o->hdrs = curl_slist_append(o->hdrs, line);
    }
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv, NULL);
    pthread_create(&o->tid, NULL, exporter, o);
    return o;
}

void tg_otel_enqueue(struct tg_otel *o, const char *json, size_t len, int n)
{
    if (o == NULL)
        return;
    pthread_mutex_lock(&o->mu);
    if (o->stop || o->len == o->cap || o->queued_spans + n > o->cfg.queue_spans) {
        o->st.dropped_queue_full += n;
        pthread_mutex_unlock(&o->mu);
        return;
    }
    struct entry *en = &o->q[(o->head + o->len) % o->cap];
    en->json = tg_malloc(len + 1);
    memcpy(en->json, json, len);
    en->json[len] = '\0';
    en->len = len;
    en->n = n;
    o->len++;
    o->queued_spans += n;
    /* a full batch, or the first entry (the exporter starts its flush timer) */
    if (o->queued_spans >= o->cfg.batch_spans || o->len == 1)
        pthread_cond_signal(&o->cv);
    pthread_mutex_unlock(&o->mu);
}

void tg_otel_get_stats(struct tg_otel *o, struct tg_otel_stats *out)
{
    memset(out, 0, sizeof *out);
    if (o == NULL)
        return;
    pthread_mutex_lock(&o->mu);
    *out = o->st;
    out->queued_spans = o->queued_spans;
    pthread_mutex_unlock(&o->mu);
}

void tg_otel_destroy(struct tg_otel *o)
{
    if (o == NULL)
        return;
    pthread_mutex_lock(&o->mu);
    o->stop = true;
    o->stop_deadline_ns = tg_mono_ns() + (int64_t)o->cfg.timeout_ms * 1000000;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    pthread_join(o->tid, NULL);
    curl_slist_free_all(o->hdrs);
    free(o->q);
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cv);
    free(o);
}
