/* server/proxy.c - the request lifecycle: route, inspect, forward, relay, record, respond
 *
 * DESIGN. One `struct call` per client request, heap-allocated and reference counted:
 *   - the h2o request holds one reference, dropped by the request pool's dispose hook
 *     (response fully sent, or the client went away);
 *   - a running upstream transfer holds one, dropped when it ends or is cancelled (so a
 *     client hang-up inside a transfer's callback never frees the call under it);
 *   - a queued ledger row holds one until the row is durable: at once when it went into
 *     the worker's crash journal (store/journal.h; the response completes on the next
 *     pass of the loop), else when the writer thread reports the commit.
 * The transfer is tollgate's own HTTP/1.1 client (upstream/h1client.h) for a plain-HTTP
 * upstream at a fixed address, else libcurl; both feed the same header, body and end
 * steps below (record_header, take_body, upstream_ended).
 * States: FORWARDING (upstream transfer running) -> FINISHED (the record is complete and
 * queued to the ledger) -> COMMITTED (the row is durable; the response may complete).
 * The last bytes of every response — the whole body of a non-streaming response, the
 * end of a stream, a gateway error — are sent only after COMMITTED, so a client that
 * received a complete response always has its row (DESIGN.md, Durability). Stream
 * events are relayed as they arrive, one complete SSE event at a time, so the injected
 * usage-only chunk can be dropped; when the client reads slower than the provider
 * writes, the upstream transfer is paused beyond stream_buffer_bytes (backpressure).
 * Only one h2o_send may be outstanding: `inflight` holds its bytes until proceed().
 * A client hang-up cancels the upstream transfer in the dispose hook.
 * Everything here runs on the worker thread that accepted the connection, except
 * on_ledger_commit, which runs on the ledger writer thread and only posts a message. */
#include "accounting/budget.h"
#include "accounting/identity.h"
#include "accounting/pricing.h"
#include "accounting/tracectx.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/money.h"
#include "core/uuid.h"
#include "providers/json_util.h"
#include "providers/provider.h"
#include "server/routes.h"
#include "server/worker.h"
#include "upstream/sse.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SSE_EVENT (16u << 20)

enum call_state { CALL_NEW, CALL_FORWARDING, CALL_FINISHED, CALL_COMMITTED };

struct call {
    h2o_generator_t gen; /* first: h2o hands it back to proceed/stop */
    h2o_multithread_message_t msg;
    struct tg_transfer xfer;
    h2o_req_t *req;     /* NULL once the client is gone */
    h2o_socket_t *held; /* the client's socket, polled but not read while the call runs */
    struct tg_worker *w;
    int refs;
    enum call_state state;
    struct tg_route route;
    struct tg_request_info info;
    struct tg_call_record rec;
    bool is_virtual_key; /* the caller presented a tollgate key: send the gateway's credential */
    struct tg_trace_ctx trace; /* the gateway's span in the caller's trace (or a new one) */
    char tracestate[512];      /* the caller's, kept when its traceparent was valid */
    char attr_missing[160];    /* flag mode: the mandatory fields this call lacks */
    char generated_rid[37];    /* request_id when the caller sent none (UUIDv7) */
    struct tg_vkey vkey;
    int64_t start_ns;                /* monotonic: the request reached the handler */
    int64_t start_unix_ns;           /* the same instant on the wall clock (span start) */
    int64_t fwd_ns, fb_ns, done_ns;  /* monotonic: request sent, first byte, upstream ended */
    char client_span_id[17];         /* the provider call's span: the parent the provider sees */
    struct tg_budget_admission *adm; /* budgets that applied at admission (NULL: none) */
    struct tg_budget_settlement *settle; /* the same budgets after the real cost, or NULL */
    /* upstream: libcurl (easy) or the own client (is_native: h1, reqhead) */
    CURL *easy;
    bool is_native;
    struct tg_h1_transfer h1;
    struct tg_buf reqhead; /* the request line and headers, for the own client */
    bool attached;
    bool in_upstream_cb; /* inside a transfer's header or body callback */
    struct curl_slist *hdrs;
    struct tg_buf upbody; /* the request body rewritten for the provider, when it is */
    /* the body sent upstream: upbody, or the client's own bytes (req->entity, which live as
     * long as the request, and the transfer never outlives it: the dispose hook ends it) */
    h2o_iovec_t upload;
    struct tg_buf resp_hdrs; /* "name\0value\0" pairs of the final response */
    long status;
    char content_type[128];
    bool got_first_byte;
    bool is_too_large; /* the answer passed limits.max_response_bytes: the transfer stopped */
    bool request_sent; /* the whole request reached the provider: it may bill without an answer */
    h2o_timeout_entry_t timer;
    h2o_timeout_entry_t total;        /* the own client: timeouts.total_ms (curl keeps its own) */
    h2o_timeout_entry_t client_check; /* while waiting on the provider: did the client leave? */
    h2o_timeout_entry_t journaled;    /* the row is in the journal: complete the response */
    h2o_timeout_entry_t begin_row;    /* 50 ms into the call: queue its 'incomplete' row */
    /* response */
    bool is_sse;
    struct tg_sse_parser sse;
    struct tg_stream_state sst;
    struct tg_buf partial; /* bytes of the SSE event not yet complete */
    uint64_t partial_start;
    int64_t data_events;
    int64_t relayed_bytes; /* stream bytes handed to the client (after any dropped event) */
    struct tg_buf body;    /* non-stream: whole body; stream: bytes ready to send */
    struct tg_buf inflight;
    bool started, sending, paused, final_ready, final_is_error, final_sent;
    int resp_status; /* what the client gets */
};

static void call_release(struct call *c);
static void finish_call(struct call *c);
static void flush_stream(struct call *c);

/* --- small helpers -------------------------------------------------------------------- */

static bool iov_eq(h2o_iovec_t v, const char *s)
{
    size_t n = strlen(s);
    return v.len == n && memcmp(v.base, s, n) == 0;
}

/* A response header, its value copied into the request's pool. A provider's, passed on,
 * may be one of h2o's tokens (maybe_token); none of the gateway's own is (x-tollgate-*,
 * x-request-id, traceparent), so their names skip the lookup (~80 instructions). */
static void put_hdr(h2o_req_t *req, const char *name, size_t nlen, bool maybe_token,
                    const char *value, size_t vlen)
{
    h2o_iovec_t v = h2o_strdup(&req->pool, value, vlen);
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, nlen, maybe_token, NULL, v.base,
                          v.len);
}

static void add_hdr(h2o_req_t *req, const char *name, const char *value, size_t vlen)
{
    put_hdr(req, name, strlen(name), false, value, vlen);
}

/* Headers a proxy must not forward (RFC 9110 §7.6.1 hop-by-hop) or that curl sets. */
static bool is_hop_header(h2o_iovec_t n)
{
    static const char *const hop[] = {"connection",       "keep-alive",
                                      "proxy-connection", "te",
                                      "trailer",          "transfer-encoding",
                                      "upgrade",          "host",
                                      "content-length",   "expect",
                                      "accept-encoding",  "proxy-authorization"};
    for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
        if (iov_eq(n, hop[i]))
            return true;
    return false;
}

/* Internal attribution must not leak to a third party (DESIGN.md, privacy by default);
 * the trace headers are replaced by the gateway's own span. */
static bool is_internal_header(const struct tg_identity_config *id, h2o_iovec_t n)
{
    return iov_eq(n, "traceparent") || iov_eq(n, "tracestate") ||
           tg_identity_is_internal_header(id, n.base, n.len);
}

/* Upstream response headers not passed back to the client: those h2o or the gateway
 * say themselves. By length first: each of a response's ~6 headers was compared with
 * all seven names. */
static bool is_dropped_response_header(const char *n, size_t len)
{
    bool drop = false;
    switch (len) {
    case 4: drop = strcasecmp(n, "date") == 0; break;
    case 6: drop = strcasecmp(n, "server") == 0; break;
    case 10: drop = strcasecmp(n, "connection") == 0 || strcasecmp(n, "keep-alive") == 0; break;
    case 14: drop = strcasecmp(n, "content-length") == 0; break;
    case 16: drop = strcasecmp(n, "content-encoding") == 0; break;
    case 17: drop = strcasecmp(n, "transfer-encoding") == 0; break;
    default: break;
    }
    return drop || (len >= 11 && strncasecmp(n, "x-tollgate-", 11) == 0);
}

/* --- lifetime ------------------------------------------------------------------------- */

static void timer_stop(struct call *c)
{
    if (h2o_timeout_is_linked(&c->timer))
        h2o_timeout_unlink(&c->timer);
}

/* The whole request reached the provider (a part of one it cannot bill): the own client
 * finished its write; libcurl sent its head and every byte of the body. */
static void note_request_sent(struct call *c)
{
    bool sent = false;
    if (c->is_native) {
        sent = c->h1.is_sent;
    } else {
        long head = 0;
        curl_off_t body = 0;
        curl_easy_getinfo(c->easy, CURLINFO_REQUEST_SIZE, &head);
        curl_easy_getinfo(c->easy, CURLINFO_SIZE_UPLOAD_T, &body);
        sent = head > 0 && (c->route.is_get || body >= (curl_off_t)c->upload.len);
    }
    if (sent)
        c->request_sent = true;
}

/* Cancels a running transfer and drops its reference; c may be freed on return only
 * when the caller holds no other reference. */
