/* accounting/pricing.c - rate cards and the exact cost of a call
 *
 * DESIGN (money). Prices are integer micro-dollars per million tokens, parsed exactly from
 * the CSV's decimal text (more than 6 decimals is an error, never a rounding). A token at
 * p micro-dollars per million costs p/1000 nano-dollars, so a component is
 * tokens * p / 1000 computed in 128 bits and rounded half-up once, per component. The
 * tier multiplier and the negotiated discount are basis points applied to each
 * component with the same rounding; cost_nanos is defined as the sum of the rounded
 * effective components, so components and total can never disagree. No floating point
 * anywhere. Pure module: no clock (dates come from the record), no I/O except the
 * explicit file loaders. */
#include "accounting/pricing.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/money.h"

#include <csv.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct alias {
    char provider[32], alias[128], version[128];
    int64_t from_ms, to_ms;
};

struct discount {
    char provider[32];
    int64_t bps;
};

struct tg_ratecard {
    struct tg_price_row *rows;
    int n, cap;
    struct alias *aliases;
    int na, capa;
    struct discount discounts[16];
    int nd;
};

struct tg_ratecard *tg_pricing_new(void)
{
    return tg_calloc(1, sizeof(struct tg_ratecard));
}

void tg_pricing_destroy(struct tg_ratecard *rc)
{
    if (rc == NULL)
        return;
    free(rc->rows);
    free(rc->aliases);
    free(rc);
}

int tg_pricing_rows(const struct tg_ratecard *rc)
{
    return rc->n;
}

/* --- CSV loading ---------------------------------------------------------------------- */

enum col_kind { C_STR, C_PRICE, C_DATE, C_INT, C_BPS };

struct column {
    const char *name;
    enum col_kind kind;
    size_t offset;
    size_t size; /* strings */
    bool required;
};

#define COL_STR(n, f, req)                                                                         \
    {                                                                                              \
        n, C_STR, offsetof(struct tg_price_row, f), sizeof(((struct tg_price_row *)0)->f), req     \
    }
#define COL(n, k, f, req)                                                                          \
    {                                                                                              \
        n, k, offsetof(struct tg_price_row, f), 0, req                                             \
    }

static const struct column columns[] = {
    COL_STR("provider", provider, true),
    COL_STR("model", model, true),
    COL("effective_from", C_DATE, from_ms, true),
    COL("effective_to", C_DATE, to_ms, false),
    COL_STR("currency", currency, true),
    COL("input_per_mtok", C_PRICE, input, true),
    COL("cached_input_per_mtok", C_PRICE, cached_input, false),
    COL("cache_write_5m_per_mtok", C_PRICE, cache_write_5m, false),
    COL("cache_write_1h_per_mtok", C_PRICE, cache_write_1h, false),
    COL("output_per_mtok", C_PRICE, output, true),
    COL("reasoning_per_mtok", C_PRICE, reasoning, false),
    COL("audio_input_per_mtok", C_PRICE, audio_input, false),
    COL("audio_output_per_mtok", C_PRICE, audio_output, false),
    COL("web_search_per_1k", C_PRICE, web_search_per_1k, false),
    COL("web_fetch_per_1k", C_PRICE, web_fetch_per_1k, false),
    COL("long_context_threshold", C_INT, long_context_threshold, false),
    COL("long_context_input_per_mtok", C_PRICE, lc_input, false),
    COL("long_context_cached_input_per_mtok", C_PRICE, lc_cached_input, false),
    COL("long_context_output_per_mtok", C_PRICE, lc_output, false),
    COL("batch_multiplier", C_BPS, batch_bps, false),
    COL("priority_multiplier", C_BPS, priority_bps, false),
    COL_STR("source", source, false),
    COL_STR("source_date", source_date, false),
};

#define N_COLUMNS  (sizeof columns / sizeof columns[0])
#define MAX_FIELDS 64

struct loader {
    struct tg_ratecard *rc;
    const char *name;
    struct tg_errbuf *eb;
    int rc_err;
    bool aliases;
    long line;
    char *fields[MAX_FIELDS];
    int nfields;
    int map[MAX_FIELDS]; /* CSV column -> columns[] index, -1 unknown */
    int ncols;
    bool header_done;
};

static int parse_date(const char *s, int64_t *ms)
{
    return tg_parse_time(s, ms);
}

