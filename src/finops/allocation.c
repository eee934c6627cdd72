/* finops/allocation.c - `tollgate export allocation`: the table finance joins to the invoice
 *
 * One row per call of a UTC day, straight from the ledger: who (request, tenant, team,
 * cost center, feature, workflow, actor), what (provider, model, every token type) and
 * how much (exact decimal USD from integer nano-dollars; empty when the model was
 * unpriced, so an unknown price never reads as $0). With proportional allocation an
 * unattributed call of a key with attributed spend that day becomes one row per share
 * (finops/proportional.c), marked allocation_method=proportional. */
#include "finops/allocation.h"

#include "core/alloc.h"
#include "core/money.h"
#include "finops/proportional.h"
#include "store/sqlite_store.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const text_cols[] = {
    "call_id",     "request_id", "started_at",  "provider", "model",      "tenant_id", "team",
    "cost_center", "feature_id", "workflow_id", "actor_id", "actor_type", "outcome"};
static const char *const int_cols[] = {
    "input_tokens",          "cached_input_tokens", "cache_write_5m_tokens",
    "cache_write_1h_tokens", "output_tokens",       "reasoning_tokens",
    "audio_input_tokens",    "audio_output_tokens", "tool_call_output_tokens",
    "web_search_requests",   "web_fetch_requests"};
#define N_TEXT (int)(sizeof text_cols / sizeof text_cols[0])
#define N_INT  (int)(sizeof int_cols / sizeof int_cols[0])

struct call {
    const char *text[N_TEXT];
    int64_t ints[N_INT];
    bool priced;
    int64_t cost, estimated;
    const char *ref;
};

/* method: NULL when the export does not allocate (no allocation_method column). */
static void emit_call(struct tg_buf *out, bool json, bool first, const struct call *c,
                      const char *method)
{
    char usd[40] = "";
    if (c->priced)
        tg_money_format_usd(c->cost, usd, sizeof usd);
    if (json)
        tg_buf_appends(out, first ? "{" : ",{");
    for (int i = 0; i < N_TEXT; i++) {
        const char *v = c->text[i];
        if (json) {
            tg_buf_appendf(out, "%s\"%s\":", i ? "," : "", text_cols[i]);
            if (v == NULL)
                tg_buf_appends(out, "null");
            else
                tg_buf_append_json_str(out, v, strlen(v));
        } else {
            tg_report_csv_field(out, v ? v : "");
            tg_buf_appends(out, ",");
        }
    }
    for (int i = 0; i < N_INT; i++) {
        if (json)
            tg_buf_appendf(out, ",\"%s\":%lld", int_cols[i], (long long)c->ints[i]);
        else
            tg_buf_appendf(out, "%lld,", (long long)c->ints[i]);
    }
    if (json) {
        if (c->priced)
            tg_buf_appendf(out, ",\"cost_usd\":\"%s\"", usd);
        else
            tg_buf_appends(out, ",\"cost_usd\":null");
        tg_buf_appendf(out, ",\"usage_estimated\":%lld,\"price_ref\":", (long long)c->estimated);
        if (c->ref == NULL)
            tg_buf_appends(out, "null");
        else
            tg_buf_append_json_str(out, c->ref, strlen(c->ref));
        if (method != NULL)
            tg_buf_appendf(out, ",\"allocation_method\":\"%s\"", method);
        tg_buf_appends(out, "}");
    } else {
        tg_buf_appendf(out, "%s,%lld,", usd, (long long)c->estimated);
        tg_report_csv_field(out, c->ref ? c->ref : "");
        if (method != NULL)
            tg_buf_appendf(out, ",%s", method);
        tg_buf_appends(out, "\n");
    }
}

/* Emits the proportional parts of an unattributed call: cost and every count split by the
 * key's shares with the largest-remainder rule, so each column of the parts sums to the
 * call's. A part with nothing in it is left out. */
static void emit_split(struct tg_buf *out, bool json, bool *first, const struct call *c, int fi,
                       const struct tg_alloc_shares *sh, int at, int k)
{
    int64_t *w = tg_malloc((size_t)k * sizeof *w);
    int64_t *cost = tg_malloc((size_t)k * sizeof *cost);
    int64_t *ints = tg_malloc((size_t)k * N_INT * sizeof *ints);
    int64_t *col = tg_malloc((size_t)k * sizeof *col);
    for (int i = 0; i < k; i++)
        w[i] = sh->v[at + i].weight_nanos;
    tg_alloc_split(c->cost, w, k, cost);
    for (int j = 0; j < N_INT; j++) {
        tg_alloc_split(c->ints[j], w, k, col);
        for (int i = 0; i < k; i++)
            ints[i * N_INT + j] = col[i];
    }
    for (int i = 0; i < k; i++) {
        struct call p = *c;
        bool empty = cost[i] == 0;
        p.text[fi] = sh->v[at + i].target;
        p.cost = cost[i];
        for (int j = 0; j < N_INT; j++) {
            p.ints[j] = ints[i * N_INT + j];
            empty = empty && p.ints[j] == 0;
        }
        if (empty)
            continue;
        emit_call(out, json, *first, &p, "proportional");
        *first = false;
    }
    free(w);
    free(cost);
    free(ints);
    free(col);
}

