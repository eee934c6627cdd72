/* finops/report.c - `tollgate report`: spend grouped by attribution, model, provider, day
 *
 * DESIGN (money). Every money figure is an integer sum of nano-dollars (grouped in
 * memory by finops/agg.c: SQLite's GROUP BY sorted every row first) formatted to
 * decimal USD at the edge; nothing is averaged or converted to floating
 * point, so the groups add up to the total to the nano-dollar. Rows whose model no rate
 * card priced have a NULL cost: they are counted in `unpriced_calls` of their group
 * (never as $0 spend). A NULL attribution value is its own group, shown as
 * "(unattributed)". Dimensions come from a fixed whitelist: user text never reaches the
 * SQL. */
#include "finops/report.h"

#include "accounting/identity.h"
#include "core/alloc.h"
#include "core/money.h"
#include "finops/agg.h"
#include "finops/proportional.h"
#include "store/sqlite_store.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dim {
    const char *name, *expr;
};

static const struct dim dims[] = {
    {"tenant_id", "tenant_id"},
    {"team", "team"},
    {"cost_center", "cost_center"},
    {"feature_id", "feature_id"},
    {"workflow_id", "workflow_id"},
    {"actor_id", "actor_id"},
    {"actor_type", "actor_type"},
    {"environment", "environment"},
    {"service", "service"},
    {"key_id", "key_id"},
    {"provider", "provider"},
    {"model", "coalesce(response_model, request_model)"},
    {"day", "day"},
};

const char *tg_report_field_name(const char *name, size_t *n)
{
    char buf[32];
    if (*n >= sizeof buf)
        return name; /* longer than any field name */
    memcpy(buf, name, *n);
    buf[*n] = '\0';
    int f = tg_field_by_name(buf);
    if (f < 0)
        return name;
    name = tg_field_name((enum tg_field)f);
    *n = strlen(name);
    return name;
}

static const struct dim *find_dim(const char *name, size_t n)
{
    name = tg_report_field_name(name, &n);
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (strlen(dims[i].name) == n && memcmp(dims[i].name, name, n) == 0)
            return &dims[i];
    return NULL;
}

int tg_report_parse_dims(const char *list, struct tg_report_query *q, struct tg_errbuf *eb)
{
    q->n_dims = 0;
    const char *p = list;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const struct dim *d = find_dim(p, n);
        if (d == NULL)
            return tg_errf(
                eb, TG_ERR_INVALID,
                "--by: unknown dimension '%.*s' (tenant_id, team, cost_center, feature_id, "
                "workflow_id, "
                "actor_id, actor_type, environment, service, key_id, provider, model, day)",
                (int)n, p);
        if (q->n_dims == TG_REPORT_MAX_DIMS)
            return tg_errf(eb, TG_ERR_LIMIT, "--by: at most %d dimensions", TG_REPORT_MAX_DIMS);
        q->dims[q->n_dims++] = d->name;
        p = comma ? comma + 1 : p + n;
    }
    if (q->n_dims == 0)
        return tg_errf(eb, TG_ERR_INVALID, "--by needs at least one dimension");
    return 0;
}

enum {
    M_CALLS,
    M_INPUT,
    M_CACHED,
    M_CACHE_WRITE,
    M_OUTPUT,
    M_REASONING,
    M_TOOL_OUT,
    M_COST,
    M_UNPRICED,
    M_SAVINGS,
    M_N
};

static const char *const metric_sql =
    "count(*), sum(input_tokens), sum(cached_input_tokens), sum(cache_write_5m_tokens + "
    "cache_write_1h_tokens), "
    "sum(output_tokens), sum(reasoning_tokens), sum(tool_call_output_tokens), "
    "coalesce(sum(cost_nanos), 0), "
    "sum(cost_nanos IS NULL), coalesce(sum(cache_savings_nanos), 0)";

/* The same metrics per call, summed by group in memory (finops/agg.c): SQLite's GROUP BY
 * sorts every row first, which over a month of a million calls cost more than the read. */