static int set_field(struct loader *L, struct tg_price_row *r, const struct column *c,
                     const char *v)
{
    char *base = (char *)r;
    int64_t x = 0;
    int rc = 0;
    if (v[0] == '\0') {
        if (c->required)
            return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: %s is required", L->name, L->line,
                           c->name);
        return 0; /* the default set before */
    }
    switch (c->kind) {
    case C_STR:
        if (strlen(v) >= c->size)
            return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: %s is too long", L->name, L->line,
                           c->name);
        memcpy(base + c->offset, v, strlen(v) + 1);
        return 0;
    case C_PRICE:
        rc = tg_money_parse_decimal(v, 6, &x);
        if (rc == TG_ERR_LIMIT)
            return tg_errf(
                L->eb, TG_ERR_INVALID,
                "%s:%ld: %s '%s' has more precision than micro-dollars per million tokens", L->name,
                L->line, c->name, v);
        break;
    case C_BPS:
        rc = tg_money_parse_decimal(v, 4, &x);
        if (rc == TG_ERR_LIMIT)
            return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: %s '%s' has more than 4 decimals",
                           L->name, L->line, c->name, v);
        break;
    case C_INT: rc = tg_money_parse_decimal(v, 0, &x); break;
    case C_DATE:
        rc = parse_date(v, &x);
        if (rc != 0)
            return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: %s '%s' is not a date (YYYY-MM-DD)",
                           L->name, L->line, c->name, v);
        break;
    }
    if (rc != 0)
        return tg_errf(L->eb, TG_ERR_INVALID,
                       "%s:%ld: %s '%s' is not a non-negative decimal number", L->name, L->line,
                       c->name, v);
    *(int64_t *)(base + c->offset) = x;
    return 0;
}

static int finish_header(struct loader *L)
{
    static const char *const alias_cols[] = {"provider", "alias", "version", "effective_from",
                                             "effective_to"};
    for (int i = 0; i < L->nfields; i++) {
        L->map[i] = -1;
        if (L->aliases) {
            for (int k = 0; k < 5; k++)
                if (strcmp(L->fields[i], alias_cols[k]) == 0)
                    L->map[i] = k;
        } else {
            for (size_t k = 0; k < N_COLUMNS; k++)
                if (strcmp(L->fields[i], columns[k].name) == 0)
                    L->map[i] = (int)k;
        }
        if (L->map[i] < 0)
            return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: unknown column '%s'", L->name, L->line,
                           L->fields[i]);
    }
    L->ncols = L->nfields;
    int required = L->aliases ? 4 : (int)N_COLUMNS;
    for (int k = 0; k < required; k++) {
        bool is_required = L->aliases ? k < 4 : columns[k].required;
        bool seen = false;
        for (int i = 0; i < L->ncols; i++)
            if (L->map[i] == k)
                seen = true;
        if (is_required && !seen)
            return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: missing required column '%s'", L->name,
                           L->line, L->aliases ? alias_cols[k] : columns[k].name);
    }
    L->header_done = true;
    return 0;
}

static int finish_alias(struct loader *L)
{
    struct alias a;
    memset(&a, 0, sizeof a);
    for (int i = 0; i < L->nfields && i < L->ncols; i++) {
        const char *v = L->fields[i];
        switch (L->map[i]) {
        case 0: snprintf(a.provider, sizeof a.provider, "%s", v); break;
        case 1: snprintf(a.alias, sizeof a.alias, "%s", v); break;
        case 2: snprintf(a.version, sizeof a.version, "%s", v); break;
        case 3:
        case 4:
            if (v[0] != '\0' && parse_date(v, L->map[i] == 3 ? &a.from_ms : &a.to_ms) != 0)
                return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: '%s' is not a date (YYYY-MM-DD)",
                               L->name, L->line, v);
            break;
        default: break;
        }
    }
    if (a.provider[0] == '\0' || a.alias[0] == '\0' || a.version[0] == '\0')
        return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: provider, alias and version are required",
                       L->name, L->line);
    if (L->rc->na == L->rc->capa) {
        L->rc->capa = L->rc->capa ? L->rc->capa * 2 : 32;
        L->rc->aliases = tg_realloc(L->rc->aliases, (size_t)L->rc->capa * sizeof *L->rc->aliases);
    }
    L->rc->aliases[L->rc->na++] = a;
    return 0;
}

