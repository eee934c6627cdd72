/* finops/reconcile.c - `tollgate reconcile`: the ledger against a provider's usage export
 *
 * Owns the invoice readers (the `simple` CSV and FOCUS, both through core/csvread) and the
 * comparison. Both sides are reduced to one amount per (UTC day, provider, model): the
 * invoice by summing its usage lines, the ledger by summing cost_nanos of the calls that
 * were forwarded to the provider (attempt > 0: a call the gateway refused is never on an
 * invoice). Providers compare case-insensitively (invoices say "OpenAI", the ledger
 * "openai"); models compare exactly.
 *
 * DESIGN (money). Invoice amounts are decimal text parsed exactly into int64 nano-dollars
 * (more than 9 decimals is an error naming file and line, never a rounding); sums,
 * differences and tolerances are integers. The only division is the difference in basis
 * points of the invoice amount, done in 128 bits and rounded half away from zero. A key
 * with unpriced ledger calls has no known ledger cost: it is reported as `unpriced`,
 * never compared as if those calls cost $0. */
#include "finops/reconcile.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/csvread.h"
#include "core/money.h"
#include "store/sqlite_store.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 128

/* Columns the readers look for, by format. A FOCUS file names the provider in
 * ServiceProviderName (1.3) or ProviderName (1.2), and the model in a custom x_ column
 * when the exporter writes one, else in SkuId (SPECS §5.10: SkuId = the model), else in
 * ResourceName. The first present, non-empty one wins, per row. */
enum col {
    C_DAY,
    C_PROVIDER,
    C_MODEL,
    C_COST,
    C_F_SERVICE_PROVIDER,
    C_F_PROVIDER,
    C_F_X_RESPONSE_MODEL,
    C_F_X_MODEL,
    C_F_SKU,
    C_F_RESOURCE,
    C_F_PERIOD_END,
    C_F_CATEGORY,
    C_F_CURRENCY,
    C_N
};

static const char *const simple_cols[C_N] = {
    [C_DAY] = "date", [C_PROVIDER] = "provider", [C_MODEL] = "model", [C_COST] = "cost_usd"};
static const char *const focus_cols[C_N] = {
    [C_DAY] = "ChargePeriodStart",
    [C_COST] = "BilledCost",
    [C_F_SERVICE_PROVIDER] = "ServiceProviderName",
    [C_F_PROVIDER] = "ProviderName",
    [C_F_X_RESPONSE_MODEL] = "x_GenAiResponseModel",
    [C_F_X_MODEL] = "x_GenAiModel",
    [C_F_SKU] = "SkuId",
    [C_F_RESOURCE] = "ResourceName",
    [C_F_PERIOD_END] = "ChargePeriodEnd",
    [C_F_CATEGORY] = "ChargeCategory",
    [C_F_CURRENCY] = "BillingCurrency",
};

struct reader {
    struct tg_invoice *inv;
    const char *name;
    struct tg_errbuf *eb;
    enum tg_invoice_format format;
    int err;
    long row_line;
    char *const *fields; /* the current row's, borrowed from core/csvread */
    int nfields;
    int col_of[C_N]; /* CSV column index of each wanted column, -1 when absent */
    bool header_done;
};

static const char *get(const struct reader *R, enum col c)
{
    int i = R->col_of[c];
    if (i < 0 || i >= R->nfields || R->fields[i][0] == '\0')
        return NULL;
    return R->fields[i];
}

static int header(struct reader *R)
{
    const char *const *want = R->format == TG_INVOICE_FOCUS ? focus_cols : simple_cols;
    for (int c = 0; c < C_N; c++) {
        R->col_of[c] = -1;
        for (int i = 0; want[c] != NULL && i < R->nfields; i++)
            if (strcmp(R->fields[i], want[c]) == 0)
                R->col_of[c] = i;
    }
    const char *missing = NULL;
    if (R->col_of[C_DAY] < 0)
        missing = want[C_DAY];
    else if (R->col_of[C_COST] < 0)
        missing = want[C_COST];
    else if (R->format == TG_INVOICE_SIMPLE && R->col_of[C_PROVIDER] < 0)
        missing = want[C_PROVIDER];
    else if (R->format == TG_INVOICE_SIMPLE && R->col_of[C_MODEL] < 0)
        missing = want[C_MODEL];
    else if (R->format == TG_INVOICE_FOCUS && R->col_of[C_F_SERVICE_PROVIDER] < 0 &&
             R->col_of[C_F_PROVIDER] < 0)
        missing = "ServiceProviderName or ProviderName";
    else if (R->format == TG_INVOICE_FOCUS && R->col_of[C_F_X_RESPONSE_MODEL] < 0 &&
             R->col_of[C_F_X_MODEL] < 0 && R->col_of[C_F_SKU] < 0 && R->col_of[C_F_RESOURCE] < 0)
        missing = "a model column (x_GenAiResponseModel, x_GenAiModel, SkuId or ResourceName)";
    if (missing != NULL)
        return tg_errf(R->eb, TG_ERR_INVALID, "%s:%ld: missing column %s", R->name, R->row_line,
                       missing);
    R->header_done = true;
    return 0;
}