static void detach_upstream(struct call *c)
{
    timer_stop(c);
    if (h2o_timeout_is_linked(&c->client_check))
        h2o_timeout_unlink(&c->client_check);
    if (h2o_timeout_is_linked(&c->total))
        h2o_timeout_unlink(&c->total);
    if (c->attached) {
        note_request_sent(c);
        if (c->is_native)
            tg_h1_cancel(&c->h1);
        else
            tg_curlloop_cancel(c->w->curl, c->easy);
        c->attached = false;
        call_release(c);
    }
}

/* The call's SERVER span and its provider call's CLIENT span, queued for the OTLP
 * exporter once the response is complete (never on the response's path). */
static void export_spans(struct call *c)
{
    const struct tg_call_record *r = &c->rec;
    const struct tg_server *srv = c->w->srv;
    int u = c->route.upstream != NULL ? (int)(c->route.upstream - srv->cfg->upstreams) : -1;
    int64_t now = tg_mono_ns();
    struct tg_span_input in = {
        .rec = r,
        .client_span_id = c->fwd_ns != 0 ? c->client_span_id : "",
        .tracestate = c->tracestate,
        .trace_flags = c->trace.flags,
        .parent_is_remote = c->trace.continued,
        .start_ns = c->start_unix_ns,
        .end_ns = c->start_unix_ns + (now - c->start_ns),
        .upstream_start_ns = c->start_unix_ns + (c->fwd_ns - c->start_ns),
        .upstream_end_ns = c->start_unix_ns + ((c->done_ns ? c->done_ns : now) - c->start_ns),
        .genai_provider = tg_otel_provider_name(
            r->provider, c->route.provider != NULL ? c->route.provider->name : "openai"),
        .server_address = u >= 0 ? srv->upstream_addr[u].host : "",
        .server_port = u >= 0 ? srv->upstream_addr[u].port : 0,
        .request_max_tokens = c->info.model[0] != '\0' ? c->info.max_output_tokens : -1,
    };
    struct tg_buf b = {0};
    int n = tg_otel_encode(&in, &b);
    tg_otel_enqueue(c->w->srv->otel, b.base, b.len, n);
    tg_buf_free(&b);
}

/* A worker keeps up to N_CACHE finished calls, with their buffers (the request body,
 * the response headers and body), for the next requests: one call used to cost a 12 KB
 * calloc and a handful of buffer allocations, and their frees. Buffers that grew past
 * CACHE_BUF_MAX are freed. */
#define N_CACHE       ((int)(sizeof((struct tg_worker *)0)->call_cache / sizeof(void *)))
#define CACHE_BUF_MAX (64u << 10)

static void free_bufs(struct call *c)
{
    tg_buf_free(&c->upbody);
    tg_buf_free(&c->reqhead);
    tg_buf_free(&c->resp_hdrs);
    tg_buf_free(&c->partial);
    tg_buf_free(&c->body);
    tg_buf_free(&c->inflight);
}

static struct call *call_alloc(struct tg_worker *w)
{
    if (w->n_call_cache == 0)
        return tg_calloc(1, sizeof(struct call));
    struct call *c = w->call_cache[--w->n_call_cache];
    struct tg_buf keep[6] = {c->upbody, c->resp_hdrs, c->partial, c->body, c->inflight, c->reqhead};
    memset(c, 0, sizeof *c);
    c->upbody = keep[0];
    c->resp_hdrs = keep[1];
    c->partial = keep[2];
    c->body = keep[3];
    c->inflight = keep[4];
    c->reqhead = keep[5];
    return c;
}

static void keep_buf(struct tg_buf *b)
{
    if (b->cap > CACHE_BUF_MAX)
        tg_buf_free(b);
    tg_buf_reset(b);
}

static void call_free(struct call *c)
{
    struct tg_worker *w = c->w;
    if (w->n_call_cache == N_CACHE) {
        free_bufs(c);
        free(c);
        return;
    }
    keep_buf(&c->upbody);
    keep_buf(&c->reqhead);
    keep_buf(&c->resp_hdrs);
    keep_buf(&c->partial);
    keep_buf(&c->body);
    keep_buf(&c->inflight);
    w->call_cache[w->n_call_cache++] = c;
}

void tg_proxy_worker_free(struct tg_worker *w)
{
    while (w->n_call_cache > 0) {
        struct call *c = w->call_cache[--w->n_call_cache];
        free_bufs(c);
        free(c);
    }
}

static void call_release(struct call *c)
{
    if (--c->refs > 0)
        return;
    if (h2o_timeout_is_linked(&c->begin_row))
        h2o_timeout_unlink(&c->begin_row);
    if (c->w->srv->otel != NULL && (c->state == CALL_FINISHED || c->state == CALL_COMMITTED))
        export_spans(c);
    detach_upstream(c);
    if (c->easy != NULL)
        tg_curlloop_easy_put(c->w->curl, c->easy);
    curl_slist_free_all(c->hdrs);
    tg_sse_free(&c->sse);
    free(c->adm);
    free(c->settle);
    struct tg_worker *w = c->w;
    call_free(c);
    tg_worker_call_ended(w);
}

/* h2o's HTTP/1 stops polling a client's socket while its request is handled and polls
 * it again once the response is written: an epoll_ctl each way, two system calls a call
 * (~6% of a worker's time at c=32; nginx makes neither). Instead the socket stays polled
 * without being read (h2o_socket_dont_read: nothing lands in the buffer the request's
 * headers point into). When it turns readable meanwhile (a pipelined request, a hang-up)
 * the polling stops, as h2o would have had it; on_client_check still watches for a
 * hang-up. The request's disposal, which h2o runs before it reads the next request,
 * lets the socket be read again. */
static void on_held_readable(h2o_socket_t *sock, const char *err)
{
    (void)err; /* nothing was read: no error to have */
    h2o_socket_read_stop(sock);
}

static void hold_client(struct call *c, h2o_req_t *req)
{
    if (req->version >= 0x200 || req->conn->callbacks->get_socket == NULL)
        return; /* an HTTP/2 connection's socket serves all its streams */
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || h2o_socket_is_reading(sock))
        return;
    h2o_socket_dont_read(sock, 1);
    h2o_socket_read_start(sock, on_held_readable);
    c->held = sock;
}

/* The request pool is being freed: the response was sent, or the client went away. */
static void on_req_dispose(void *p)
{
    struct call *c = *(struct call **)p;
    if (c->held != NULL) /* h2o still owns it: it closes it, or reads the next request */
        h2o_socket_dont_read(c->held, 0);
    c->held = NULL;
    c->req = NULL;
    if (c->state == CALL_FORWARDING) {
        TG_SETS(c->rec.outcome, "client_aborted");
        TG_SETS(c->rec.error_type, "client_closed");
        if (!c->in_upstream_cb) /* inside a transfer callback the body callback aborts instead */
            finish_call(c);
    }
    call_release(c);
}

static void on_generator_stop(h2o_generator_t *g, h2o_req_t *req)
{
    (void)g;
    (void)req; /* the dispose hook does the work */
}

/* --- responding ----------------------------------------------------------------------- */

static void budget_scope_text(const struct tg_budget_view *v, char *out, size_t n)
{
    snprintf(out, n, "%s:%s/%s", tg_budget_scope_name(v->def.scope), v->value,
             tg_budget_period_name(v->def.period));
}

/* x-tollgate-budget-remaining-usd: the least room left among the budgets that apply;
 * x-tollgate-budget-warning: the first one at or past its soft threshold (or, with action
 * warn, its limit). After the settle (non-streaming responses) the counters include this
 * call's real cost; a stream's headers leave at admission and count its reservation. */
static void set_budget_headers(struct call *c)
{
    const struct tg_budget_view *vs = NULL;
    int n = 0;
    int64_t own = 0;
    if (c->settle != NULL && c->settle->n > 0) {
        vs = c->settle->views;
        n = c->settle->n;
    } else if (c->adm != NULL && c->adm->n > 0) {
        vs = c->adm->views;
        n = c->adm->n;
        own = c->adm->verdict == TG_BUDGET_BLOCKED ? 0 : c->adm->holds[0].nanos;
    }
    int64_t least = INT64_MAX;
    int warn = -1;
    for (int i = 0; i < n; i++) {
        const struct tg_budget_def *d = &vs[i].def;
        int64_t used = vs[i].spent_nanos + vs[i].reserved_nanos + own;
        if (d->limit_nanos - used < least)
            least = d->limit_nanos - used;
        if (warn < 0 && ((d->soft_pct > 0 && used * 100 >= d->limit_nanos * d->soft_pct) ||
                         used > d->limit_nanos))
            warn = i;
    }
    if (n == 0)
        return;
    char usd[32], scope[300], text[400];
    tg_money_format_usd(least > 0 ? least : 0, usd, sizeof usd);
    add_hdr(c->req, "x-tollgate-budget-remaining-usd", usd, strlen(usd));
    if (warn >= 0) {
        const struct tg_budget_view *v = &vs[warn];
        int64_t used = v->spent_nanos + v->reserved_nanos + own;
        budget_scope_text(v, scope, sizeof scope);
        tg_money_format_usd(v->def.limit_nanos, usd, sizeof usd);
        snprintf(text, sizeof text, "%s %lld%% of %s USD", scope,
                 (long long)(used * 100 / v->def.limit_nanos), usd);
        add_hdr(c->req, "x-tollgate-budget-warning", text, strlen(text));
    }
}

/* What the gateway itself added so far: everything since the request arrived except the
 * wait on the provider (until its answer ended, or for a stream until its first byte). */