static int finish_row(struct loader *L)
{
    if (L->nfields == 1 && L->fields[0][0] == '\0')
        return 0; /* blank line */
    if (L->nfields > 0 && L->fields[0][0] == '#')
        return 0; /* comment line */
    if (!L->header_done)
        return finish_header(L);
    if (L->nfields != L->ncols)
        return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: %d fields, the header has %d", L->name,
                       L->line, L->nfields, L->ncols);
    if (L->aliases)
        return finish_alias(L);
    struct tg_price_row r;
    memset(&r, 0, sizeof r);
    r.cached_input = r.cache_write_5m = r.cache_write_1h = r.reasoning = r.audio_input =
        r.audio_output = -1;
    r.lc_input = r.lc_cached_input = r.lc_output = -1;
    r.batch_bps = r.priority_bps = 10000;
    for (int i = 0; i < L->nfields; i++) {
        int rc = set_field(L, &r, &columns[L->map[i]], L->fields[i]);
        if (rc != 0)
            return rc;
    }
    if (strcmp(r.currency, "USD") != 0)
        return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: currency '%s' is not supported (USD only)",
                       L->name, L->line, r.currency);
    if (r.to_ms != 0 && r.to_ms <= r.from_ms)
        return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: effective_to must be after effective_from",
                       L->name, L->line);
    r.is_pattern = strchr(r.model, '*') != NULL;
    snprintf(r.ref, sizeof r.ref, "%.72s:%ld", L->name, L->line);
    if (L->rc->n == L->rc->cap) {
        L->rc->cap = L->rc->cap ? L->rc->cap * 2 : 64;
        L->rc->rows = tg_realloc(L->rc->rows, (size_t)L->rc->cap * sizeof *L->rc->rows);
    }
    L->rc->rows[L->rc->n++] = r;
    return 0;
}

static void on_field(void *s, size_t len, void *ud)
{
    struct loader *L = ud;
    if (L->rc_err != 0)
        return;
    if (L->nfields == MAX_FIELDS) {
        L->rc_err = tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: too many fields", L->name, L->line);
        return;
    }
    char *v = tg_strndup(s ? s : "", len);
    /* trim surrounding blanks: hand-edited cards are padded for readability */
    size_t a = 0, b = strlen(v);
    while (v[a] == ' ' || v[a] == '\t')
        a++;
    while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t' || v[b - 1] == '\r'))
        b--;
    memmove(v, v + a, b - a);
    v[b - a] = '\0';
    L->fields[L->nfields++] = v;
}

static void on_row(int c, void *ud)
{
    struct loader *L = ud;
    (void)c;
    L->line++;
    if (L->rc_err == 0)
        L->rc_err = finish_row(L);
    for (int i = 0; i < L->nfields; i++)
        free(L->fields[i]);
    L->nfields = 0;
}

static int load(struct tg_ratecard *rc, const char *name, const char *text, unsigned long len,
                bool aliases, struct tg_errbuf *eb)
{
    struct csv_parser p;
    struct loader L;
    memset(&L, 0, sizeof L);
    L.rc = rc;
    L.name = name;
    L.eb = eb;
    L.aliases = aliases;
    int n0 = rc->n, na0 = rc->na;
    if (csv_init(&p, CSV_APPEND_NULL | CSV_EMPTY_IS_NULL) != 0)
        return tg_errf(eb, TG_ERR_NOMEM, "%s: csv_init failed", name);
    if (csv_parse(&p, text, len, on_field, on_row, &L) != len && L.rc_err == 0)
        L.rc_err = tg_errf(eb, TG_ERR_INVALID, "%s:%ld: %s", name, L.line + 1,
                           csv_strerror(csv_error(&p)));
    if (L.rc_err == 0)
        csv_fini(&p, on_field, on_row, &L);
    for (int i = 0; i < L.nfields; i++)
        free(L.fields[i]);
    csv_free(&p);
    if (L.rc_err == 0 && !L.header_done)
        L.rc_err = tg_errf(eb, TG_ERR_INVALID, "%s: empty file (no header row)", name);
    if (L.rc_err != 0) { /* all or nothing */
        rc->n = n0;
        rc->na = na0;
    }
    return L.rc_err;
}

int tg_pricing_load_csv(struct tg_ratecard *rc, const char *name, const char *text,
                        unsigned long len, struct tg_errbuf *eb)
{
    return load(rc, name, text, len, false, eb);
}

int tg_pricing_load_aliases_csv(struct tg_ratecard *rc, const char *name, const char *text,
                                unsigned long len, struct tg_errbuf *eb)
{
    return load(rc, name, text, len, true, eb);
}