static int export_day(sqlite3 *db, const char *day, const char *field, enum tg_report_format format,
                      struct tg_buf *out, struct tg_errbuf *eb)
{
    static const char sql[] =
        "SELECT call_id, request_id, started_at, provider, coalesce(response_model, "
        "request_model), tenant_id, team, "
        "cost_center, feature_id, workflow_id, actor_id, actor_type, outcome, input_tokens, "
        "cached_input_tokens, "
        "cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, reasoning_tokens, "
        "audio_input_tokens, "
        "audio_output_tokens, tool_call_output_tokens, web_search_requests, web_fetch_requests, "
        "cost_nanos, "
        "usage_estimated, price_ref, key_id FROM calls WHERE " TG_LEDGER_DAYS
        " ORDER BY started_at, "
        "call_id";
    struct tg_alloc_shares sh = {0};
    sqlite3_stmt *st = NULL;
    int rc = 0, step, fi = -1;
    bool json = format == TG_REPORT_JSON, first = true;
    if (field != NULL) {
        for (int i = 5; i <= 11; i++) /* tenant_id .. actor_type */
            if (strcmp(text_cols[i], field) == 0)
                fi = i;
        if (fi < 0) {
            rc = tg_errf(eb, TG_ERR_INVALID,
                         "allocation: cannot allocate by '%s' (tenant_id, team, cost_center, "
                         "feature_id, workflow_id, actor_id or actor_type)",
                         field);
            goto out;
        }
        rc = tg_alloc_shares_load(db, text_cols[fi], day, day, &sh, eb);
        if (rc != 0)
            goto out;
    }
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = tg_errf(eb, TG_ERR_IO, "allocation: %s", sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, day, -1, SQLITE_STATIC);
    if (json) {
        tg_buf_appendf(out, "{\"day\":\"%s\",", day);
        if (fi >= 0)
            tg_buf_appendf(out, "\"allocate_unattributed\":\"proportional\",\"by\":\"%s\",",
                           text_cols[fi]);
        tg_buf_appends(out, "\"rows\":[");
    } else {
        for (int i = 0; i < N_TEXT; i++)
            tg_buf_appendf(out, "%s,", text_cols[i]);
        for (int i = 0; i < N_INT; i++)
            tg_buf_appendf(out, "%s,", int_cols[i]);
        tg_buf_appends(out, fi >= 0 ? "cost_usd,usage_estimated,price_ref,allocation_method\n"
                                    : "cost_usd,usage_estimated,price_ref\n");
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct call c;
        for (int i = 0; i < N_TEXT; i++)
            c.text[i] = (const char *)sqlite3_column_text(st, i);
        for (int i = 0; i < N_INT; i++)
            c.ints[i] = sqlite3_column_int64(st, N_TEXT + i);
        c.priced = sqlite3_column_type(st, N_TEXT + N_INT) != SQLITE_NULL;
        c.cost = sqlite3_column_int64(st, N_TEXT + N_INT);
        c.estimated = sqlite3_column_int64(st, N_TEXT + N_INT + 1);
        c.ref = (const char *)sqlite3_column_text(st, N_TEXT + N_INT + 2);
        int at = 0, k = 0;
        if (fi >= 0 && c.text[fi] == NULL && c.priced && c.cost != 0)
            k = tg_alloc_shares_find(&sh, (const char *)sqlite3_column_text(st, N_TEXT + N_INT + 3),
                                     &at);
        if (k > 0) {
            emit_split(out, json, &first, &c, fi, &sh, at, k);
            continue;
        }
        emit_call(out, json, first, &c, fi >= 0 ? "direct" : NULL);
        first = false;
    }
    if (step != SQLITE_DONE) {
        rc = tg_errf(eb, TG_ERR_IO, "allocation: %s", sqlite3_errmsg(db));
        goto out;
    }
    if (json)
        tg_buf_appends(out, "]}\n");
out:
    sqlite3_finalize(st);
    tg_alloc_shares_free(&sh);
    return rc;
}

int tg_allocation_export(sqlite3 *db, const char *day, enum tg_report_format format,
                         struct tg_buf *out, struct tg_errbuf *eb)
{
    return export_day(db, day, NULL, format, out, eb);
}

int tg_allocation_export_proportional(sqlite3 *db, const char *day, const char *field,
                                      enum tg_report_format format, struct tg_buf *out,
                                      struct tg_errbuf *eb)
{
    return export_day(db, day, field, format, out, eb);
}