/* "-12.5" -> nanos; FOCUS corrections and credits may be negative. */
static int amount(const struct reader *R, const char *col, const char *v, int64_t *out)
{
    bool neg = v[0] == '-';
    int rc = tg_money_parse_decimal(neg ? v + 1 : v, 9, out);
    if (rc == TG_ERR_LIMIT)
        return tg_errf(R->eb, TG_ERR_INVALID, "%s:%ld: %s '%s' has more than 9 decimals", R->name,
                       R->row_line, col, v);
    if (rc != 0)
        return tg_errf(R->eb, TG_ERR_INVALID, "%s:%ld: %s '%s' is not a decimal USD amount",
                       R->name, R->row_line, col, v);
    if (neg)
        *out = -*out;
    return 0;
}

static int row(struct reader *R)
{
    struct tg_invoice_line L;
    const char *const *names = R->format == TG_INVOICE_FOCUS ? focus_cols : simple_cols;
    int64_t start_ms = 0, end_ms = 0;
    memset(&L, 0, sizeof L);
    if (!R->header_done)
        return header(R);
    const char *day = get(R, C_DAY), *cost = get(R, C_COST), *provider = NULL, *model = NULL;
    if (R->format == TG_INVOICE_SIMPLE) {
        provider = get(R, C_PROVIDER);
        model = get(R, C_MODEL);
    } else {
        const char *cat = get(R, C_F_CATEGORY), *cur = get(R, C_F_CURRENCY);
        if (cat != NULL && strcmp(cat, "Usage") != 0) {
            R->inv->skipped++; /* tax, credits, purchases: not gateway traffic */
            return 0;
        }
        if (cur != NULL && strcmp(cur, "USD") != 0)
            return tg_errf(R->eb, TG_ERR_INVALID, "%s:%ld: BillingCurrency '%s': only USD", R->name,
                           R->row_line, cur);
        provider =
            get(R, C_F_SERVICE_PROVIDER) ? get(R, C_F_SERVICE_PROVIDER) : get(R, C_F_PROVIDER);
        for (int c = C_F_X_RESPONSE_MODEL; c <= C_F_RESOURCE && model == NULL; c++)
            model = get(R, (enum col)c);
    }
    if (day == NULL || cost == NULL || provider == NULL || model == NULL)
        return tg_errf(R->eb, TG_ERR_INVALID, "%s:%ld: empty %s", R->name, R->row_line,
                       day == NULL        ? names[C_DAY]
                       : cost == NULL     ? names[C_COST]
                       : provider == NULL ? "provider"
                                          : "model");
    if (tg_parse_time(day, &start_ms) != 0)
        return tg_errf(R->eb, TG_ERR_INVALID,
                       "%s:%ld: %s '%s' is not a UTC date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)",
                       R->name, R->row_line, names[C_DAY], day);
    const char *end = R->format == TG_INVOICE_FOCUS ? get(R, C_F_PERIOD_END) : NULL;
    /* ChargePeriodEnd is exclusive: a daily row ends at the next midnight */
    if (end != NULL && (tg_parse_time(end, &end_ms) != 0 || end_ms - start_ms > 86400000 ||
                        (end_ms - 1) / 86400000 != start_ms / 86400000))
        return tg_errf(R->eb, TG_ERR_INVALID,
                       "%s:%ld: charge period %s..%s is not within one UTC day (reconcile needs "
                       "daily or finer rows)",
                       R->name, R->row_line, day, end);
    char iso[25];
    tg_iso8601_ms(start_ms, iso);
    memcpy(L.day, iso, 10);
    if (strlen(provider) >= sizeof L.provider || strlen(model) >= sizeof L.model)
        return tg_errf(R->eb, TG_ERR_INVALID, "%s:%ld: provider or model name too long", R->name,
                       R->row_line);
    for (size_t i = 0; provider[i] != '\0'; i++)
        L.provider[i] = (char)tolower((unsigned char)provider[i]);
    memcpy(L.model, model, strlen(model) + 1);
    int rc = amount(R, names[C_COST], cost, &L.cost_nanos);
    if (rc != 0)
        return rc;
    if (R->inv->n == R->inv->cap) {
        R->inv->cap = R->inv->cap ? R->inv->cap * 2 : 64;
        R->inv->lines = tg_realloc(R->inv->lines, (size_t)R->inv->cap * sizeof L);
    }
    R->inv->lines[R->inv->n++] = L;
    return 0;
}