static int64_t overhead_us(const struct call *c)
{
    int64_t now = tg_mono_ns(), waited = 0;
    if (c->fwd_ns != 0)
        waited = (c->done_ns ? c->done_ns : c->fb_ns ? c->fb_ns : now) - c->fwd_ns;
    return (now - c->start_ns - waited) / 1000;
}

static void set_common_headers(struct call *c)
{
    h2o_req_t *req = c->req;
    char tp[56], ms[32], *m = ms + sizeof ms;
    int64_t us = overhead_us(c);
    tg_metrics_observe(c->w->srv->metrics, TG_HIST_OVERHEAD, c->rec.provider, us);
    uint64_t v = us > 0 ? (uint64_t)us : 0; /* milliseconds with 3 decimals, by hand */
    for (int i = 0; i < 3; i++, v /= 10)
        *--m = (char)('0' + v % 10);
    *--m = '.';
    do
        *--m = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    add_hdr(req, "x-tollgate-overhead-ms", m, (size_t)(ms + sizeof ms - m));
    add_hdr(req, "x-request-id", c->rec.request_id, strlen(c->rec.request_id));
    add_hdr(req, "x-tollgate-call-id", c->rec.call_id, strlen(c->rec.call_id));
    tg_trace_format(c->trace.trace_id, c->trace.span_id, c->trace.flags, tp);
    add_hdr(req, "traceparent", tp, strlen(tp));
    if (c->attr_missing[0] != '\0')
        add_hdr(req, "x-tollgate-attribution-missing", c->attr_missing, strlen(c->attr_missing));
    if (c->rec.usage.response_model[0] != '\0')
        add_hdr(req, "x-tollgate-model", c->rec.usage.response_model,
                strlen(c->rec.usage.response_model));
    set_budget_headers(c);
}

/* Non-streaming responses say what the call cost (a stream's headers leave before its
 * usage is known): exact decimal USD, or "unpriced" when no rate-card row applies. */
static void set_cost_header(struct call *c)
{
    char usd[32];
    if (c->rec.is_priced)
        tg_money_format_usd(c->rec.cost_nanos, usd, sizeof usd);
    else
        snprintf(usd, sizeof usd, "unpriced");
    add_hdr(c->req, "x-tollgate-cost-usd", usd, strlen(usd));
}

/* Set first among a response's headers: room for the provider's and the gateway's at
 * once, where h2o's vector would grow from 4 to 8 to 16 entries, copying each time */
#define RESPONSE_HEADERS 16

static void set_upstream_headers(struct call *c)
{
    h2o_vector_reserve(&c->req->pool, &c->req->res.headers,
                       c->req->res.headers.size + RESPONSE_HEADERS);
    const char *p = c->resp_hdrs.base, *end = p + c->resp_hdrs.len;
    while (p != NULL && p < end) {
        const char *name = p;
        size_t nlen = strlen(name);
        const char *val = name + nlen + 1;
        size_t vlen = strlen(val);
        p = val + vlen + 1;
        /* x-request-id is the caller's business id (DESIGN.md); the provider's own id is
         * kept under another name and in the ledger's provider_request_id */
        if (nlen == 12 && strcmp(name, "x-request-id") == 0)
            add_hdr(c->req, "x-tollgate-provider-request-id", val, vlen);
        else if (!is_dropped_response_header(name, nlen))
            put_hdr(c->req, name, nlen, true, val, vlen);
    }
}

static void on_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    struct call *c = (struct call *)g;
    (void)req;
    c->sending = false;
    tg_buf_reset(&c->inflight);
    if (c->final_sent)
        return;
    if (c->paused && c->attached) {
        c->paused = false;
        if (c->is_native) {
            tg_h1_resume(&c->h1); /* delivers from the next pass of the loop */
        } else {
            c->in_upstream_cb = true;
            curl_easy_pause(c->easy, CURLPAUSE_CONT); /* may call the write callback at once */
            c->in_upstream_cb = false;
        }
    }
    flush_stream(c);
}

static void start_stream_response(struct call *c)
{
    h2o_req_t *req = c->req;
    req->res.status = (int)c->status;
    req->res.reason = "OK";
    set_upstream_headers(c);
    set_common_headers(c);
    c->gen.proceed = on_proceed;
    c->gen.stop = on_generator_stop;
    h2o_start_response(req, &c->gen);
    c->started = true;
}

/* Streaming: hand pending bytes to h2o (one send outstanding at a time). */
static void flush_stream(struct call *c)
{
    if (c->req == NULL || c->sending || c->final_sent)
        return;
    if (c->body.len == 0 && !c->final_ready)
        return;
    if (!c->started)
        start_stream_response(c);
    struct tg_buf t = c->inflight;
    c->inflight = c->body;
    c->body = t;
    tg_buf_reset(&c->body);
    h2o_iovec_t v = h2o_iovec_init(c->inflight.base, c->inflight.len);
    h2o_send_state_t st = H2O_SEND_STATE_IN_PROGRESS;
    if (c->final_ready) {
        st = c->final_is_error ? H2O_SEND_STATE_ERROR : H2O_SEND_STATE_FINAL;
        c->final_sent = true;
    }
    c->sending = true;
    h2o_send(c->req, &v, v.len ? 1 : 0, st);
}

static void send_buffered(struct call *c)
{
    h2o_req_t *req = c->req;
    req->res.status = c->resp_status;
    req->res.reason = c->resp_status == 200 ? "OK" : "Error";
    set_upstream_headers(c);
    if (c->content_type[0] == '\0' || c->resp_status != (int)c->status)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       H2O_STRLIT("application/json"));
    set_common_headers(c);
    set_cost_header(c);
    req->res.content_length = c->body.len;
    c->gen.proceed = on_proceed;
    c->gen.stop = on_generator_stop;
    h2o_start_response(req, &c->gen);
    c->started = true;
    c->final_sent = true;
    c->sending = true;
    h2o_iovec_t v = h2o_iovec_init(c->body.base, c->body.len);
    h2o_send(req, &v, v.len ? 1 : 0, H2O_SEND_STATE_FINAL);
}

/* Worker thread: the row is durable, the response may complete. */
static void on_committed(struct call *c)
{
    c->state = CALL_COMMITTED;
    if (c->req != NULL) {
        if (c->is_sse) {
            c->final_ready = true; /* the rest of the stream and its end (or an abort) */
            flush_stream(c);
        } else {
            send_buffered(c);
        }
    }
    call_release(c); /* the ledger's reference */
}

void tg_proxy_on_ledger_messages(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    (void)rx;
    while (!h2o_linklist_is_empty(messages)) {
        struct call *c = H2O_STRUCT_FROM_MEMBER(struct call, msg.link, messages->next);
        h2o_linklist_unlink(&c->msg.link);
        on_committed(c);
    }
}

static void on_begin_row(h2o_timeout_entry_t *e)
{
    struct call *c = (struct call *)((char *)e - offsetof(struct call, begin_row));
    if (c->state == CALL_FORWARDING)
        tg_ledger_begin(c->w->srv->ledger, &c->rec);
}

static void on_journaled(h2o_timeout_entry_t *e)
{
    on_committed((struct call *)((char *)e - offsetof(struct call, journaled)));
}

/* Ledger writer thread. */
static void on_ledger_commit(void *ud, int ok)
{
    struct call *c = ud;
    if (!ok)
        tg_error("event=ledger_commit_failed call_id=%s", c->rec.call_id);
    h2o_multithread_send_message(&c->w->ledger_rx, &c->msg);
}

/* --- finishing a call ----------------------------------------------------------------- */

/* Spend is never dropped: when the provider's usage is missing, count what we can. */
static void estimate_usage(struct call *c)
{
    struct tg_usage *u = &c->rec.usage;
    if (u->input_tokens == 0 && c->route.op != TG_OP_MODELS) {
        /* ~4 bytes of JSON request per token: an upper-side estimate for chat payloads */
        u->input_tokens = (c->rec.request_bytes + 3) / 4;
        c->rec.usage_estimated = true;
    }
    if (c->data_events > 0 && u->output_tokens < c->data_events) {
        /* providers send about one token per content event */
        u->output_tokens = c->data_events;
        c->rec.usage_estimated = true;
    }
}

/* Pulls the provider's error type out of an error body, in its own dialect. */
static void upstream_error_type(struct call *c)
{
    tg_json_arena_begin();
    cJSON *j = tg_json_parse(c->body.base, c->body.len);
    const cJSON *e = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
    const cJSON *code = e ? cJSON_GetObjectItemCaseSensitive(e, "code") : NULL;
    const cJSON *type = e ? cJSON_GetObjectItemCaseSensitive(e, "type") : NULL;
    if (c->route.provider->dialect == TG_DIALECT_OPENAI && cJSON_IsString(code))
        TG_SETS(c->rec.error_type, code->valuestring);
    else if (cJSON_IsString(type))
        TG_SETS(c->rec.error_type, type->valuestring);
    else
        snprintf(c->rec.error_type, sizeof c->rec.error_type, "http_%ld", c->status);
    tg_json_delete(j);
    tg_json_arena_end();
}

/* Replaces the response with a gateway error in the caller's dialect. */
static void set_gateway_error(struct call *c, int status, const char *type, const char *code,
                              const char *message)
{
    char tg[256];
    snprintf(tg, sizeof tg, "{\"call_id\":\"%s\",\"error\":\"%s\"}", c->rec.call_id, code);
    tg_buf_reset(&c->body);
    c->route.provider->format_error(&c->body, type, code, message, tg);
    c->resp_status = status;
    tg_buf_reset(&c->resp_hdrs);
    c->content_type[0] = '\0';
}