static const char *const row_metric_sql =
    "1, input_tokens, cached_input_tokens, cache_write_5m_tokens + cache_write_1h_tokens, "
    "output_tokens, reasoning_tokens, tool_call_output_tokens, coalesce(cost_nanos, 0), "
    "cost_nanos IS NULL, coalesce(cache_savings_nanos, 0)";

static const char *const metric_names[M_N] = {
    "calls",          "input_tokens",     "cached_input_tokens",     "cache_write_tokens",
    "output_tokens",  "reasoning_tokens", "tool_call_output_tokens", "cost_usd",
    "unpriced_calls", "cache_savings_usd"};

/* Tool-call share of output tokens, one decimal, from integers: "12.5%". */
static void share(int64_t part, int64_t whole, char *out, size_t n)
{
    if (whole <= 0) {
        snprintf(out, n, "0.0%%");
        return;
    }
    int64_t tenths = (part * 1000 + whole / 2) / whole;
    snprintf(out, n, "%lld.%lld%%", (long long)(tenths / 10), (long long)(tenths % 10));
}

static void cell(char *out, size_t n, int metric, const int64_t *m)
{
    if (metric == M_COST || metric == M_SAVINGS)
        tg_money_format_usd(m[metric], out, n);
    else
        snprintf(out, n, "%lld", (long long)m[metric]);
}

void tg_report_csv_field(struct tg_buf *out, const char *s)
{
    if (strpbrk(s, ",\"\n\r") == NULL) {
        tg_buf_appends(out, s);
        return;
    }
    tg_buf_appends(out, "\"");
    /* whole runs up to each quote, the quote doubled (a FOCUS Tags field is mostly quotes) */
    for (const char *p = s;;) {
        const char *q = strchr(p, '"');
        if (q == NULL) {
            tg_buf_appends(out, p);
            break;
        }
        tg_buf_append(out, p, (size_t)(q - p) + 1);
        tg_buf_appends(out, "\"");
        p = q + 1;
    }
    tg_buf_appends(out, "\"");
}

/* method: the allocation_method cell ("direct", "proportional"; "" on the CSV/table total
 * row), or NULL when the report does not allocate. */
static void emit_row(const struct tg_report_query *q, struct tg_buf *out, const char *const *vals,
                     const int64_t *m, bool first, const char *method)
{
    char buf[40], sh[48];
    share(m[M_TOOL_OUT], m[M_OUTPUT], sh, sizeof sh);
    if (q->format == TG_REPORT_JSON) {
        tg_buf_appends(out, first ? "" : ",");
        tg_buf_appends(out, "{");
        for (int d = 0; d < q->n_dims; d++) {
            tg_buf_appendf(out, "\"%s\":", q->dims[d]);
            if (vals[d] == NULL)
                tg_buf_appends(out, "null");
            else
                tg_buf_append_json_str(out, vals[d], strlen(vals[d]));
            tg_buf_appends(out, ",");
        }
        if (method != NULL && method[0] != '\0')
            tg_buf_appendf(out, "\"allocation_method\":\"%s\",", method);
        for (int k = 0; k < M_N; k++) {
            cell(buf, sizeof buf, k, m);
            if (k == M_COST || k == M_SAVINGS)
                tg_buf_appendf(out, "\"%s\":\"%s\",", metric_names[k], buf);
            else
                tg_buf_appendf(out, "\"%s\":%s,", metric_names[k], buf);
        }
        tg_buf_appendf(out, "\"tool_call_share\":\"%s\"}", sh);
        return;
    }
    for (int d = 0; d < q->n_dims; d++) {
        const char *v = vals[d] ? vals[d] : "(unattributed)";
        if (q->format == TG_REPORT_CSV) {
            tg_report_csv_field(out, v);
            tg_buf_appends(out, ",");
        } else {
            tg_buf_appendf(out, "%-24.24s ", v);
        }
    }
    if (method != NULL)
        tg_buf_appendf(out, q->format == TG_REPORT_CSV ? "%s," : "%-17s ", method);
    for (int k = 0; k < M_N; k++) {
        cell(buf, sizeof buf, k, m);
        if (q->format == TG_REPORT_CSV)
            tg_buf_appendf(out, "%s,", buf);
        else
            tg_buf_appendf(out, "%14s ", buf);
    }
    tg_buf_appendf(out, q->format == TG_REPORT_CSV ? "%s\n" : "%9s\n", sh);
}

