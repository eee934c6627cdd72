/* finops/audit.c - `tollgate audit`: can every dollar of the range be attributed, and where
 * does attribution fail?
 *
 * Five sections, all read from the ledger of one UTC day range (docs/AUDIT.md):
 *   coverage        per attribution field, the share of calls and of priced dollars that
 *                   have it;
 *   null buckets    calls whose attribution is missing, by the join step that failed, told
 *                   apart by attribution_sources (`unmapped`, `rejected:*`, `missing`) and
 *                   by a NULL cost (unpriced model);
 *   drift           every non-canonical name that arrived (source `alias:<name as sent>`),
 *                   by key and service;
 *   price fallbacks calls priced through an alias or a pattern instead of an exact row
 *                   (the `how` of price_ref = file:line:how);
 *   top calls       the N most expensive calls, each checked against the five questions.
 *
 * DESIGN (money). Dollars are integer SUMs of nano-dollars done by SQLite; shares are
 * basis points computed in 128-bit integers and rounded DOWN, so a CI threshold never
 * passes by rounding. An unpriced call (cost_nanos NULL) is counted in calls and in
 * `unpriced_calls`, never as $0 of spend: dollar coverage is over priced spend only. No
 * user text reaches the SQL: fields and buckets come from the fixed tables below. */
#include "finops/audit.h"

#include "core/money.h"
#include "finops/report.h"
#include "store/sqlite_store.h"

#include <stdio.h>
#include <string.h>

const char *const tg_audit_fields[] = {"tenant_id",  "team",        "cost_center",
                                       "feature_id", "workflow_id", "actor_id",
                                       "actor_type", "environment", "service"};
const int tg_audit_n_fields = (int)(sizeof tg_audit_fields / sizeof tg_audit_fields[0]);
#define N_FIELDS (sizeof tg_audit_fields / sizeof tg_audit_fields[0])

/* Every query reads the range through this CTE; src is attribution_sources, or {} when it
 * is NULL or not JSON (so one bad row cannot stop the audit). */
#define CTE                                                                                        \
    "WITH c AS (SELECT *, CASE WHEN json_valid(attribution_sources) THEN attribution_sources "     \
    "ELSE '{}' END AS src FROM calls WHERE " TG_LEDGER_DAYS ") "
#define SRC(f)     "coalesce(json_extract(src, '$." f "'), '')"
#define NOT_REJ(f) SRC(f) " NOT LIKE 'rejected:%'"

struct bucket {
    const char *id, *what, *where;
};

/* A call can fall in several buckets; each counts it once. */
static const struct bucket buckets[] = {
    {"no_tenant", "no tenant_id from any source (header, alias, baggage, key, route)",
     "tenant_id IS NULL AND " NOT_REJ("tenant_id")},
    {"cost_center_unmapped",
     "tenant or team not in the tenant_id,cost_center / team,cost_center mapping table",
     "cost_center IS NULL AND " SRC("cost_center") " = 'unmapped'"},
    {"no_cost_center", "no cost_center sent and no mapping table to derive it",
     "cost_center IS NULL AND " NOT_REJ("cost_center") " AND " SRC("cost_center") " <> 'unmapped'"},
    {"team_unmapped", "workflow not in the workflow_id,team mapping table",
     "team IS NULL AND " SRC("team") " = 'unmapped'"},
    {"no_team", "no team sent and no mapping table to derive it",
     "team IS NULL AND " NOT_REJ("team") " AND " SRC("team") " <> 'unmapped'"},
    {"unpriced_model", "no rate-card row for the model (cost NULL, never $0)",
     "cost_nanos IS NULL AND outcome <> 'incomplete'"},
    {"incomplete", "in flight, or the gateway died, before the call was priced",
     "outcome = 'incomplete'"},
    {"no_workflow", "no workflow_id (agent or pipeline run)",
     "workflow_id IS NULL AND " NOT_REJ("workflow_id")},
    {"no_actor_type", "no actor_type: human or agent unknown",
     "actor_type IS NULL AND " NOT_REJ("actor_type")},
    {"rejected_value", "a value arrived but failed validation (source rejected:*)",
     "EXISTS (SELECT 1 FROM json_each(c.src) j WHERE j.value LIKE 'rejected:%')"},
    {"missing_required", "required fields missing, let through by mode flag",
     "json_extract(src, '$.missing') IS NOT NULL"},
};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