/* Step 7: price by (provider, response model, call date). A call never forwarded, or a
 * model list, costs nothing, and says so; a model no rate-card row knows is unpriced —
 * NULL cost in the ledger, counted and logged — never booked as $0. */
static void price(struct call *c)
{
    struct tg_call_record *r = &c->rec;
    if (r->attempt == 0 || c->route.op == TG_OP_MODELS) {
        r->is_priced = true; /* all components 0 */
        TG_SETS(r->price_ref, r->attempt == 0 ? "not_forwarded" : "no_charge");
        return;
    }
    if (!tg_pricing_cost(c->w->srv->card, r)) {
        long n = __atomic_add_fetch(&c->w->srv->unpriced_calls, 1, __ATOMIC_RELAXED);
        tg_warn("event=unpriced call_id=%s provider=%s model=%s unpriced_total=%ld", r->call_id,
                r->provider,
                r->usage.response_model[0] ? r->usage.response_model : r->request_model, n);
    }
}

/* What the call counts against budgets (docs/BUDGETS.md): its cost when priced, else its
 * usage at the pricing.fallback prices; none when neither exists. Every forwarded call
 * gets one, budgets or not, so a budget created later rebuilds from the ledger exactly. */
static void budget_charge(struct call *c)
{
    struct tg_call_record *r = &c->rec;
    struct tg_price_estimate e;
    r->has_budget_charge = false;
    if (r->attempt == 0)
        return;
    if (r->is_priced) {
        r->has_budget_charge = true;
        r->budget_charge_nanos = r->cost_nanos;
    } else if (tg_pricing_estimate(c->w->srv->card, r->provider,
                                   r->usage.response_model[0] ? r->usage.response_model
                                                              : r->request_model,
                                   r->started_at_ms, r->usage.input_tokens, r->usage.output_tokens,
                                   NULL, &e) == 0) {
        r->has_budget_charge = true;
        r->budget_charge_nanos = e.nanos;
    }
}

static void budget_event(struct call *c, const char *kind, const struct tg_budget_view *v)
{
    struct tg_buf js = {0};
    char ts[25];
    tg_iso8601_ms(tg_now_ms(), ts);
    tg_buf_appendf(&js, "{\"type\":\"%s\",\"at\":\"%s\",\"call_id\":\"%s\",\"budget\":", kind, ts,
                   c->rec.call_id);
    tg_budget_view_json(v, &js);
    tg_buf_appends(&js, "}");
    tg_warn("event=%s detail=%s", kind, js.base);
    tg_webhooks_post(c->w->srv->webhooks, js.base);
    tg_buf_free(&js);
}

/* Step 7b: the reservations become the real charge; thresholds crossed are announced; the
 * row names the budget with the least room left and what it says now. */
static void settle_budgets(struct call *c)
{
    struct tg_budget_admission *a = c->adm;
    struct tg_server *srv = c->w->srv;
    if (a == NULL || a->n == 0 || a->verdict == TG_BUDGET_BLOCKED)
        return;
    c->settle = tg_malloc(sizeof *c->settle);
    srv->budgets->ops->settle(srv->budgets, a->holds, a->n,
                              c->rec.has_budget_charge ? c->rec.budget_charge_nanos : 0,
                              tg_now_ms(), c->settle);
    for (int i = 0; i < c->settle->n_events; i++)
        budget_event(c, c->settle->events[i].kind, &c->settle->events[i].view);
    int64_t least = INT64_MAX;
    const char *decision = "allowed";
    for (int i = 0; i < c->settle->n; i++) {
        const struct tg_budget_view *v = &c->settle->views[i];
        int64_t used = v->spent_nanos + v->reserved_nanos;
        if (v->def.limit_nanos - used < least) {
            least = v->def.limit_nanos - used;
            budget_scope_text(v, c->rec.budget_scope, sizeof c->rec.budget_scope);
        }
        if (used > v->def.limit_nanos)
            decision = "over_limit";
        else if (v->def.soft_pct > 0 && used * 100 >= v->def.limit_nanos * v->def.soft_pct &&
                 strcmp(decision, "allowed") == 0)
            decision = "warning";
    }
    if (c->settle->n > 0)
        TG_SETS(c->rec.budget_decision, decision);
}

/* Counters of the finished call and the provider's latencies (GET /metrics). */
static void observe_call(struct call *c)
{
    struct tg_metrics *m = c->w->srv->metrics;
    if (m == NULL)
        return;
    tg_metrics_call(m, &c->rec);
    if (c->fwd_ns == 0)
        return;
    tg_metrics_observe(m, TG_HIST_UPSTREAM, c->rec.provider, (c->done_ns - c->fwd_ns) / 1000);
    if (c->is_sse && c->fb_ns != 0)
        tg_metrics_observe(m, TG_HIST_TTFT, c->rec.provider, (c->fb_ns - c->fwd_ns) / 1000);
}

/* The upstream part is over (or never started): complete the record and queue it. */
static void finish_call(struct call *c)
{
    struct tg_call_record *r = &c->rec;
    if (c->state == CALL_FINISHED || c->state == CALL_COMMITTED)
        return;
    detach_upstream(c);
    if (h2o_timeout_is_linked(&c->begin_row))
        h2o_timeout_unlink(&c->begin_row);
    c->state = CALL_FINISHED;
    /* the end on the wall clock as the start plus the monotonic time since: one clock read,
     * and a duration a clock step cannot make negative */
    int64_t now = tg_mono_ns();
    r->ended_at_ms = (c->start_unix_ns + (now - c->start_ns)) / 1000000;
    if (r->attempt > 0) {
        if (c->done_ns == 0) /* ended before the provider did: a hang-up, a timeout */
            c->done_ns = now;
        r->upstream_ms = (c->done_ns - c->start_ns) / 1000000;
    }
    if (c->is_sse && c->sst.saw_error && strcmp(r->outcome, "ok") == 0) {
        /* the provider reported its error inside the stream and ended it: relayed as is */
        TG_SETS(r->outcome, "upstream_error");
        TG_SETS(r->error_type, c->sst.error_type[0] ? c->sst.error_type : "stream_error");
    }
    if (c->is_sse && strcmp(r->outcome, "ok") == 0 && !c->sst.saw_terminal) {
        TG_SETS(r->outcome, "upstream_error");
        TG_SETS(r->error_type, "stream_truncated");
        c->final_is_error = true;
    }
    if (r->status_code == 0)
        r->status_code = c->resp_status;
    bool usage_complete = c->rec.usage.has_usage && (!c->is_sse || c->sst.saw_terminal);
    bool provider_error = c->status != 0 && (c->status < 200 || c->status >= 300);
    if (c->request_sent && !usage_complete && !provider_error && c->route.op != TG_OP_MODELS)
        estimate_usage(c);
    r->response_bytes = c->is_sse ? c->relayed_bytes : (int64_t)c->body.len;
    price(c);
    budget_charge(c);
    settle_budgets(c);
    observe_call(c);
    c->refs++; /* held by the ledger until the row is durable */
    if (tg_ledger_finish_journaled(c->w->srv->ledger, c->w->journal, r, on_ledger_commit, c)) {
        /* durable now; completing the response from inside a curl or timer callback
         * could free the call under its caller: do it on the loop's zero timeout */
        c->journaled.cb = on_journaled;
        h2o_timeout_link(c->w->loop, &c->w->ctx.zero_timeout, &c->journaled);
    }
}

/* --- upstream callbacks (both clients) ------------------------------------------------ */

static void timed_out(struct call *c)
{
    TG_SETS(c->rec.outcome, "upstream_error");
    TG_SETS(c->rec.error_type, "timeout");
    if (c->is_sse && c->started) {
        c->final_is_error = true;
    } else {
        c->is_sse = false;
        set_gateway_error(c, 504, "timeout_error", "timeout",
                          "the provider did not answer within the configured timeout");
        c->rec.status_code = 504;
    }
    finish_call(c);
}

static void on_timer(h2o_timeout_entry_t *e)
{
    timed_out((struct call *)((char *)e - offsetof(struct call, timer)));
}

static void on_total_timer(h2o_timeout_entry_t *e)
{
    timed_out((struct call *)((char *)e - offsetof(struct call, total)));
}

/* h2o (HTTP/1) does not read a client's socket while its request is being handled, so a
 * hang-up before the response starts would only be seen when the response is written —
 * after the provider finished and billed. Every 250 ms a waiting call peeks at its
 * client's socket; end-of-file cancels the upstream transfer. */
static void on_client_check(h2o_timeout_entry_t *e)
{
    struct call *c = (struct call *)((char *)e - offsetof(struct call, client_check));
    h2o_socket_t *sock = NULL;
    if (c->req != NULL && c->req->conn->callbacks->get_socket != NULL)
        sock = c->req->conn->callbacks->get_socket(c->req->conn);
    if (sock == NULL || c->state != CALL_FORWARDING || c->started)
        return; /* once a response is under way, its writes notice a hang-up */
    char b;
    ssize_t n = recv(h2o_socket_get_fd(sock), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        TG_SETS(c->rec.outcome, "client_aborted");
        TG_SETS(c->rec.error_type, "client_closed");
        c->final_is_error = c->is_sse;
        finish_call(c); /* cancels the transfer; the response write then fails and h2o disposes */
        return;
    }
    h2o_timeout_link(c->w->loop, &c->w->client_check_timeout, &c->client_check);
}

static void rearm_timer(struct call *c, h2o_timeout_t *which)
{
    timer_stop(c);
    h2o_timeout_link(c->w->loop, which, &c->timer);
}