static int on_record(void *ud, char *const *fields, int nfields, long line)
{
    struct reader *R = ud;
    R->fields = fields;
    R->nfields = nfields;
    R->row_line = line;
    return row(R);
}

/* Read by core/csvread, as rate cards are, so messages name the physical line a row
 * starts on. An invoice has no comment lines. */
int tg_invoice_parse(struct tg_invoice *inv, const char *name, const char *text, size_t len,
                     enum tg_invoice_format format, struct tg_errbuf *eb)
{
    static const struct tg_csv_opts opts = {.max_fields = MAX_FIELDS, .skip_comments = false};
    struct reader R;
    int first = inv->n, skipped = inv->skipped;
    memset(&R, 0, sizeof R);
    R.inv = inv;
    R.name = name;
    R.eb = eb;
    R.format = format;
    R.err = tg_csv_parse(name, text, len, &opts, on_record, &R, eb);
    if (R.err == 0 && !R.header_done)
        R.err = tg_errf(eb, TG_ERR_INVALID, "%s: empty file (no header row)", name);
    if (R.err != 0) {
        inv->n = first;
        inv->skipped = skipped;
    }
    return R.err;
}

int tg_invoice_load(struct tg_invoice *inv, const char *path, enum tg_invoice_format format,
                    struct tg_errbuf *eb)
{
    char *text = NULL;
    size_t len = 0;
    const char *name = NULL;
    int rc = tg_csv_read_file(path, &text, &len, &name, eb);
    if (rc == 0)
        rc = tg_invoice_parse(inv, name, text, len, format, eb);
    free(text);
    return rc;
}

void tg_invoice_free(struct tg_invoice *inv)
{
    free(inv->lines);
    memset(inv, 0, sizeof *inv);
}

enum status { S_VARIANCE, S_INVOICE_ONLY, S_LEDGER_ONLY, S_UNPRICED, S_MATCH };
static const char *const status_names[] = {"variance", "invoice_only", "ledger_only", "unpriced",
                                           "match"};

struct entry {
    char day[11], provider[64], model[160];
    bool has_invoice, has_ledger;
    int64_t invoice, ledger, calls, unpriced;
    enum status status;
};

static int cmp_key(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = strcmp(x->day, y->day);
    if (c == 0)
        c = strcmp(x->provider, y->provider);
    return c != 0 ? c : strcmp(x->model, y->model);
}

static int cmp_status(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->status != y->status)
        return x->status < y->status ? -1 : 1;
    return cmp_key(a, b);
}

/* (invoice - ledger) in basis points of the invoice, half away from zero. */
static int64_t bps(int64_t diff, int64_t invoice)
{
    __int128 num = (__int128)diff * 10000, den = invoice;
    if (den < 0) {
        num = -num;
        den = -den;
    }
    __int128 q = (num < 0 ? num - den / 2 : num + den / 2) / den;
    return (int64_t)q;
}

static void usd(int64_t nanos, char *out, size_t n)
{
    tg_money_format_usd(nanos, out, n);
}