static int field_index(const char *name, size_t n)
{
    name = tg_report_field_name(name, &n);
    for (size_t i = 0; i < N_FIELDS; i++)
        if (strlen(tg_audit_fields[i]) == n && memcmp(tg_audit_fields[i], name, n) == 0)
            return (int)i;
    return -1;
}

static int add_threshold(struct tg_audit_query *q, int field, int64_t bp, struct tg_errbuf *eb)
{
    for (int i = 0; i < q->n_min; i++)
        if (strcmp(q->min[i].field, tg_audit_fields[field]) == 0) {
            q->min[i].min_bp = bp; /* the later option wins */
            return 0;
        }
    if (q->n_min == TG_AUDIT_MAX_THRESHOLDS)
        return tg_errf(eb, TG_ERR_LIMIT, "--min-coverage: at most %d checks",
                       TG_AUDIT_MAX_THRESHOLDS);
    q->min[q->n_min].field = tg_audit_fields[field];
    q->min[q->n_min++].min_bp = bp;
    return 0;
}

int tg_audit_parse_min_coverage(const char *arg, struct tg_audit_query *q, struct tg_errbuf *eb)
{
    const char *eq = strchr(arg, '=');
    const char *pct = eq ? eq + 1 : arg;
    int64_t bp = 0;
    int field = -1;
    if (eq != NULL) {
        field = field_index(arg, (size_t)(eq - arg));
        if (field < 0)
            return tg_errf(eb, TG_ERR_INVALID,
                           "--min-coverage '%s': unknown field '%.*s' (tenant_id, team, "
                           "cost_center, feature_id, workflow_id, actor_id, actor_type, "
                           "environment, service)",
                           arg, (int)(eq - arg), arg);
    }
    if (tg_money_parse_decimal(pct, 2, &bp) != 0 || bp > 10000)
        return tg_errf(eb, TG_ERR_INVALID,
                       "--min-coverage '%s': expected a percentage 0..100 with at most two "
                       "decimals, or FIELD=PCT",
                       arg);
    if (field >= 0)
        return add_threshold(q, field, bp, eb);
    int rc = add_threshold(q, field_index("cost_center", 11), bp, eb);
    return rc != 0 ? rc : add_threshold(q, field_index("team", 4), bp, eb);
}

/* part / whole in basis points, rounded down; a range with nothing to cover is covered. */
static int64_t bp_of(int64_t part, int64_t whole)
{
    if (whole <= 0)
        return 10000;
    return (int64_t)((__int128)part * 10000 / whole);
}

static void fmt_pct(int64_t bp, char *out, size_t n)
{
    snprintf(out, n, "%lld.%02lld%%", (long long)(bp / 100), (long long)(bp % 100));
}

static void jstr(struct tg_buf *out, const char *s)
{
    if (s == NULL)
        tg_buf_appends(out, "null");
    else
        tg_buf_append_json_str(out, s, strlen(s));
}

static void jusd(struct tg_buf *out, int64_t nanos)
{
    char b[40];
    tg_money_format_usd(nanos, b, sizeof b);
    tg_buf_appendf(out, "\"%s\"", b);
}

static const char *usd(int64_t nanos, char *b, size_t n)
{
    b[0] = '$';
    tg_money_format_usd(nanos, b + 1, n - 1);
    return b;
}

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static const char *orna(const char *s)
{
    return s ? s : "-";
}

/* The `how` of price_ref "file:line:how[:long_context]": exact, alias, pattern, or the
 * whole value for the gateway's own refs (not_forwarded, no_charge). */