/* One header of the provider's final response: kept for the client as "name\0value\0",
 * the name in lower case, and read when the row or the relay needs it (found by its
 * length first). */
static void record_header(struct call *c, const char *p, size_t nl, const char *v, size_t vl)
{
    if (nl == 0 || nl >= 128)
        return;
    char *name = tg_buf_extend(&c->resp_hdrs, nl + 1 + vl + 1);
    for (size_t i = 0; i < nl; i++)
        name[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
    name[nl] = '\0';
    memcpy(name + nl + 1, v, vl);
    name[nl + 1 + vl] = '\0';
    bool is_request_id = (nl == 12 && memcmp(name, "x-request-id", 12) == 0) ||
                         (nl == 10 && memcmp(name, "request-id", 10) == 0) ||
                         (nl == 16 && memcmp(name, "x-amzn-requestid", 16) == 0);
    if (is_request_id)
        TG_SET(c->rec.provider_request_id, v, (unsigned long)vl);
    else if (nl == 12 && memcmp(name, "content-type", 12) == 0)
        TG_SET(c->content_type, v, (unsigned long)vl);
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct call *c = ud;
    size_t len = size * n;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a new response (1xx, then final) */
        tg_buf_reset(&c->resp_hdrs);
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (colon == NULL)
        return len;
    const char *v = colon + 1, *end = p + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    record_header(c, p, (size_t)(colon - p), v, (size_t)(end - v));
    return len;
}

static int on_sse_event(void *ud, const struct tg_sse_event *ev)
{
    struct call *c = ud;
    tg_json_arena_begin();
    enum tg_stream_action a = c->route.provider->stream_event(&c->sst, ev, &c->rec.usage);
    tg_json_arena_end();
    size_t n = (size_t)(ev->raw_end - c->partial_start);
    if (n > c->partial.len) /* cannot happen: events tile the bytes fed */
        n = c->partial.len;
    if (a == TG_STREAM_FORWARD) {
        tg_buf_append(&c->body, c->partial.base, n);
        c->relayed_bytes += (int64_t)n;
    }
    if (ev->data_len > 0 && a == TG_STREAM_FORWARD)
        c->data_events++;
    tg_buf_consume(&c->partial, n);
    c->partial_start = ev->raw_end;
    return 0;
}

static void first_byte(struct call *c, int64_t now)
{
    c->got_first_byte = true;
    c->fb_ns = now;
    c->rec.ttft_ms = (c->fb_ns - c->start_ns) / 1000000;
    if (!c->is_native) /* the own client set it with the head */
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status);
    c->rec.status_code = (int)c->status;
    c->resp_status = (int)c->status;
    c->is_sse = c->status >= 200 && c->status < 300 &&
                strncasecmp(c->content_type, "text/event-stream", 17) == 0;
    if (c->is_sse)
        tg_sse_init(&c->sse, MAX_SSE_EVENT);
}

/* Body bytes from the provider. Returns TG_H1_TAKE, TG_H1_PAUSE (backpressure: the same
 * bytes come again once resumed) or TG_H1_STOP (abort the transfer). */
static enum tg_h1_take take_body(struct call *c, const char *p, size_t len)
{
    if (c->req == NULL)
        return TG_H1_STOP; /* client gone */
    c->request_sent = true;
    if (!c->got_first_byte)
        first_byte(c, tg_mono_ns());
    rearm_timer(c, &c->w->idle_timeout);
    if (!c->is_sse) {
        if (c->body.len + len > (size_t)c->w->srv->cfg->max_response_bytes) {
            c->is_too_large = true;
            return TG_H1_STOP;
        }
        tg_buf_append(&c->body, p, len);
        return TG_H1_TAKE;
    }
    if (c->body.len + c->partial.len > (size_t)c->w->srv->cfg->stream_buffer_bytes) {
        c->paused = true; /* backpressure: resumed from on_proceed */
        timer_stop(c);
        return TG_H1_PAUSE;
    }
    tg_buf_append(&c->partial, p, len);
    int rc = tg_sse_feed(&c->sse, p, len, on_sse_event, c);
    if (rc != 0)
        return TG_H1_STOP;
    if (c->rec.usage.response_model[0] != '\0' || c->body.len > 0) {
        c->in_upstream_cb = true;
        flush_stream(c);
        c->in_upstream_cb = false;
    }
    return c->req == NULL ? TG_H1_STOP : TG_H1_TAKE;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    size_t len = size * n;
    switch (take_body(ud, p, len)) {
    case TG_H1_TAKE: return len;
    case TG_H1_PAUSE: return CURL_WRITEFUNC_PAUSE;
    default: return 0; /* CURLE_WRITE_ERROR */
    }
}

/* How an upstream transfer ended, whichever client carried it. */
enum up_end { UP_OK, UP_TIMEOUT, UP_CONNECT, UP_STOPPED, UP_IO };

/* The transfer ended: complete the record (detail: the client's words for a failure). */
static void upstream_ended(struct call *c, enum up_end how, const char *detail)
{
    struct tg_call_record *r = &c->rec;
    note_request_sent(c);
    c->attached = false;
    timer_stop(c);
    if (h2o_timeout_is_linked(&c->total))
        h2o_timeout_unlink(&c->total);
    if (c->state != CALL_FORWARDING) {
        call_release(c);
        return;
    }
    /* the provider is done: what follows (reading the answer's usage, pricing, the
     * journal) is the gateway's own time, in x-tollgate-overhead-ms and not upstream_ms */
    c->done_ns = tg_mono_ns();
    if (!c->got_first_byte && how == UP_OK)
        first_byte(c, c->done_ns); /* an empty body */
    if (c->req == NULL) {
        TG_SETS(r->outcome, "client_aborted");
        TG_SETS(r->error_type, "client_closed");
    } else if (how != UP_OK) {
        const char *et = how == UP_TIMEOUT                      ? "timeout"
                         : how == UP_CONNECT                    ? "connect_error"
                         : how == UP_STOPPED && c->is_too_large ? "response_too_large"
                                                                : "upstream_io_error";
        TG_SETS(r->outcome, "upstream_error");
        TG_SETS(r->error_type, c->is_sse && c->got_first_byte ? "stream_truncated" : et);
        if (c->is_sse && c->started) {
            c->final_is_error = true;
        } else {
            bool is_timeout = how == UP_TIMEOUT;
            c->is_sse = false;
            char msg[600];
            if (c->is_too_large)
                snprintf(msg, sizeof msg,
                         "upstream %s: the answer is longer than limits.max_response_bytes (%lld)",
                         c->route.upstream->name, (long long)c->w->srv->cfg->max_response_bytes);
            else
                snprintf(msg, sizeof msg, "upstream %s: %s", c->route.upstream->name, detail);
            set_gateway_error(c, is_timeout ? 504 : 502, is_timeout ? "timeout_error" : "api_error",
                              et, msg);
            r->status_code = c->resp_status;
        }
    } else if (c->status < 200 || c->status >= 300) {
        TG_SETS(r->outcome, "upstream_error");
        upstream_error_type(c);
    } else if (!c->is_sse) {
        tg_json_arena_begin();
        int prc = c->route.provider->parse_response(c->route.op, c->body.base ? c->body.base : "",
                                                    c->body.len, &r->usage);
        tg_json_arena_end();
        if (prc != 0) {
            TG_SETS(r->outcome, "upstream_error");
            TG_SETS(r->error_type, "malformed_response");
            set_gateway_error(c, 502, "api_error", "malformed_response",
                              "the provider returned a response that is not valid JSON");
            r->status_code = 502;
            r->usage_estimated = true;
            estimate_usage(c);
        }
    } else if (tg_sse_finish(&c->sse, on_sse_event, c) != 0 || tg_sse_has_partial(&c->sse)) {
        c->sst.saw_terminal = false; /* bytes after the last complete event: cut mid-event */
    }
    finish_call(c);
    call_release(c); /* the transfer's reference */
}

static void on_upstream_done(struct tg_transfer *t, CURLcode rc)
{
    struct call *c = (struct call *)((char *)t - offsetof(struct call, xfer));
    enum up_end how = rc == CURLE_OK                   ? UP_OK
                      : rc == CURLE_OPERATION_TIMEDOUT ? UP_TIMEOUT
                      : (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
                          ? UP_CONNECT
                      : rc == CURLE_WRITE_ERROR ? UP_STOPPED
                                                : UP_IO;
    upstream_ended(c, how, curl_easy_strerror(rc));
}

/* The own client's callbacks (h1client.h). */
static void on_h1_head(struct tg_h1_transfer *t, const struct tg_h1_head *head)
{
    struct call *c = (struct call *)((char *)t - offsetof(struct call, h1));
    c->status = head->status;
    for (size_t i = 0; i < head->n_headers; i++)
        record_header(c, head->headers[i].name, head->headers[i].name_len, head->headers[i].value,
                      head->headers[i].value_len);
}

static enum tg_h1_take on_h1_body(struct tg_h1_transfer *t, const char *p, size_t n)
{
    return take_body((struct call *)((char *)t - offsetof(struct call, h1)), p, n);
}

static void on_h1_done(struct tg_h1_transfer *t, enum tg_h1_result res, const char *msg)
{
    struct call *c = (struct call *)((char *)t - offsetof(struct call, h1));
    static const enum up_end how[] = {
        [TG_H1_OK] = UP_OK,
        [TG_H1_CONNECT_FAILED] = UP_CONNECT,
        [TG_H1_CONNECT_TIMEOUT] = UP_TIMEOUT,
        [TG_H1_IO_ERROR] = UP_IO,
        [TG_H1_BAD_RESPONSE] = UP_IO,
        [TG_H1_ABORTED] = UP_STOPPED,
    };
    upstream_ended(c, how[res], msg);
}

/* --- starting a call ------------------------------------------------------------------ */

static const char *hdr_value(h2o_req_t *req, const char *name, size_t *len)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (i < 0)
        return NULL;
    *len = req->headers.entries[i].value.len;
    return req->headers.entries[i].value.base;
}