static int load_path(struct tg_ratecard *rc, const char *path, bool aliases, struct tg_errbuf *eb)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return tg_errf(eb, TG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 16384;
            text = tg_realloc(text, cap);
        }
        size_t got = fread(text + len, 1, cap - len, f);
        if (got == 0)
            break;
        len += got;
    }
    fclose(f);
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    int rc2 = load(rc, name, text, len, aliases, eb);
    free(text);
    return rc2;
}

int tg_pricing_load_file(struct tg_ratecard *rc, const char *path, struct tg_errbuf *eb)
{
    return load_path(rc, path, false, eb);
}

int tg_pricing_load_aliases_file(struct tg_ratecard *rc, const char *path, struct tg_errbuf *eb)
{
    return load_path(rc, path, true, eb);
}

int tg_pricing_set_discount(struct tg_ratecard *rc, const char *provider, int64_t bps,
                            struct tg_errbuf *eb)
{
    if (bps < 0 || bps > 10000)
        return tg_errf(eb, TG_ERR_INVALID, "discount for %s must be 0..100%%", provider);
    for (int i = 0; i < rc->nd; i++)
        if (strcmp(rc->discounts[i].provider, provider) == 0) {
            rc->discounts[i].bps = bps;
            return 0;
        }
    if (rc->nd == 16)
        return tg_errf(eb, TG_ERR_LIMIT, "at most 16 provider discounts");
    snprintf(rc->discounts[rc->nd].provider, sizeof rc->discounts[rc->nd].provider, "%s", provider);
    rc->discounts[rc->nd++].bps = bps;
    return 0;
}

/* --- lookup ------------------------------------------------------------------------- */

static bool in_effect(int64_t from, int64_t to, int64_t t)
{
    return t >= from && (to == 0 || t < to);
}

static const struct tg_price_row *find_exact(const struct tg_ratecard *rc, const char *provider,
                                             const char *model, int64_t t)
{
    for (int i = rc->n - 1; i >= 0; i--) { /* later layers first */
        const struct tg_price_row *r = &rc->rows[i];
        if (!r->is_pattern && strcmp(r->provider, provider) == 0 && strcmp(r->model, model) == 0 &&
            in_effect(r->from_ms, r->to_ms, t))
            return r;
    }
    return NULL;
}

const struct tg_price_row *tg_pricing_lookup(const struct tg_ratecard *rc, const char *provider,
                                             const char *model, int64_t date_ms,
                                             enum tg_price_match *how, const char **resolved)
{
    const struct tg_price_row *r = find_exact(rc, provider, model, date_ms);
    if (resolved != NULL)
        *resolved = NULL;
    if (r != NULL) {
        *how = TG_PRICE_EXACT;
        return r;
    }
    for (int i = rc->na - 1; i >= 0; i--) {
        const struct alias *a = &rc->aliases[i];
        if (strcmp(a->provider, provider) == 0 && strcmp(a->alias, model) == 0 &&
            in_effect(a->from_ms, a->to_ms, date_ms)) {
            r = find_exact(rc, provider, a->version, date_ms);
            if (r != NULL) {
                *how = TG_PRICE_ALIAS;
                if (resolved != NULL)
                    *resolved = a->version;
                return r;
            }
        }
    }
    const struct tg_price_row *best = NULL;
    size_t best_len = 0;
    for (int i = rc->n - 1; i >= 0; i--) {
        const struct tg_price_row *p = &rc->rows[i];
        size_t len = strlen(p->model);
        if (p->is_pattern && strcmp(p->provider, provider) == 0 &&
            in_effect(p->from_ms, p->to_ms, date_ms) && len > best_len &&
            fnmatch(p->model, model, 0) == 0) {
            best = p;
            best_len = len;
        }
    }
    *how = TG_PRICE_PATTERN;
    return best;
}

/* --- cost --------------------------------------------------------------------------- */

/* tokens at p micro-dollars per million = tokens * p / 1000 nano-dollars, half-up */
static int64_t tokens_cost(int64_t tokens, int64_t p)
{
    if (tokens <= 0 || p <= 0)
        return 0;
    __int128 v = (__int128)tokens * p;
    return (int64_t)((v + 500) / 1000);
}

static int64_t scale_bps(int64_t nanos, int64_t bps)
{
    __int128 v = (__int128)nanos * bps;
    return (int64_t)((v + 5000) / 10000);
}

static int64_t pick(int64_t price, int64_t fallback)
{
    return price >= 0 ? price : fallback;
}