/* A collected group: dimension values (owned, NULL = unattributed), metrics, method. */
struct grow {
    char *vals[TG_REPORT_MAX_DIMS];
    int64_t m[M_N];
    bool proportional;
};

static int cmp_val(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b ? 0 : (a == NULL ? -1 : 1);
    return strcmp(a, b);
}

/* qsort_r (glibc) comparators; ctx points to the number of dimensions. Reports also run
 * on worker threads (the admin API), so no static sort state. */
static int cmp_group(const void *pa, const void *pb, void *ctx)
{
    const struct grow *a = pa, *b = pb;
    int n_dims = *(const int *)ctx;
    for (int d = 0; d < n_dims; d++) {
        int c = cmp_val(a->vals[d], b->vals[d]);
        if (c != 0)
            return c;
    }
    return (int)a->proportional - (int)b->proportional;
}

/* The report's order: cost descending, then the dimension values, direct first. */
static int cmp_output(const void *pa, const void *pb, void *ctx)
{
    const struct grow *a = pa, *b = pb;
    if (a->m[M_COST] != b->m[M_COST])
        return a->m[M_COST] > b->m[M_COST] ? -1 : 1;
    return cmp_group(pa, pb, ctx);
}

static struct grow *push_group(struct grow **v, int *n, int *cap)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *v = tg_realloc(*v, (size_t)*cap * sizeof **v);
    }
    struct grow *g = &(*v)[(*n)++];
    memset(g, 0, sizeof *g);
    return g;
}

static const char *const attribution_dims[] = {
    "tenant_id", "team",       "cost_center", "feature_id", "workflow_id",
    "actor_id",  "actor_type", "environment", "service",    "key_id"};

/* Index in q->dims of the one attribution dimension, or -1 (none or several). */
static int grouping_field(const struct tg_report_query *q)
{
    int found = -1;
    for (int d = 0; d < q->n_dims; d++)
        for (size_t i = 0; i < sizeof attribution_dims / sizeof attribution_dims[0]; i++)
            if (strcmp(q->dims[d], attribution_dims[i]) == 0) {
                if (found >= 0)
                    return -1;
                found = d;
            }
    return found;
}

/* The proportional path: groups are collected (unattributed ones split by basis value, so
 * each key's unattributed cost can follow that key's shares), allocated, merged, sorted. */
