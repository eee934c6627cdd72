/* server/metrics_page.c - GET /metrics: the registry, plus the gauges the server owns
 * (ledger queue, span exporter, budgets), in the Prometheus text format 0.0.4 */
#include "core/clock.h"
#include "core/money.h"
#include "server/worker.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static void gauge(struct tg_buf *b, const char *name, const char *type, const char *help, int64_t v)
{
    tg_prom_family(b, name, type, help);
    tg_buf_appendf(b, "%s %lld\n", name, (long long)v);
}

static void exporter_metrics(struct tg_server *srv, struct tg_buf *b)
{
    struct tg_otel_stats st;
    tg_otel_get_stats(srv->otel, &st);
    gauge(b, "tollgate_otlp_spans_exported_total", "counter", "Spans the OTLP receiver accepted.",
          st.exported_spans);
    tg_prom_family(b, "tollgate_otlp_spans_dropped_total", "counter",
                   "Spans never delivered: queue full, rejected by the receiver (non-retryable "
                   "status or partial success), or failed after every retry.");
    tg_buf_appendf(b,
                   "tollgate_otlp_spans_dropped_total{reason=\"queue_full\"} %lld\n"
                   "tollgate_otlp_spans_dropped_total{reason=\"rejected\"} %lld\n"
                   "tollgate_otlp_spans_dropped_total{reason=\"failed\"} %lld\n",
                   (long long)st.dropped_queue_full, (long long)st.dropped_rejected,
                   (long long)st.dropped_failed);
    gauge(b, "tollgate_otlp_export_retries_total", "counter",
          "Export requests retried after 429/502/503/504 or no answer.", st.retries);
    gauge(b, "tollgate_otlp_queue_spans", "gauge", "Spans waiting for export.", st.queued_spans);
}

/* The own HTTP/1.1 client's connections, summed over the workers. */
static void upstream_connection_metrics(struct tg_server *srv, struct tg_buf *b)
{
    struct tg_h1_stats sum = {0}, one;
    for (int i = 0; i < srv->n_workers; i++) {
        if (srv->workers[i].h1 == NULL)
            continue;
        tg_h1client_stats(srv->workers[i].h1, &one);
        sum.opened += one.opened;
        sum.reused += one.reused;
        sum.retried += one.retried;
        sum.expired += one.expired;
    }
    tg_prom_family(b, "tollgate_upstream_connections_total", "counter",
                   "Connections of the own HTTP/1.1 client (plain-HTTP upstreams; libcurl's are "
                   "not counted): opened, reused from the pool, retried after a pooled one "
                   "failed at once, expired after idling too long.");
    tg_buf_appendf(b,
                   "tollgate_upstream_connections_total{event=\"opened\"} %llu\n"
                   "tollgate_upstream_connections_total{event=\"reused\"} %llu\n"
                   "tollgate_upstream_connections_total{event=\"retried\"} %llu\n"
                   "tollgate_upstream_connections_total{event=\"expired\"} %llu\n",
                   (unsigned long long)sum.opened, (unsigned long long)sum.reused,
                   (unsigned long long)sum.retried, (unsigned long long)sum.expired);
}

static int64_t usd_nanos(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    int64_t n = 0;
    if (cJSON_IsString(v) && tg_money_parse_decimal(v->valuestring, 9, &n) == 0)
        return n;
    return 0;
}