static void price_how(const char *ref, char *out, size_t n)
{
    out[0] = '\0';
    if (ref == NULL)
        return;
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s", ref);
    size_t len = strlen(tmp);
    static const char lc[] = ":long_context";
    if (len > sizeof lc - 1 && strcmp(tmp + len - (sizeof lc - 1), lc) == 0)
        tmp[len - (sizeof lc - 1)] = '\0';
    const char *colon = strrchr(tmp, ':');
    snprintf(out, n, "%s", colon ? colon + 1 : tmp);
}

static int prepare(sqlite3 *db, const char *sql, const struct tg_audit_query *q, sqlite3_stmt **st,
                   struct tg_errbuf *eb)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        return tg_errf(eb, TG_ERR_IO, "audit: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(*st, 1, q->from, -1, SQLITE_STATIC);
    sqlite3_bind_text(*st, 2, q->to, -1, SQLITE_STATIC);
    return 0;
}

static int step_done(sqlite3 *db, int step, struct tg_errbuf *eb)
{
    if (step != SQLITE_DONE)
        return tg_errf(eb, TG_ERR_IO, "audit: %s", sqlite3_errmsg(db));
    return 0;
}

/* Opens the JSON object of row i of a list ("{" or ",{") with the text columns 0..n-1 of
 * st under keys; the caller adds the rest and the closing brace. */
static void jrow(struct tg_buf *out, int i, sqlite3_stmt *st, const char *const *keys, int n)
{
    tg_buf_appends(out, i ? ",{" : "{");
    for (int k = 0; k < n; k++) {
        tg_buf_appendf(out, "%s\"%s\":", k ? "," : "", keys[k]);
        jstr(out, col(st, k));
    }
}

/* Ends a list of n rows after the last sqlite3_step (step): "]" in JSON, none (when not
 * NULL) in a table with no rows. */
static int list_end(sqlite3 *db, const struct tg_audit_query *q, struct tg_buf *out, int step,
                    int n, const char *none, struct tg_errbuf *eb)
{
    if (q->format == TG_AUDIT_JSON)
        tg_buf_appends(out, "]");
    else if (n == 0 && none != NULL)
        tg_buf_appends(out, none);
    return step_done(db, step, eb);
}

struct totals {
    int64_t calls, nanos, unpriced;
    int64_t f_calls[N_FIELDS], f_nanos[N_FIELDS];
};

static int coverage(sqlite3 *db, const struct tg_audit_query *q, struct totals *t,
                    struct tg_errbuf *eb)
{
    struct tg_buf sql = {0};
    sqlite3_stmt *st = NULL;
    int rc = 0;
    tg_buf_appends(&sql, CTE "SELECT count(*), coalesce(sum(cost_nanos), 0), "
                             "coalesce(sum(cost_nanos IS NULL), 0)");
    for (size_t f = 0; f < N_FIELDS; f++)
        tg_buf_appendf(&sql,
                       ", coalesce(sum(%s IS NOT NULL), 0), "
                       "coalesce(sum(CASE WHEN %s IS NOT NULL THEN cost_nanos END), 0)",
                       tg_audit_fields[f], tg_audit_fields[f]);
    tg_buf_appends(&sql, " FROM c");
    rc = prepare(db, sql.base, q, &st, eb);
    if (rc != 0)
        goto out;
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = tg_errf(eb, TG_ERR_IO, "audit: %s", sqlite3_errmsg(db));
        goto out;
    }
    t->calls = sqlite3_column_int64(st, 0);
    t->nanos = sqlite3_column_int64(st, 1);
    t->unpriced = sqlite3_column_int64(st, 2);
    for (size_t f = 0; f < N_FIELDS; f++) {
        t->f_calls[f] = sqlite3_column_int64(st, 3 + 2 * (int)f);
        t->f_nanos[f] = sqlite3_column_int64(st, 4 + 2 * (int)f);
    }
out:
    sqlite3_finalize(st);
    tg_buf_free(&sql);
    return rc;
}