static void emit(const struct tg_reconcile_query *q, struct tg_buf *out, const struct entry *e,
                 bool first)
{
    char led[40] = "", inv[40] = "", diff[40] = "", bp[32] = "";
    bool has_diff = e->status != S_UNPRICED;
    if (e->has_ledger)
        usd(e->ledger, led, sizeof led);
    if (e->has_invoice)
        usd(e->invoice, inv, sizeof inv);
    if (has_diff)
        usd(e->invoice - e->ledger, diff, sizeof diff);
    if (has_diff && e->has_invoice && e->invoice != 0)
        snprintf(bp, sizeof bp, "%lld", (long long)bps(e->invoice - e->ledger, e->invoice));
    const char *model = e->model[0] ? e->model : "(none)";
    if (q->format == TG_REPORT_JSON) {
        tg_buf_appendf(out, "%s{\"status\":\"%s\",\"day\":\"%s\",\"provider\":", first ? "" : ",",
                       status_names[e->status], e->day);
        tg_buf_append_json_str(out, e->provider, strlen(e->provider));
        tg_buf_appends(out, ",\"model\":");
        tg_buf_append_json_str(out, model, strlen(model));
        const char *vals[4] = {led, inv, diff, bp};
        const char *keys[4] = {"ledger_usd", "invoice_usd", "difference_usd", "difference_bps"};
        for (int i = 0; i < 4; i++) {
            if (vals[i][0] == '\0')
                tg_buf_appendf(out, ",\"%s\":null", keys[i]);
            else
                tg_buf_appendf(out, i == 3 ? ",\"%s\":%s" : ",\"%s\":\"%s\"", keys[i], vals[i]);
        }
        tg_buf_appendf(out, ",\"ledger_calls\":%lld,\"unpriced_calls\":%lld}", (long long)e->calls,
                       (long long)e->unpriced);
    } else if (q->format == TG_REPORT_CSV) {
        tg_buf_appendf(out, "%s,%s,", status_names[e->status], e->day);
        tg_report_csv_field(out, e->provider);
        tg_buf_appends(out, ",");
        tg_report_csv_field(out, model);
        tg_buf_appendf(out, ",%s,%s,%s,%s,%lld,%lld\n", led, inv, diff, bp, (long long)e->calls,
                       (long long)e->unpriced);
    } else {
        tg_buf_appendf(out, "%-14s %-10s %-10s %-28s %14s %14s %14s %8s %6lld %8lld\n",
                       status_names[e->status], e->day, e->provider, model, led[0] ? led : "-",
                       inv[0] ? inv : "-", diff[0] ? diff : "-", bp[0] ? bp : "-",
                       (long long)e->calls, (long long)e->unpriced);
    }
}

static struct entry *push(struct entry **v, int *n, int *cap)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *v = tg_realloc(*v, (size_t)*cap * sizeof **v);
    }
    struct entry *e = &(*v)[(*n)++];
    memset(e, 0, sizeof *e);
    return e;
}

int tg_reconcile_run(sqlite3 *db, const struct tg_invoice *inv, const struct tg_reconcile_query *q,
                     struct tg_buf *out, struct tg_reconcile_summary *sum, struct tg_errbuf *eb)
{
    static const char sql[] =
        "SELECT day, lower(provider), coalesce(response_model, request_model, ''), "
        "coalesce(sum(cost_nanos), 0), count(*), sum(cost_nanos IS NULL) FROM calls "
        "WHERE " TG_LEDGER_DAYS " AND attempt > 0 GROUP BY 1, 2, 3";
    struct tg_reconcile_summary s;
    struct entry *v = NULL;
    sqlite3_stmt *st = NULL;
    int n = 0, cap = 0, rc = 0, step;
    char from[11], to[11];
    memset(&s, 0, sizeof s);
    snprintf(from, sizeof from, "%s", q->from);
    snprintf(to, sizeof to, "%s", q->to);
    for (int i = 0; i < inv->n; i++) { /* default range: the invoice's days */
        if (q->from[0] == '\0' && (from[0] == '\0' || strcmp(inv->lines[i].day, from) < 0))
            memcpy(from, inv->lines[i].day, 11);
        if (q->to[0] == '\0' && (to[0] == '\0' || strcmp(inv->lines[i].day, to) > 0))
            memcpy(to, inv->lines[i].day, 11);
    }
    if (from[0] == '\0' || to[0] == '\0') {
        rc = tg_errf(eb, TG_ERR_INVALID, "the invoice has no usage lines: give --from and --to");
        goto out;
    }
    for (int i = 0; i < inv->n; i++) {
        const struct tg_invoice_line *l = &inv->lines[i];
        if (strcmp(l->day, from) < 0 || strcmp(l->day, to) > 0)
            continue;
        struct entry *e = push(&v, &n, &cap);
        memcpy(e->day, l->day, sizeof e->day);
        memcpy(e->provider, l->provider, sizeof e->provider);
        memcpy(e->model, l->model, sizeof e->model);
        e->has_invoice = true;
        e->invoice = l->cost_nanos;
    }
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = tg_errf(eb, TG_ERR_IO, "reconcile: %s", sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct entry *e = push(&v, &n, &cap);
        snprintf(e->day, sizeof e->day, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(e->provider, sizeof e->provider, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(e->model, sizeof e->model, "%s", (const char *)sqlite3_column_text(st, 2));
        e->has_ledger = true;
        e->ledger = sqlite3_column_int64(st, 3);
        e->calls = sqlite3_column_int64(st, 4);
        e->unpriced = sqlite3_column_int64(st, 5);
    }
    if (step != SQLITE_DONE) {
        rc = tg_errf(eb, TG_ERR_IO, "reconcile: %s", sqlite3_errmsg(db));
        goto out;
    }
    /* merge equal keys: invoice lines of one key add up, then meet the ledger's */
    if (n > 0)
        qsort(v, (size_t)n, sizeof *v, cmp_key);
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m > 0 && cmp_key(&v[m - 1], &v[i]) == 0) {
            struct entry *d = &v[m - 1];
            d->has_invoice |= v[i].has_invoice;
            d->has_ledger |= v[i].has_ledger;
            d->invoice += v[i].invoice;
            d->ledger += v[i].ledger;
            d->calls += v[i].calls;
            d->unpriced += v[i].unpriced;
        } else {
            v[m++] = v[i];
        }
    }
    n = m;
    for (int i = 0; i < n; i++) {
        struct entry *e = &v[i];
        int64_t diff = e->invoice - e->ledger;
        if (diff < 0)
            diff = -diff;
        if (e->unpriced > 0)
            e->status = S_UNPRICED;
        else if (diff <= q->tolerance_nanos)
            e->status = S_MATCH;
        else if (!e->has_ledger)
            e->status = S_INVOICE_ONLY;
        else if (!e->has_invoice)
            e->status = S_LEDGER_ONLY;
        else
            e->status = S_VARIANCE;
        s.ledger_nanos += e->ledger;
        s.invoice_nanos += e->invoice;
        s.matches += e->status == S_MATCH;
        s.variances += e->status == S_VARIANCE;
        s.invoice_only += e->status == S_INVOICE_ONLY;
        s.ledger_only += e->status == S_LEDGER_ONLY;
        s.unpriced += e->status == S_UNPRICED;
    }
    if (n > 0)
        qsort(v, (size_t)n, sizeof *v, cmp_status);