/* One series per live budget counter (budgets list), at most max_label_values of them. */
static void budget_metrics(struct tg_server *srv, struct tg_buf *b)
{
    static const struct {
        const char *name, *help;
    } fam[] = {
        {"tollgate_budget_limit_usd", "The budget's limit in USD."},
        {"tollgate_budget_spent_usd", "Spent in the current period, in USD."},
        {"tollgate_budget_reserved_usd", "Reserved by calls in flight, in USD."},
        {"tollgate_budget_utilization_ratio", "Spent over limit in the current period."},
    };
    if (__atomic_load_n(&srv->n_budgets, __ATOMIC_ACQUIRE) == 0)
        return;
    struct tg_buf js = {0}, lines[4] = {{0}};
    srv->budgets->ops->list_json(srv->budgets, tg_now_ms(), &js);
    cJSON *arr = js.len ? cJSON_ParseWithLength(js.base, js.len) : NULL;
    int n = 0, omitted = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (n == (int)srv->cfg->metrics_max_label_values) {
            omitted++;
            continue;
        }
        n++;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        const cJSON *period = cJSON_GetObjectItemCaseSensitive(it, "period");
        const cJSON *scope = cJSON_GetObjectItemCaseSensitive(it, "scope");
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(it, "value");
        if (!cJSON_IsString(id) || !cJSON_IsString(period) || !cJSON_IsString(scope) ||
            !cJSON_IsString(value))
            continue;
        /* the counter's own scope: "workflow:run-42" for a "workflow:*" budget */
        char sc[300];
        const char *colon = strchr(scope->valuestring, ':');
        snprintf(sc, sizeof sc, "%.*s:%s", (int)(colon ? colon - scope->valuestring : 0),
                 scope->valuestring, value->valuestring);
        int64_t limit = usd_nanos(it, "limit_usd"), spent = usd_nanos(it, "spent_usd");
        int64_t v[4] = {limit, spent, usd_nanos(it, "reserved_usd"), 0};
        /* the ratio as an exact decimal: spent/limit to 10^-9 */
        v[3] = limit > 0 ? (int64_t)((__int128)spent * 1000000000 / limit) : 0;
        for (int f = 0; f < 4; f++) {
            tg_buf_appendf(&lines[f], "%s{budget_id=", fam[f].name);
            tg_prom_label(&lines[f], id->valuestring);
            tg_buf_appends(&lines[f], ",scope=");
            tg_prom_label(&lines[f], sc);
            tg_buf_appends(&lines[f], ",period=");
            tg_prom_label(&lines[f], period->valuestring);
            tg_buf_appends(&lines[f], "} ");
            tg_prom_usd(&lines[f], v[f]);
            tg_buf_appends(&lines[f], "\n");
        }
    }
    for (int f = 0; f < 4; f++) {
        tg_prom_family(b, fam[f].name, "gauge", fam[f].help);
        if (lines[f].len)
            tg_buf_append(b, lines[f].base, lines[f].len);
        tg_buf_free(&lines[f]);
    }
    gauge(b, "tollgate_budget_series_omitted", "gauge",
          "Budget counters left out of this page (telemetry.metrics.max_label_values).", omitted);
    cJSON_Delete(arr);
    tg_buf_free(&js);
}

int tg_metrics_page(struct tg_worker *w, h2o_req_t *req)
{
    struct tg_server *srv = w->srv;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        static const char body[] = "{\"error\":{\"message\":\"GET /metrics only\",\"type\":"
                                   "\"invalid_request_error\",\"code\":\"method_not_allowed\"}}";
        req->res.status = 405;
        req->res.reason = "Method Not Allowed";
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       H2O_STRLIT("application/json"));
        h2o_send_inline(req, body, sizeof body - 1);
        return 0;
    }
    struct tg_buf page = {0}, *b = &page;
    tg_metrics_render(srv->metrics, b);
    gauge(b, "tollgate_ledger_queue_depth", "gauge", "Ledger rows waiting for their commit.",
          tg_ledger_queue_depth(srv->ledger));
    gauge(b, "tollgate_ledger_wal_bytes", "gauge",
          "Size of the ledger's SQLite write-ahead log: bounded under load; it grows only while "
          "a long read holds it.",
          tg_ledger_wal_bytes(srv->ledger));
    if (srv->otel != NULL)
        exporter_metrics(srv, b);
    upstream_connection_metrics(srv, b);
    budget_metrics(srv, b);
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"));
    h2o_send_inline(req, b->base, b->len); /* copies into the request's pool */
    tg_buf_free(b);
    return 0;
}