static struct call *call_new(struct tg_worker *w, h2o_req_t *req)
{
    struct call *c = call_alloc(w);
    c->w = w;
    c->req = req;
    c->refs = 1;
    c->start_ns = tg_mono_ns();
    c->start_unix_ns = tg_now_ns(); /* the span's start, and the row's started_at below */
    c->timer.cb = on_timer;
    c->client_check.cb = on_client_check;
    w->active_calls++;
    struct call **slot = h2o_mem_alloc_shared(&req->pool, sizeof *slot, on_req_dispose);
    *slot = c;
    hold_client(c, req);
    struct tg_call_record *r = &c->rec;
    r->started_at_ms = c->start_unix_ns / 1000000;
    r->ttft_ms = -1;
    r->upstream_ms = -1;
    tg_uuid7(r->started_at_ms, r->call_id);
    TG_SETS(r->outcome, "ok");
    r->request_bytes = (int64_t)req->entity.len;
    return c;
}

/* Step 3 of the request path: trace context, then who caused the call (headers,
 * aliases, baggage, the virtual key's defaults). Runs before any refusal so refused
 * calls are attributed too, and again once a virtual key supplied its defaults. */
static void attribute(struct call *c, h2o_req_t *req, const struct tg_identity_defaults *key)
{
    struct tg_header hs[128];
    struct tg_baggage bg;
    size_t nh = 0;
    int ntp = 0;
    const h2o_header_t *tp = NULL, *ts = NULL;
    bg.n = bg.dropped = 0;
    for (size_t i = 0; i < req->headers.size && nh < 128; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        hs[nh].name = h->name->base;
        hs[nh].orig_name = h->orig_name;
        hs[nh].name_len = h->name->len;
        hs[nh].value = h->value.base;
        hs[nh++].value_len = h->value.len;
        if (iov_eq(*h->name, "traceparent")) {
            tp = h;
            ntp++;
        } else if (iov_eq(*h->name, "tracestate")) {
            ts = h;
        } else if (iov_eq(*h->name, "baggage")) {
            tg_baggage_parse(h->value.base, h->value.len, &bg);
        }
    }
    if (c->trace.trace_id[0] == '\0') { /* the trace is decided once, on the first pass */
        struct tg_traceparent caller;
        uint8_t rnd[32]; /* 24 for the trace and the gateway span, 8 for the client span */
        bool valid = ntp == 1 && tg_trace_parse(tp->value.base, tp->value.len, &caller);
        tg_random_bytes(rnd, sizeof rnd);
        tg_trace_continue(&caller, valid, rnd, &c->trace);
        if (valid && ts != NULL && ts->value.len < sizeof c->tracestate)
            TG_SET(c->tracestate, ts->value.base, ts->value.len);
        TG_SETS(c->rec.trace_id, c->trace.trace_id);
        TG_SETS(c->rec.span_id, c->trace.span_id);
        TG_SETS(c->rec.parent_span_id, c->trace.parent_span_id);
        const uint8_t *sid = rnd + 24;
        if (memcmp(sid, "\0\0\0\0\0\0\0\0", 8) == 0)
            rnd[31] = 1; /* an all-zero span id is invalid (W3C) */
        static const char hex[] = "0123456789abcdef";
        for (int i = 0; i < 8; i++) {
            c->client_span_id[2 * i] = hex[sid[i] >> 4];
            c->client_span_id[2 * i + 1] = hex[sid[i] & 15];
        }
        c->client_span_id[16] = '\0';
    }
    if (c->generated_rid[0] == '\0')
        tg_uuid7(c->rec.started_at_ms, c->generated_rid);
    const struct tg_identity_defaults *route = NULL;
    if (c->route.upstream != NULL)
        route = &c->w->srv->route_defaults[c->route.upstream - c->w->srv->cfg->upstreams];
    tg_identity_resolve(&c->w->srv->identity, hs, nh, &bg, key, route,
                        c->w->maps ? c->w->maps->m : NULL, c->generated_rid, &c->rec);
}

/* A call the gateway answers itself (never forwarded): record and respond. */
static void refuse(struct call *c, int status, const char *type, const char *code, const char *msg)
{
    TG_SETS(c->rec.outcome, "refused");
    TG_SETS(c->rec.error_type, code);
    set_gateway_error(c, status, type, code, msg);
    c->rec.status_code = status;
    finish_call(c);
}

static void add_upstream_header(struct call *c, const char *name, size_t nl, const char *v,
                                size_t vl)
{
    if (c->is_native) {
        char *line = tg_buf_extend(&c->reqhead, nl + 2 + vl + 2);
        memcpy(line, name, nl);
        memcpy(line + nl, ": ", 2);
        memcpy(line + nl + 2, v, vl);
        memcpy(line + nl + 2 + vl, "\r\n", 2);
        return;
    }
    char line[8192];
    if (nl + vl + 3 > sizeof line)
        return;
    memcpy(line, name, nl);
    line[nl] = ':';
    line[nl + 1] = ' ';
    memcpy(line + nl + 2, v, vl);
    line[nl + 2 + vl] = '\0';
    c->hdrs = curl_slist_append(c->hdrs, line);
}

static void build_upstream_headers(struct call *c, h2o_req_t *req)
{
    bool has_auth = false;
    for (size_t i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (is_hop_header(*h->name) || is_internal_header(&c->w->srv->identity, *h->name))
            continue;
        bool is_auth = iov_eq(*h->name, "authorization") || iov_eq(*h->name, "x-api-key");
        if (is_auth && c->is_virtual_key)
            continue; /* the virtual key never leaves the gateway */
        if (is_auth)
            has_auth = true;
        add_upstream_header(c, h->name->base, h->name->len, h->value.base, h->value.len);
    }
    if (!c->is_native)
        c->hdrs = curl_slist_append(c->hdrs, "Expect:"); /* no 100-continue round trip */
    char tp[56];
    tg_trace_format(c->trace.trace_id, c->client_span_id, c->trace.flags, tp);
    add_upstream_header(c, "traceparent", 11, tp, strlen(tp));
    if (c->tracestate[0] != '\0')
        add_upstream_header(c, "tracestate", 10, c->tracestate, strlen(c->tracestate));
    if (!has_auth && c->route.upstream->api_key_env[0] != '\0') {
        const char *key = getenv(c->route.upstream->api_key_env);
        if (key != NULL && key[0] != '\0') {
            char bearer[1024];
            if (c->route.provider->dialect == TG_DIALECT_ANTHROPIC) {
                add_upstream_header(c, "x-api-key", 9, key, strlen(key));
            } else {
                int n = snprintf(bearer, sizeof bearer, "Bearer %s", key);
                if (n > 0 && (size_t)n < sizeof bearer)
                    add_upstream_header(c, "Authorization", 13, bearer, (size_t)n);
            }
        }
    }
}

/* The own client (h1client.h): the request line and headers written here. */
static int start_native(struct call *c, h2o_req_t *req, const char *q, size_t qlen)
{
    const struct tg_server *srv = c->w->srv;
    int u = (int)(c->route.upstream - srv->cfg->upstreams);
    struct tg_buf *h = &c->reqhead;
    c->is_native = true;
    /* appended piece by piece: formatting this with printf cost ~5k instructions a call */
    tg_buf_appends(h, c->route.is_get ? "GET " : "POST ");
    tg_buf_appends(h, srv->upstream_addr[u].path_prefix);
    tg_buf_appends(h, c->route.endpoint);
    tg_buf_append(h, q, qlen);
    tg_buf_append(h, " HTTP/1.1\r\nHost: ", 17);
    tg_buf_appends(h, srv->upstream_addr[u].host_header);
    tg_buf_append(h, "\r\n", 2);
    build_upstream_headers(c, req);
    if (!c->route.is_get) {
        char digits[24], *d = digits + sizeof digits;
        size_t n = c->upload.len;
        do
            *--d = (char)('0' + n % 10);
        while ((n /= 10) > 0);
        add_upstream_header(c, "Content-Length", 14, d, (size_t)(digits + sizeof digits - d));
    }
    tg_buf_append(h, "\r\n", 2);
    c->h1.on_head = on_h1_head;
    c->h1.on_body = on_h1_body;
    c->h1.on_done = on_h1_done;
    c->fwd_ns = tg_mono_ns();
    tg_h1_start(c->w->h1, &c->h1, &srv->upstream_addr[u].origin,
                h2o_iovec_init(c->reqhead.base, c->reqhead.len),
                c->route.is_get ? h2o_iovec_init("", 0) : c->upload);
    c->total.cb = on_total_timer; /* libcurl enforces CURLOPT_TIMEOUT_MS itself */
    h2o_timeout_link(c->w->loop, &c->w->total_timeout, &c->total);
    return 0;
}