static int collect_proportional(sqlite3 *db, const struct tg_report_query *q, struct grow **rows,
                                int *nrows, struct tg_errbuf *eb)
{
    struct tg_buf sql = {0};
    struct tg_alloc_shares sh = {0};
    sqlite3_stmt *st = NULL;
    int64_t *w = NULL, *parts = NULL;
    int rc = 0, step, n = 0, cap = 0, gf = grouping_field(q);
    struct grow *v = NULL;
    if (gf < 0) {
        rc = tg_errf(eb, TG_ERR_INVALID,
                     "--allocate-unattributed needs exactly one attribution dimension in --by "
                     "(tenant_id, team, cost_center, feature_id, workflow_id, actor_id, "
                     "actor_type, environment, service or key_id)");
        goto out;
    }
    const char *field = q->dims[gf], *basis = tg_alloc_basis(field);
    rc = tg_alloc_shares_load(db, field, q->from, q->to, &sh, eb);
    if (rc != 0)
        goto out;
    tg_buf_appends(&sql, "SELECT ");
    for (int d = 0; d < q->n_dims; d++)
        tg_buf_appendf(&sql, "%s, ", find_dim(q->dims[d], strlen(q->dims[d]))->expr);
    tg_buf_appendf(
        &sql, "CASE WHEN %s IS NULL THEN %s END, %s FROM calls WHERE " TG_LEDGER_DAYS " GROUP BY ",
        field, basis, metric_sql);
    for (int d = 0; d <= q->n_dims; d++)
        tg_buf_appendf(&sql, "%s%d", d ? ", " : "", d + 1);
    if (sqlite3_prepare_v2(db, sql.base, -1, &st, NULL) != SQLITE_OK) {
        rc = tg_errf(eb, TG_ERR_IO, "report: %s", sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_text(st, 1, q->from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, q->to, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct grow *g = push_group(&v, &n, &cap);
        for (int d = 0; d < q->n_dims; d++) {
            const char *t = (const char *)sqlite3_column_text(st, d);
            g->vals[d] = t ? tg_strdup(t) : NULL;
        }
        for (int k = 0; k < M_N; k++)
            g->m[k] = sqlite3_column_int64(st, q->n_dims + 1 + k);
        int first,
            k = tg_alloc_shares_find(&sh, (const char *)sqlite3_column_text(st, q->n_dims), &first);
        if (g->vals[gf] != NULL || k == 0 || g->m[M_COST] == 0)
            continue;
        w = tg_realloc(w, (size_t)k * sizeof *w);
        parts = tg_realloc(parts, (size_t)k * sizeof *parts);
        for (int i = 0; i < k; i++)
            w[i] = sh.v[first + i].weight_nanos;
        tg_alloc_split(g->m[M_COST], w, k, parts);
        int src = n - 1;
        v[src].m[M_COST] = 0; /* all of it moves to the shares */
        for (int i = 0; i < k; i++) {
            if (parts[i] == 0)
                continue;
            struct grow *p = push_group(&v, &n, &cap);
            for (int d = 0; d < q->n_dims; d++) {
                const char *t = d == gf ? sh.v[first + i].target : v[src].vals[d];
                p->vals[d] = t ? tg_strdup(t) : NULL;
            }
            p->m[M_COST] = parts[i];
            p->proportional = true;
        }
    }
    if (step != SQLITE_DONE) {
        rc = tg_errf(eb, TG_ERR_IO, "report: %s", sqlite3_errmsg(db));
        goto out;
    }
    /* merge equal groups: the pools of one unattributed group, a target fed by many keys */
    int nd = q->n_dims;
    if (n > 0)
        qsort_r(v, (size_t)n, sizeof *v, cmp_group, &nd);
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m > 0 && cmp_group(&v[m - 1], &v[i], &nd) == 0) {
            for (int k = 0; k < M_N; k++)
                v[m - 1].m[k] += v[i].m[k];
            for (int d = 0; d < q->n_dims; d++)
                free(v[i].vals[d]);
        } else {
            v[m++] = v[i];
        }
    }
    n = m;
    if (n > 0)
        qsort_r(v, (size_t)n, sizeof *v, cmp_output, &nd);
out:
    sqlite3_finalize(st);
    tg_buf_free(&sql);
    tg_alloc_shares_free(&sh);
    free(w);
    free(parts);
    *rows = v;
    *nrows = n;
    return rc;
}

/* cost descending, then the dimensions (NULL first), as ORDER BY cost DESC, 1, 2, ... */
static int by_cost(const struct tg_agg_group *x, const struct tg_agg_group *y, void *ctx)
{
    if (x->sums[M_COST] != y->sums[M_COST])
        return x->sums[M_COST] > y->sums[M_COST] ? -1 : 1;
    return tg_agg_cmp_keys(x, y, *(const int *)ctx);
}