static void emit_coverage(const struct tg_audit_query *q, const struct totals *t,
                          struct tg_buf *out)
{
    char p1[32], p2[32], a[40];
    if (q->format == TG_AUDIT_JSON) {
        tg_buf_appends(out, ",\"coverage\":[");
        for (size_t f = 0; f < N_FIELDS; f++) {
            tg_buf_appendf(out, "%s{\"field\":\"%s\",\"calls\":%lld,\"calls_bp\":%lld,\"usd\":",
                           f ? "," : "", tg_audit_fields[f], (long long)t->f_calls[f],
                           (long long)bp_of(t->f_calls[f], t->calls));
            jusd(out, t->f_nanos[f]);
            tg_buf_appendf(out, ",\"usd_bp\":%lld}", (long long)bp_of(t->f_nanos[f], t->nanos));
        }
        tg_buf_appends(out, "]");
        return;
    }
    tg_buf_appendf(out,
                   "\nCOVERAGE (share of calls, and of priced spend, that have the field)\n"
                   "%-14s %10s %8s %18s %8s\n",
                   "field", "calls", "share", "usd", "share");
    for (size_t f = 0; f < N_FIELDS; f++) {
        fmt_pct(bp_of(t->f_calls[f], t->calls), p1, sizeof p1);
        fmt_pct(bp_of(t->f_nanos[f], t->nanos), p2, sizeof p2);
        char n[48];
        snprintf(n, sizeof n, "%lld/%lld", (long long)t->f_calls[f], (long long)t->calls);
        tg_buf_appendf(out, "%-14s %10s %8s %18s %8s\n", tg_audit_fields[f], n, p1,
                       usd(t->f_nanos[f], a, sizeof a), p2);
    }
}

static int unpriced_models(sqlite3 *db, const struct tg_audit_query *q, struct tg_buf *out,
                           struct tg_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(db,
                     CTE "SELECT provider, coalesce(response_model, request_model), count(*) "
                         "FROM c WHERE cost_nanos IS NULL AND outcome <> 'incomplete' "
                         "GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2",
                     q, &st, eb);
    if (rc != 0)
        goto out;
    int step, i = 0;
    if (q->format == TG_AUDIT_JSON)
        tg_buf_appends(out, ",\"models\":[");
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (q->format == TG_AUDIT_JSON) {
            static const char *const keys[] = {"provider", "model"};
            jrow(out, i, st, keys, 2);
            tg_buf_appendf(out, ",\"calls\":%lld}", (long long)sqlite3_column_int64(st, 2));
        } else {
            tg_buf_appendf(out, "    %s %s: %lld calls\n", orna(col(st, 0)), orna(col(st, 1)),
                           (long long)sqlite3_column_int64(st, 2));
        }
        i++;
    }
    rc = list_end(db, q, out, step, i, NULL, eb);
out:
    sqlite3_finalize(st);
    return rc;
}