static int start_curl(struct call *c, h2o_req_t *req, const char *q, size_t qlen)
{
    const struct tg_config *cfg = c->w->srv->cfg;
    char url[2048];
    snprintf(url, sizeof url, "%s%s%.*s", c->route.upstream->base_url, c->route.endpoint, (int)qlen,
             q);
    build_upstream_headers(c, req);
    CURL *e = c->easy = tg_curlloop_easy_get(c->w->curl);
    c->xfer.on_done = on_upstream_done;
    CURLU *parsed = tg_curlloop_url(c->w->curl, url);
    if (parsed != NULL)
        curl_easy_setopt(e, CURLOPT_CURLU, parsed);
    else
        curl_easy_setopt(e, CURLOPT_URL, url);
    if (c->route.is_get) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->upload.base);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->upload.len);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_PRIVATE, &c->xfer);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cfg->total_timeout_ms);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     strncmp(url, "https:", 6) == 0 ? (long)CURL_HTTP_VERSION_2TLS
                                                    : (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    if (!c->w->srv->env_proxy)
        curl_easy_setopt(e, CURLOPT_PROXY, ""); /* direct; no getenv on every call */
    c->fwd_ns = tg_mono_ns();
    return tg_curlloop_start(c->w->curl, e);
}

static void forward(struct call *c, h2o_req_t *req)
{
    size_t qlen = 0;
    const char *q = "";
    if (req->query_at != SIZE_MAX) {
        q = req->path.base + req->query_at;
        qlen = req->path.len - req->query_at;
    }
    c->rec.attempt = 1;
    c->state = CALL_FORWARDING;
    /* a fast call writes one row (its final one); one still running after 50 ms gets an
     * 'incomplete' row first, which stays if the process dies */
    c->begin_row.cb = on_begin_row;
    h2o_timeout_link(c->w->loop, &c->w->begin_row_timeout, &c->begin_row);
    int u = (int)(c->route.upstream - c->w->srv->cfg->upstreams);
    int rc = c->w->srv->upstream_addr[u].is_native ? start_native(c, req, q, qlen)
                                                   : start_curl(c, req, q, qlen);
    if (rc != 0) {
        TG_SETS(c->rec.outcome, "gateway_error");
        TG_SETS(c->rec.error_type, "upstream_start_failed");
        set_gateway_error(c, 502, "api_error", "upstream_start_failed",
                          "could not start the upstream request");
        c->rec.status_code = 502;
        finish_call(c);
        return;
    }
    c->attached = true;
    c->refs++; /* held by the running transfer */
    rearm_timer(c, &c->w->first_byte_timeout);
    h2o_timeout_link(c->w->loop, &c->w->client_check_timeout, &c->client_check);
}

/* The key the caller presented: Bearer token or x-api-key (either API family). */
static bool presented_key(h2o_req_t *req, const char **key, size_t *len)
{
    size_t n = 0;
    const char *v = hdr_value(req, "x-api-key", &n);
    if (v != NULL && n > 0) {
        *key = v;
        *len = n;
        return true;
    }
    v = hdr_value(req, "authorization", &n);
    if (v != NULL && n > 7 && strncasecmp(v, "Bearer ", 7) == 0) {
        *key = v + 7;
        *len = n - 7;
        return true;
    }
    return false;
}

/* Step 2 of the request path: a tollgate virtual key is checked and replaced by the
 * credential the gateway holds; any other key passes through (the drop-in default)
 * unless require_virtual_key is set. Returns false when the call was refused. */
static bool authenticate(struct call *c, h2o_req_t *req)
{
    const char *key = NULL;
    size_t len = 0;
    bool has_key = presented_key(req, &key, &len);
    size_t plen = strlen(TG_VKEY_PREFIX);
    if (!has_key || len < plen || memcmp(key, TG_VKEY_PREFIX, plen) != 0) {
        if (!c->w->srv->cfg->require_virtual_key)
            return true;
        refuse(c, 401, "authentication_error", "virtual_key_required",
               "this gateway requires a tollgate virtual key (tgk_...) as the API key");
        return false;
    }
    char hash[65];
    tg_keys_hash(key, len, hash);
    const struct tg_vkey *k = c->w->keys ? tg_keyset_find(c->w->keys->ks, hash) : NULL;
    if (k == NULL) {
        refuse(c, 401, "authentication_error", "invalid_api_key", "unknown tollgate virtual key");
        return false;
    }
    TG_SETS(c->rec.key_id, k->key_id);
    if (k->revoked_at_ms != 0) {
        refuse(c, 401, "authentication_error", "revoked_key",
               "this tollgate virtual key was revoked");
        return false;
    }
    if (k->expires_at_ms != 0 && c->rec.started_at_ms >= k->expires_at_ms) {
        refuse(c, 401, "authentication_error", "expired_key",
               "this tollgate virtual key has expired");
        return false;
    }
    const char *env = c->route.upstream->api_key_env;
    const char *cred = env[0] != '\0' ? getenv(env) : NULL;
    if (cred == NULL || cred[0] == '\0') {
        char msg[200];
        snprintf(msg, sizeof msg, "the gateway holds no credential for upstream %s (set %s)",
                 c->route.upstream->name, env[0] ? env : "upstreams.NAME.api_key_env");
        TG_SETS(c->rec.outcome, "gateway_error");
        TG_SETS(c->rec.error_type, "no_provider_credential");
        set_gateway_error(c, 500, "api_error", "no_provider_credential", msg);
        c->rec.status_code = 500;
        finish_call(c);
        return false;
    }
    c->vkey = *k; /* the snapshot may be swapped while the call runs */
    c->is_virtual_key = true;
    struct tg_identity_defaults d;
    memset(&d, 0, sizeof d);
    TG_SETS(d.v[TG_F_TENANT], k->tenant_id);
    TG_SETS(d.v[TG_F_TEAM], k->team);
    TG_SETS(d.v[TG_F_COST_CENTER], k->cost_center);
    TG_SETS(d.v[TG_F_FEATURE], k->feature_id);
    TG_SETS(d.v[TG_F_ENVIRONMENT], k->environment);
    attribute(c, req, &d);
    return true;
}

/* The virtual key's model allow-list, checked once the request body is parsed. */
static bool model_allowed(struct call *c)
{
    if (!c->is_virtual_key || tg_keys_model_allowed(c->vkey.models, c->info.model))
        return true;
    char msg[800];
    snprintf(msg, sizeof msg, "model '%s' is not allowed for this key (allowed: %s)", c->info.model,
             c->vkey.models);
    refuse(c, 403, "permission_error", "model_not_allowed", msg);
    return false;
}

/* Step 4a: the mandatory-attribution policy. enforce: 400 naming each missing field and
 * the header or baggage key that sets it; flag: the call goes through, the row and the
 * response say what was missing. */
static bool attribution_ok(struct call *c)
{
    bool enforce = false;
    unsigned missing =
        tg_identity_missing(&c->w->srv->identity, &c->rec, c->rec.started_at_ms, &enforce);
    if (missing == 0)
        return true;
    struct tg_buf msg = {0}, list = {0};
    tg_identity_missing_message(missing, &msg, &list);
    if (!enforce) {
        TG_SETS(c->attr_missing, list.base);
        /* the row is flagged inside attribution_sources, next to where each field came from */
        size_t n = strlen(c->rec.attribution_sources);
        char flagged[TG_JSON_FIELD_LEN];
        if (n >= 2)
            snprintf(flagged, sizeof flagged, "%.*s,\"missing\":\"%s\"}", (int)(n - 1),
                     c->rec.attribution_sources, list.base);
        else
            snprintf(flagged, sizeof flagged, "{\"missing\":\"%s\"}", list.base);
        TG_SETS(c->rec.attribution_sources, flagged);
    } else {
        TG_SETS(c->rec.outcome, "refused");
        TG_SETS(c->rec.error_type, "missing_attribution");
        struct tg_buf tg = {0};
        tg_buf_appendf(&tg, "{\"call_id\":\"%s\",\"error\":\"missing_attribution\",\"missing\":[",
                       c->rec.call_id);
        const char *p = list.base;
        while (p != NULL && *p != '\0') {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            tg_buf_appendf(&tg, "%s\"%.*s\"", p == list.base ? "" : ",", (int)len, p);
            p = comma ? comma + 1 : NULL;
        }
        tg_buf_appends(&tg, "]}");
        tg_buf_reset(&c->body);
        c->route.provider->format_error(&c->body, "invalid_request_error", "missing_attribution",
                                        msg.base, tg.base);
        c->resp_status = 400;
        c->rec.status_code = 400;
        tg_buf_reset(&c->resp_hdrs);
        c->content_type[0] = '\0';
        tg_buf_free(&tg);
        finish_call(c);
    }
    tg_buf_free(&msg);
    tg_buf_free(&list);
    return !enforce;
}

/* A budget refused the call: 429 in the caller's dialect naming the budget, what it
 * allows, what is spent and reserved, and when it resets; retry-after when it will. */