int tg_report_run(sqlite3 *db, const struct tg_report_query *q, struct tg_buf *out,
                  struct tg_errbuf *eb)
{
    struct tg_buf sql = {0};
    sqlite3_stmt *st = NULL;
    struct grow *groups = NULL;
    struct tg_agg *agg = NULL;
    int rc = 0, step = SQLITE_DONE, ngroups = 0;
    int64_t total[M_N] = {0};
    const char *method = q->allocate_proportional ? "direct" : NULL;
    if (q->allocate_proportional) {
        rc = collect_proportional(db, q, &groups, &ngroups, eb);
        if (rc != 0)
            goto out;
    } else {
        tg_buf_appends(&sql, "SELECT ");
        for (int d = 0; d < q->n_dims; d++)
            tg_buf_appendf(&sql, "%s, ", find_dim(q->dims[d], strlen(q->dims[d]))->expr);
        tg_buf_appendf(&sql, "%s FROM calls WHERE " TG_LEDGER_DAYS, row_metric_sql);
        if (sqlite3_prepare_v2(db, sql.base, -1, &st, NULL) != SQLITE_OK) {
            rc = tg_errf(eb, TG_ERR_IO, "report: %s", sqlite3_errmsg(db));
            goto out;
        }
        sqlite3_bind_text(st, 1, q->from, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, q->to, -1, SQLITE_STATIC);
        agg = tg_agg_new(q->n_dims, M_N);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            const char *vals[TG_REPORT_MAX_DIMS];
            int lens[TG_REPORT_MAX_DIMS];
            int64_t m[M_N];
            for (int d = 0; d < q->n_dims; d++) {
                vals[d] = (const char *)sqlite3_column_text(st, d);
                lens[d] = sqlite3_column_bytes(st, d);
            }
            for (int k = 0; k < M_N; k++)
                m[k] = sqlite3_column_int64(st, q->n_dims + k);
            tg_agg_add(agg, vals, lens, m);
        }
        if (step != SQLITE_DONE) {
            rc = tg_errf(eb, TG_ERR_IO, "report: %s", sqlite3_errmsg(db));
            goto out;
        }
        int nd = q->n_dims;
        tg_agg_sort(agg, by_cost, &nd);
    }

    if (q->format == TG_REPORT_JSON) {
        tg_buf_appendf(out, "{\"from\":\"%s\",\"to\":\"%s\",\"by\":[", q->from, q->to);
        for (int d = 0; d < q->n_dims; d++)
            tg_buf_appendf(out, "%s\"%s\"", d ? "," : "", q->dims[d]);
        tg_buf_appends(out, "],");
        if (q->allocate_proportional)
            tg_buf_appends(out, "\"allocate_unattributed\":\"proportional\",");
        tg_buf_appends(out, "\"rows\":[");
    } else {
        for (int d = 0; d < q->n_dims; d++) {
            if (q->format == TG_REPORT_CSV)
                tg_buf_appendf(out, "%s,", q->dims[d]);
            else
                tg_buf_appendf(out, "%-24s ", q->dims[d]);
        }
        if (q->allocate_proportional)
            tg_buf_appendf(out, q->format == TG_REPORT_CSV ? "%s," : "%-17s ", "allocation_method");
        for (int k = 0; k < M_N; k++)
            tg_buf_appendf(out, q->format == TG_REPORT_CSV ? "%s," : "%14.14s ", metric_names[k]);
        tg_buf_appends(out, q->format == TG_REPORT_CSV ? "tool_call_share\n" : "tool_call\n");
    }
    bool first = true;
    for (int i = 0; i < ngroups; i++) {
        for (int k = 0; k < M_N; k++)
            total[k] += groups[i].m[k];
        emit_row(q, out, (const char *const *)groups[i].vals, groups[i].m, first,
                 groups[i].proportional ? "proportional" : method);
        first = false;
    }
    for (int i = 0; agg != NULL && i < tg_agg_count(agg); i++) {
        const struct tg_agg_group *g = tg_agg_at(agg, i);
        for (int k = 0; k < M_N; k++)
            total[k] += g->sums[k];
        emit_row(q, out, g->keys, g->sums, first, method);
        first = false;
    }
    if (q->format == TG_REPORT_JSON) {
        tg_buf_appends(out, "],\"total\":");
        const char *none[TG_REPORT_MAX_DIMS] = {0};
        struct tg_report_query tq = *q;
        tq.n_dims = 0;
        emit_row(&tq, out, none, total, true, NULL);
        tg_buf_appends(out, "}\n");
    } else {
        const char *label[TG_REPORT_MAX_DIMS] = {"TOTAL"};
        for (int d = 1; d < q->n_dims; d++)
            label[d] = "";
        emit_row(q, out, label, total, false, method ? "" : NULL);
    }
out:
    for (int i = 0; i < ngroups; i++)
        for (int d = 0; d < q->n_dims; d++)
            free(groups[i].vals[d]);
    free(groups);
    tg_agg_destroy(agg);
    sqlite3_finalize(st);
    tg_buf_free(&sql);
    return rc;
}