static int null_buckets(sqlite3 *db, const struct tg_audit_query *q, struct tg_buf *out,
                        struct tg_errbuf *eb)
{
    struct tg_buf sql = {0};
    sqlite3_stmt *st = NULL;
    int rc = 0;
    char a[40];
    if (q->format == TG_AUDIT_JSON)
        tg_buf_appends(out, ",\"null_buckets\":[");
    else
        tg_buf_appends(out, "\nNULL BUCKETS (by the step that failed; a call can be in several)\n");
    for (size_t b = 0; b < N_BUCKETS; b++) {
        tg_buf_reset(&sql);
        tg_buf_appendf(&sql,
                       CTE "SELECT count(*), coalesce(sum(cost_nanos), 0), "
                           "coalesce(sum(cost_nanos IS NULL), 0) FROM c WHERE %s",
                       buckets[b].where);
        rc = prepare(db, sql.base, q, &st, eb);
        if (rc != 0)
            goto out;
        if (sqlite3_step(st) != SQLITE_ROW) {
            rc = tg_errf(eb, TG_ERR_IO, "audit: %s", sqlite3_errmsg(db));
            goto out;
        }
        int64_t calls = sqlite3_column_int64(st, 0), nanos = sqlite3_column_int64(st, 1),
                unpriced = sqlite3_column_int64(st, 2);
        sqlite3_finalize(st);
        st = NULL;
        bool models = strcmp(buckets[b].id, "unpriced_model") == 0;
        /* what these calls cost is not known: never shown as $0 */
        bool unknown = models || strcmp(buckets[b].id, "incomplete") == 0;
        if (q->format == TG_AUDIT_JSON) {
            tg_buf_appendf(out, "%s{\"bucket\":\"%s\",\"calls\":%lld,\"usd\":", b ? "," : "",
                           buckets[b].id, (long long)calls);
            if (unknown)
                tg_buf_appends(out, "null");
            else
                jusd(out, nanos);
            tg_buf_appendf(out, ",\"unpriced_calls\":%lld", (long long)unpriced);
        } else {
            tg_buf_appendf(out, "%-21s %6lld calls %16s %5lld unpriced  %s\n", buckets[b].id,
                           (long long)calls, unknown ? "$?" : usd(nanos, a, sizeof a),
                           (long long)unpriced, buckets[b].what);
        }
        if (models) {
            rc = unpriced_models(db, q, out, eb);
            if (rc != 0)
                goto out;
        }
        if (q->format == TG_AUDIT_JSON)
            tg_buf_appends(out, "}");
    }
    if (q->format == TG_AUDIT_JSON)
        tg_buf_appends(out, "]");
out:
    sqlite3_finalize(st);
    tg_buf_free(&sql);
    return rc;
}

static int drift(sqlite3 *db, const struct tg_audit_query *q, struct tg_buf *out,
                 struct tg_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    char a[40];
    int rc = prepare(db,
                     CTE "SELECT j.key, substr(j.value, 7), c.key_id, c.service, count(*), "
                         "coalesce(sum(c.cost_nanos), 0), coalesce(sum(c.cost_nanos IS NULL), 0) "
                         "FROM c, json_each(c.src) j WHERE j.value LIKE 'alias:%' "
                         "GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC, 1, 2, 3, 4",
                     q, &st, eb);
    if (rc != 0)
        goto out;
    if (q->format == TG_AUDIT_JSON)
        tg_buf_appends(out, ",\"drift\":[");
    else
        tg_buf_appendf(out,
                       "\nDRIFT (non-canonical names that arrived)\n%-14s %-20s %-20s %-20s "
                       "%6s %16s\n",
                       "field", "sent as", "key_id", "service", "calls", "usd");
    int step, i = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t calls = sqlite3_column_int64(st, 4), nanos = sqlite3_column_int64(st, 5);
        if (q->format == TG_AUDIT_JSON) {
            static const char *const keys[] = {"field", "sent_as", "key_id", "service"};
            jrow(out, i, st, keys, 4);
            tg_buf_appendf(out, ",\"calls\":%lld,\"usd\":", (long long)calls);
            jusd(out, nanos);
            tg_buf_appendf(out, ",\"unpriced_calls\":%lld}",
                           (long long)sqlite3_column_int64(st, 6));
        } else {
            tg_buf_appendf(out, "%-14s %-20s %-20s %-20s %6lld %16s\n", orna(col(st, 0)),
                           orna(col(st, 1)), orna(col(st, 2)), orna(col(st, 3)), (long long)calls,
                           usd(nanos, a, sizeof a));
        }
        i++;
    }
    rc = list_end(db, q, out, step, i, "(none)\n", eb);
out:
    sqlite3_finalize(st);
    return rc;
}