static void refuse_budget(struct call *c, int64_t estimate)
{
    const struct tg_budget_view *v = &c->adm->views[c->adm->blocker];
    bool rate = v->def.period == TG_BP_MINUTE;
    const char *code = rate ? "spend_rate_exceeded" : "budget_exceeded";
    char scope[300], lim[32], sp[32], rs[32], est[32], reset[40], msg[1024];
    budget_scope_text(v, scope, sizeof scope);
    tg_money_format_usd(v->def.limit_nanos, lim, sizeof lim);
    tg_money_format_usd(v->spent_nanos, sp, sizeof sp);
    tg_money_format_usd(v->reserved_nanos, rs, sizeof rs);
    tg_money_format_usd(estimate, est, sizeof est);
    if (rate)
        snprintf(reset, sizeof reset, "retry in %lld s", (long long)v->retry_after_s);
    else if (v->reset_at_ms > 0) {
        char ts[25];
        tg_iso8601_ms(v->reset_at_ms, ts);
        snprintf(reset, sizeof reset, "resets %s", ts);
    } else
        snprintf(reset, sizeof reset, "it does not reset");
    snprintf(msg, sizeof msg,
             "%s %s exceeded: limit $%s%s, spent $%s, reserved $%s by calls in flight; this call "
             "may cost up to $%s; %s",
             rate ? "spend-rate cap" : "budget", scope, lim, rate ? " per minute" : "", sp, rs, est,
             reset);
    struct tg_buf tg = {0};
    tg_buf_appendf(&tg,
                   "{\"call_id\":\"%s\",\"error\":\"%s\",\"estimate_usd\":\"%s\","
                   "\"retry_after_s\":%lld,\"budget\":",
                   c->rec.call_id, code, est, (long long)v->retry_after_s);
    tg_budget_view_json(v, &tg);
    tg_buf_appends(&tg, "}");
    TG_SETS(c->rec.outcome, "refused");
    TG_SETS(c->rec.error_type, code);
    TG_SETS(c->rec.budget_scope, scope);
    TG_SETS(c->rec.budget_decision, "blocked");
    tg_buf_reset(&c->body);
    c->route.provider->format_error(&c->body, "rate_limit_error", code, msg, tg.base);
    tg_buf_free(&tg);
    c->resp_status = c->rec.status_code = 429;
    tg_buf_reset(&c->resp_hdrs);
    c->content_type[0] = '\0';
    if (v->retry_after_s > 0) {
        char ra[24];
        int n = snprintf(ra, sizeof ra, "%lld", (long long)v->retry_after_s);
        tg_buf_append(&c->resp_hdrs, "retry-after", 12);
        tg_buf_append(&c->resp_hdrs, ra, (size_t)n + 1);
    }
    tg_info("event=budget_refused call_id=%s budget=%s scope=%s", c->rec.call_id, v->def.id, scope);
    if (c->adm->first_block)
        budget_event(c, "budget.exceeded", v);
    finish_call(c);
}

/* Step 4b: reserve an upper estimate of the call's cost on every budget that applies
 * (input from the request size, output from its max_tokens or the configured default,
 * priced by the rate card or the fallback prices); refuse when a hard cap would break. */
static bool admit_budgets(struct call *c)
{
    struct tg_server *srv = c->w->srv;
    const struct tg_config *cfg = srv->cfg;
    if (c->route.op == TG_OP_MODELS || __atomic_load_n(&srv->n_budgets, __ATOMIC_ACQUIRE) == 0)
        return true;
    int64_t in =
        (c->info.input_bytes + cfg->budget_bytes_per_token - 1) / cfg->budget_bytes_per_token;
    int64_t out = c->info.max_output_tokens;
    for (int i = 0; out < 0 && i < cfg->n_budget_model_output; i++)
        if (fnmatch(cfg->budget_model_output[i].model, c->info.model, 0) == 0)
            out = cfg->budget_model_output[i].tokens;
    if (out < 0)
        out = cfg->budget_default_max_output;
    struct tg_price_estimate est;
    int prc = tg_pricing_estimate(srv->card, c->rec.provider, c->info.model, c->rec.started_at_ms,
                                  in, out, NULL, &est);
    int64_t nanos = prc == 0 ? est.nanos : 0;
    struct tg_budget_admission *a = c->adm = tg_malloc(sizeof *c->adm);
    srv->budgets->ops->admit(srv->budgets, &c->rec, nanos, tg_now_ms(), a);
    switch (a->verdict) {
    case TG_BUDGET_NONE:
        free(a);
        c->adm = NULL;
        return true;
    case TG_BUDGET_STORE_ERR:
        TG_SETS(c->rec.budget_decision, "store_unavailable");
        tg_warn("event=budget_store_unavailable call_id=%s action=%s", c->rec.call_id,
                cfg->budget_fail_closed ? "refused" : "allowed");
        if (!cfg->budget_fail_closed)
            return true;
        refuse(c, 503, "api_error", "budget_store_unavailable",
               "the budget store cannot answer and budgets.on_store_error is fail_closed");
        return false;
    case TG_BUDGET_BLOCKED: refuse_budget(c, nanos); return false;
    default: break;
    }
    if (prc != 0) { /* unpriced and no fallback: a budget applies but cannot be counted */
        struct tg_budget_settlement *st = tg_malloc(sizeof *st);
        srv->budgets->ops->settle(srv->budgets, a->holds, a->n, 0, tg_now_ms(), st);
        free(st);
        a->n = 0;
        char scope[300], msg[800];
        budget_scope_text(&a->views[0], scope, sizeof scope);
        snprintf(msg, sizeof msg,
                 "model '%s' has no price in the rate card and pricing.fallback is not set, so "
                 "budget %s cannot be enforced; add a rate-card row or pricing.fallback",
                 c->info.model, scope);
        TG_SETS(c->rec.budget_scope, scope);
        TG_SETS(c->rec.budget_decision, "unpriced");
        refuse(c, 403, "permission_error", "unpriced_model", msg);
        return false;
    }
    budget_scope_text(&a->views[a->tightest], c->rec.budget_scope, sizeof c->rec.budget_scope);
    TG_SETS(c->rec.budget_decision, a->verdict == TG_BUDGET_OVER      ? "over_limit"
                                    : a->verdict == TG_BUDGET_WARNING ? "warning"
                                                                      : "allowed");
    c->rec.has_budget_charge = true; /* the begin row counts the reservation */
    c->rec.budget_charge_nanos = nanos;
    return true;
}

static int send_health(h2o_req_t *req)
{
    static const char body[] = "{\"status\":\"ok\"}";
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_send_inline(req, body, sizeof body - 1);
    return 0;
}

int tg_proxy_on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct tg_worker *w = (struct tg_worker *)req->conn->ctx;
    const struct tg_config *cfg = w->srv->cfg;
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    const char *path = req->path.base;
    struct tg_errbuf eb;
    (void)self;

    if (plen == 8 && memcmp(path, "/healthz", 8) == 0)
        return send_health(req);
    if (plen == 8 && memcmp(path, "/metrics", 8) == 0 && w->srv->metrics != NULL)
        return tg_metrics_page(w, req);
    if (plen >= 7 && memcmp(path, "/admin/", 7) == 0)
        return tg_admin_handle(w, req);

    struct call *c = call_new(w, req);
    enum tg_route_result rr =
        tg_route_match(cfg, req->method.base, req->method.len, path, plen, &c->route);
    if (rr != TG_ROUTE_OK)
        c->route.upstream = NULL;
    attribute(c, req, NULL); /* before any refusal, so refused calls are attributed too */
    if (rr != TG_ROUTE_OK) {
        c->route.provider = tg_route_dialect_for(path, plen);
        TG_SET(c->rec.endpoint, path, plen);
        char msg[300];
        snprintf(msg, sizeof msg, "%.*s %.*s is not a route of this gateway", (int)req->method.len,
                 req->method.base, (int)(plen > 200 ? 200 : plen), path);
        if (rr == TG_ROUTE_BAD_METHOD)
            refuse(c, 405, "invalid_request_error", "method_not_allowed", msg);
        else
            refuse(c, 404, "not_found_error", "unknown_route", msg);
        return 0;
    }
    TG_SETS(c->rec.provider, c->route.upstream->name);
    TG_SETS(c->rec.operation, tg_op_name(c->route.op));
    TG_SETS(c->rec.endpoint, c->route.endpoint);

    int64_t header_bytes = 0;
    for (size_t i = 0; i < req->headers.size; i++)
        header_bytes +=
            (int64_t)(req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4);
    if (header_bytes > cfg->max_header_bytes) {
        char msg[160];
        snprintf(msg, sizeof msg, "request headers of %lld bytes exceed the limit of %lld bytes",
                 (long long)header_bytes, (long long)cfg->max_header_bytes);
        refuse(c, 431, "invalid_request_error", "headers_too_large", msg);
        return 0;
    }
    if ((int64_t)req->entity.len > cfg->max_body_bytes) {
        char msg[160];
        snprintf(msg, sizeof msg, "request body of %zu bytes exceeds the limit of %lld bytes",
                 req->entity.len, (long long)cfg->max_body_bytes);
        refuse(c, 413, "request_too_large", "body_too_large", msg);
        return 0;
    }
    if (!authenticate(c, req))
        return 0;
    if (!c->route.is_get) {
        c->upload = h2o_iovec_init(req->entity.base ? req->entity.base : "", req->entity.len);
        tg_json_arena_begin();
        int rc = c->route.provider->inspect_request(c->route.op, c->upload.base, c->upload.len,
                                                    &c->info, &c->upbody, &eb);
        tg_json_arena_end();
        if (rc != 0) {
            refuse(c, 400, "invalid_request_error", "invalid_json", eb.msg);
            return 0;
        }
        if (c->upbody.len > 0) /* rewritten (stream_options.include_usage injected) */
            c->upload = h2o_iovec_init(c->upbody.base, c->upbody.len);
        TG_SETS(c->rec.request_model, c->info.model);
        c->rec.is_stream = c->info.is_stream;
        c->sst.op = c->route.op;
        c->sst.injected_usage = c->info.injected_usage;
        if (!model_allowed(c))
            return 0;
    }
    if (!attribution_ok(c) || !admit_budgets(c))
        return 0;
    forward(c, req);
    return 0;
}
