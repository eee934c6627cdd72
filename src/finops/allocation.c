/* finops/allocation.c - `tollgate export allocation`: the table finance joins to the invoice
 *
 * One row per call of a UTC day, straight from the ledger: who (request, tenant, team,
 * cost center, feature, workflow, actor), what (provider, model, every token type) and
 * how much (exact decimal USD from integer nano-dollars; empty when the model was
 * unpriced, so an unknown price never reads as $0). */
#include "finops/allocation.h"

#include "core/money.h"

#include <stdbool.h>
#include <stdio.h>
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

int tg_allocation_export(sqlite3 *db, const char *day, enum tg_report_format format,
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
        "usage_estimated, price_ref FROM calls WHERE day = ?1 ORDER BY started_at, call_id";
    sqlite3_stmt *st = NULL;
    int rc = 0, step;
    bool json = format == TG_REPORT_JSON, first = true;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = tg_errf(eb, TG_ERR_IO, "allocation: %s", sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
    if (json) {
        tg_buf_appendf(out, "{\"day\":\"%s\",\"rows\":[", day);
    } else {
        for (int i = 0; i < N_TEXT; i++)
            tg_buf_appendf(out, "%s,", text_cols[i]);
        for (int i = 0; i < N_INT; i++)
            tg_buf_appendf(out, "%s,", int_cols[i]);
        tg_buf_appends(out, "cost_usd,usage_estimated,price_ref\n");
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        char usd[40] = "";
        bool priced = sqlite3_column_type(st, N_TEXT + N_INT) != SQLITE_NULL;
        if (priced)
            tg_money_format_usd(sqlite3_column_int64(st, N_TEXT + N_INT), usd, sizeof usd);
        const char *ref = (const char *)sqlite3_column_text(st, N_TEXT + N_INT + 2);
        int64_t estimated = sqlite3_column_int64(st, N_TEXT + N_INT + 1);
        if (json)
            tg_buf_appends(out, first ? "{" : ",{");
        for (int i = 0; i < N_TEXT; i++) {
            const char *v = (const char *)sqlite3_column_text(st, i);
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
            long long v = (long long)sqlite3_column_int64(st, N_TEXT + i);
            if (json)
                tg_buf_appendf(out, ",\"%s\":%lld", int_cols[i], v);
            else
                tg_buf_appendf(out, "%lld,", v);
        }
        if (json) {
            if (priced)
                tg_buf_appendf(out, ",\"cost_usd\":\"%s\"", usd);
            else
                tg_buf_appends(out, ",\"cost_usd\":null");
            tg_buf_appendf(out, ",\"usage_estimated\":%lld,\"price_ref\":", (long long)estimated);
            if (ref == NULL)
                tg_buf_appends(out, "null}");
            else {
                tg_buf_append_json_str(out, ref, strlen(ref));
                tg_buf_appends(out, "}");
            }
        } else {
            tg_buf_appendf(out, "%s,%lld,", usd, (long long)estimated);
            tg_report_csv_field(out, ref ? ref : "");
            tg_buf_appends(out, "\n");
        }
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
    return rc;
}