static int price_fallbacks(sqlite3 *db, const struct tg_audit_query *q, struct tg_buf *out,
                           struct tg_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    char a[40], how[32];
    int rc = prepare(
        db,
        CTE "SELECT provider, request_model, response_model, price_ref, count(*), "
            "coalesce(sum(cost_nanos), 0) FROM c WHERE cost_nanos IS NOT NULL AND ("
            "price_ref LIKE '%:alias' OR price_ref LIKE '%:alias:long|_context' ESCAPE '|' OR "
            "price_ref LIKE '%:pattern' OR price_ref LIKE '%:pattern:long|_context' ESCAPE '|') "
            "GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC, 1, 2, 3, 4",
        q, &st, eb);
    if (rc != 0)
        goto out;
    if (q->format == TG_AUDIT_JSON)
        tg_buf_appends(out, ",\"price_fallbacks\":[");
    else
        tg_buf_appendf(out,
                       "\nPRICE FALLBACKS (priced through an alias or a pattern, not an exact "
                       "row)\n%-10s %-24s %-28s %-8s %-28s %6s %16s\n",
                       "provider", "request model", "response model", "how", "price_ref", "calls",
                       "usd");
    int step, i = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t calls = sqlite3_column_int64(st, 4), nanos = sqlite3_column_int64(st, 5);
        price_how(col(st, 3), how, sizeof how);
        if (q->format == TG_AUDIT_JSON) {
            static const char *const keys[] = {"provider", "request_model", "response_model",
                                               "price_ref"};
            jrow(out, i, st, keys, 4);
            tg_buf_appendf(out, ",\"how\":\"%s\",\"calls\":%lld,\"usd\":", how, (long long)calls);
            jusd(out, nanos);
            tg_buf_appends(out, "}");
        } else {
            tg_buf_appendf(out, "%-10s %-24s %-28s %-8s %-28s %6lld %16s\n", orna(col(st, 0)),
                           orna(col(st, 1)), orna(col(st, 2)), how, orna(col(st, 3)),
                           (long long)calls, usd(nanos, a, sizeof a));
        }
        i++;
    }
    rc = list_end(db, q, out, step, i, "(none)\n", eb);
out:
    sqlite3_finalize(st);
    return rc;
}

/* The five questions for one call (docs/AUDIT.md): who owns it, which cost center, which
 * model at which price (an exact rate-card row), which workflow, human or agent. */
static int top_calls(sqlite3 *db, const struct tg_audit_query *q, struct tg_buf *out,
                     struct tg_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    char a[40], how[32];
    int rc = prepare(db,
                     CTE "SELECT call_id, started_at, provider, "
                         "coalesce(response_model, request_model), cost_nanos, price_ref, "
                         "tenant_id, team, cost_center, workflow_id, actor_type "
                         "FROM c WHERE cost_nanos > 0 ORDER BY cost_nanos DESC, call_id LIMIT ?3",
                     q, &st, eb);
    if (rc != 0)
        goto out;
    sqlite3_bind_int(st, 3, q->top_n);
    if (q->format == TG_AUDIT_JSON)
        tg_buf_appends(out, ",\"top_calls\":[");
    else
        tg_buf_appendf(out,
                       "\nTOP %d CALLS BY COST: the five questions\n%-36s %14s %-6s %-11s "
                       "%-15s %-8s %-11s %s\n",
                       q->top_n, "call_id", "usd", "owner", "cost_center", "model_and_price",
                       "workflow", "human/agent", "answered");
    int step, i = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *model = col(st, 3), *tenant = col(st, 6), *team = col(st, 7);
        price_how(col(st, 5), how, sizeof how);
        bool ans[5] = {tenant != NULL || team != NULL, col(st, 8) != NULL,
                       model != NULL && strcmp(how, "exact") == 0, col(st, 9) != NULL,
                       col(st, 10) != NULL};
        int answered = 0;
        for (int k = 0; k < 5; k++)
            answered += ans[k];
        int64_t nanos = sqlite3_column_int64(st, 4);
        if (q->format == TG_AUDIT_JSON) {
            static const char *const keys[] = {"call_id",     "started_at",  "provider",  "model",
                                               NULL,          "price_ref",   "tenant_id", "team",
                                               "cost_center", "workflow_id", "actor_type"};
            tg_buf_appends(out, i ? ",{" : "{");
            for (int k = 0; k < 11; k++) {
                if (keys[k] == NULL) {
                    tg_buf_appends(out, ",\"usd\":");
                    jusd(out, nanos);
                    continue;
                }
                tg_buf_appendf(out, "%s\"%s\":", k ? "," : "", keys[k]);
                jstr(out, col(st, k));
            }
            tg_buf_appendf(out,
                           ",\"questions\":{\"owner\":%s,\"cost_center\":%s,\"model_and_price\":%s,"
                           "\"workflow\":%s,\"human_or_agent\":%s},\"answered\":%d}",
                           ans[0] ? "true" : "false", ans[1] ? "true" : "false",
                           ans[2] ? "true" : "false", ans[3] ? "true" : "false",
                           ans[4] ? "true" : "false", answered);
        } else {
            tg_buf_appendf(out, "%-36s %14s %-6s %-11s %-15s %-8s %-11s %d/5\n", col(st, 0),
                           usd(nanos, a, sizeof a), ans[0] ? "yes" : "no", ans[1] ? "yes" : "no",
                           ans[2] ? "yes" : "no", ans[3] ? "yes" : "no", ans[4] ? "yes" : "no",
                           answered);
        }
        i++;
    }
    rc = list_end(db, q, out, step, i, "(no priced calls)\n", eb);