static int64_t clamp0(int64_t v)
{
    return v < 0 ? 0 : v;
}

bool tg_pricing_cost(const struct tg_ratecard *rc, struct tg_call_record *rec)
{
    const struct tg_usage *u = &rec->usage;
    const char *model = u->response_model[0] ? u->response_model : rec->request_model;
    enum tg_price_match how;
    const struct tg_price_row *r =
        tg_pricing_lookup(rc, rec->provider, model, rec->started_at_ms, &how, NULL);
    rec->is_priced = false;
    rec->price_ref[0] = '\0';
    rec->cost_nanos = rec->input_cost_nanos = rec->cached_input_cost_nanos =
        rec->cache_write_cost_nanos = 0;
    rec->output_cost_nanos = rec->other_cost_nanos = rec->list_cost_nanos =
        rec->cache_savings_nanos = 0;
    if (r == NULL)
        return false;

    bool lc = r->long_context_threshold > 0 && u->input_tokens > r->long_context_threshold;
    int64_t in_p = lc ? pick(r->lc_input, r->input) : r->input;
    int64_t cached_p =
        lc ? pick(r->lc_cached_input, pick(r->cached_input, in_p)) : pick(r->cached_input, in_p);
    int64_t out_p = lc ? pick(r->lc_output, r->output) : r->output;
    int64_t w5_p = pick(r->cache_write_5m, in_p), w1_p = pick(r->cache_write_1h, in_p);
    int64_t reas_p = pick(r->reasoning, out_p);
    int64_t ain_p = pick(r->audio_input, in_p), aout_p = pick(r->audio_output, out_p);

    /* input_tokens counts everything (OTel rule): the plain text part is what remains */
    int64_t plain_in = clamp0(u->input_tokens - u->cached_input_tokens - u->cache_write_5m_tokens -
                              u->cache_write_1h_tokens - u->audio_input_tokens);
    int64_t plain_out = clamp0(u->output_tokens - u->reasoning_tokens - u->audio_output_tokens);

    int64_t list[5];
    list[0] = tokens_cost(plain_in, in_p) + tokens_cost(u->audio_input_tokens, ain_p);
    list[1] = tokens_cost(u->cached_input_tokens, cached_p);
    list[2] =
        tokens_cost(u->cache_write_5m_tokens, w5_p) + tokens_cost(u->cache_write_1h_tokens, w1_p);
    list[3] = tokens_cost(plain_out, out_p) + tokens_cost(u->reasoning_tokens, reas_p) +
              tokens_cost(u->audio_output_tokens, aout_p);
    /* per-request fees: micro-dollars per 1,000 requests = nano-dollars per request */
    list[4] = u->web_search_requests * clamp0(r->web_search_per_1k) +
              u->web_fetch_requests * clamp0(r->web_fetch_per_1k);
    int64_t savings = tokens_cost(u->cached_input_tokens, in_p) - list[1];

    int64_t tier = 10000;
    if (strcmp(u->service_tier, "batch") == 0)
        tier = r->batch_bps;
    else if (strcmp(u->service_tier, "priority") == 0)
        tier = r->priority_bps;
    int64_t disc = 0;
    for (int i = 0; i < rc->nd; i++)
        if (strcmp(rc->discounts[i].provider, rec->provider) == 0)
            disc = rc->discounts[i].bps;

    int64_t eff[5], total = 0, list_total = 0;
    for (int i = 0; i < 5; i++) {
        list[i] = tier == 10000 ? list[i] : scale_bps(list[i], tier);
        eff[i] = disc == 0 ? list[i] : scale_bps(list[i], 10000 - disc);
        total += eff[i];
        list_total += list[i];
    }
    savings = tier == 10000 ? savings : scale_bps(savings, tier);
    rec->input_cost_nanos = eff[0];
    rec->cached_input_cost_nanos = eff[1];
    rec->cache_write_cost_nanos = eff[2];
    rec->output_cost_nanos = eff[3];
    rec->other_cost_nanos = eff[4];
    rec->cost_nanos = total;
    rec->list_cost_nanos = list_total;
    rec->cache_savings_nanos = disc == 0 ? savings : scale_bps(savings, 10000 - disc);
    static const char *const match_names[] = {"exact", "alias", "pattern"};
    snprintf(rec->price_ref, sizeof rec->price_ref, "%.95s:%s%s", r->ref, match_names[how],
             lc ? ":long_context" : "");
    rec->is_priced = true;
    return true;
}