    char tol[40], lt[40], it[40], dt[40];
    usd(q->tolerance_nanos, tol, sizeof tol);
    usd(s.ledger_nanos, lt, sizeof lt);
    usd(s.invoice_nanos, it, sizeof it);
    usd(s.invoice_nanos - s.ledger_nanos, dt, sizeof dt);
    if (q->format == TG_REPORT_JSON)
        tg_buf_appendf(out, "{\"from\":\"%s\",\"to\":\"%s\",\"tolerance_usd\":\"%s\",\"rows\":[",
                       from, to, tol);
    else if (q->format == TG_REPORT_CSV)
        tg_buf_appends(out, "status,day,provider,model,ledger_usd,invoice_usd,difference_usd,"
                            "difference_bps,ledger_calls,unpriced_calls\n");
    else
        tg_buf_appendf(out, "%-14s %-10s %-10s %-28s %14s %14s %14s %8s %6s %8s\n", "status", "day",
                       "provider", "model", "ledger_usd", "invoice_usd", "difference", "diff_bps",
                       "calls", "unpriced");
    for (int i = 0; i < n; i++)
        emit(q, out, &v[i], i == 0);
    if (q->format == TG_REPORT_JSON)
        tg_buf_appendf(out,
                       "],\"summary\":{\"matches\":%d,\"variances\":%d,\"invoice_only\":%d,"
                       "\"ledger_only\":%d,\"unpriced\":%d,\"ledger_usd\":\"%s\","
                       "\"invoice_usd\":\"%s\",\"difference_usd\":\"%s\","
                       "\"skipped_invoice_rows\":%d}}\n",
                       s.matches, s.variances, s.invoice_only, s.ledger_only, s.unpriced, lt, it,
                       dt, inv->skipped);
    else if (q->format == TG_REPORT_TABLE)
        tg_buf_appendf(out,
                       "\n%s..%s, tolerance %s USD: %d match, %d variance, %d invoice only, "
                       "%d ledger only, %d unpriced\nledger %s USD, invoice %s USD, "
                       "difference %s USD; %d non-usage invoice rows skipped\n",
                       from, to, tol, s.matches, s.variances, s.invoice_only, s.ledger_only,
                       s.unpriced, lt, it, dt, inv->skipped);
    if (sum != NULL)
        *sum = s;
out:
    sqlite3_finalize(st);
    free(v);
    return rc;
}