out:
    sqlite3_finalize(st);
    return rc;
}

static void thresholds(const struct tg_audit_query *q, const struct totals *t, struct tg_buf *out,
                       int *n_failed)
{
    char p1[32], p2[32];
    *n_failed = 0;
    if (q->format == TG_AUDIT_JSON)
        tg_buf_appends(out, ",\"thresholds\":[");
    else if (q->n_min > 0)
        tg_buf_appends(out, "\nTHRESHOLDS (dollar coverage, --min-coverage)\n");
    for (int i = 0; i < q->n_min; i++) {
        int f = field_index(q->min[i].field, strlen(q->min[i].field));
        int64_t bp = bp_of(t->f_nanos[f], t->nanos);
        bool met = bp >= q->min[i].min_bp;
        *n_failed += !met;
        if (q->format == TG_AUDIT_JSON) {
            tg_buf_appendf(out, "%s{\"field\":\"%s\",\"min_bp\":%lld,\"usd_bp\":%lld,\"met\":%s}",
                           i ? "," : "", q->min[i].field, (long long)q->min[i].min_bp,
                           (long long)bp, met ? "true" : "false");
        } else {
            fmt_pct(q->min[i].min_bp, p1, sizeof p1);
            fmt_pct(bp, p2, sizeof p2);
            tg_buf_appendf(out, "%-14s usd coverage %8s, minimum %8s: %s\n", q->min[i].field, p2,
                           p1, met ? "ok" : "FAILED");
        }
    }
    if (q->format == TG_AUDIT_JSON)
        tg_buf_appendf(out, "],\"ok\":%s}\n", *n_failed ? "false" : "true");
}

int tg_audit_run(sqlite3 *db, const struct tg_audit_query *q, struct tg_buf *out, int *n_failed,
                 struct tg_errbuf *eb)
{
    struct totals t;
    char a[40];
    memset(&t, 0, sizeof t);
    *n_failed = 0;
    int rc = coverage(db, q, &t, eb);
    if (rc != 0)
        return rc;
    if (q->format == TG_AUDIT_JSON) {
        tg_buf_appendf(out, "{\"from\":\"%s\",\"to\":\"%s\",\"calls\":%lld,\"usd\":", q->from,
                       q->to, (long long)t.calls);
        jusd(out, t.nanos);
        tg_buf_appendf(out, ",\"unpriced_calls\":%lld", (long long)t.unpriced);
    } else {
        tg_buf_appendf(out, "audit %s..%s: %lld calls, %s priced spend, %lld unpriced calls\n",
                       q->from, q->to, (long long)t.calls, usd(t.nanos, a, sizeof a),
                       (long long)t.unpriced);
    }
    emit_coverage(q, &t, out);
    rc = null_buckets(db, q, out, eb);
    if (rc == 0)
        rc = drift(db, q, out, eb);
    if (rc == 0)
        rc = price_fallbacks(db, q, out, eb);
    if (rc == 0)
        rc = top_calls(db, q, out, eb);
    if (rc == 0)
        thresholds(q, &t, out, n_failed);
    return rc;
}
