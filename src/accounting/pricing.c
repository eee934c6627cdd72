/* accounting/pricing.c - rate cards and the exact cost of a call
 *
 * Owns the in-memory rate card (rows, alias map, per-provider discounts, the fallback
 * price for budgets), its CSV loader (records from core/csvread), the (provider, model,
 * date) lookup and the cost computation.
 *
 * DESIGN (money). Prices are integer micro-dollars per million tokens, parsed exactly from
 * the CSV's decimal text (more than 6 decimals is an error, never a rounding). A token at
 * p micro-dollars per million costs p pico-dollars (1e-12 USD) = p/1000 nano-dollars. So a
 * component is first summed exactly in pico-dollars in 128 bits (tokens * price for each
 * kind of token in it; a server-tool fee of f micro-dollars per 1,000 requests is f
 * nano-dollars = 1000 f pico-dollars per request), then multiplied by the tier multiplier
 * and the discount factor (both basis points), and divided ONCE, rounding half-up, to a
 * whole nano-dollar. list components use the tier only, effective components tier and
 * discount. cost_nanos is defined as the sum of the rounded effective components and
 * list_cost_nanos as the sum of the rounded list components, so components and totals
 * can never disagree. The bounds in pricing.h (counts <= 1e12, prices <= 1e12, tiers <=
 * 1e5 bps) keep the largest numerator below 1e12 * 1e12 * 1e3 * 3 * 1e5 * 1e4 < 1e37,
 * inside a signed 128-bit integer (1.7e38); a result that does not fit int64 leaves the
 * call unpriced. No floating point anywhere.
 *
 * Pure module: no clock (dates come from the record), no I/O except the explicit file
 * loaders. A loaded card is read-only, so any thread may price with it. */
#include "accounting/pricing.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/csvread.h"
#include "core/money.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct alias {
    char provider[32], alias[128], version[128];
    int64_t from_ms, to_ms;
    long line;
};

struct discount {
    char provider[32];
    int64_t bps;
};

struct tg_ratecard {
    struct tg_price_row *rows;
    int n, cap;
    /* exact (non-pattern) rows by (provider, model): bucket heads and chains of row
     * indexes, later rows first; rebuilt after every load */
    int *bucket, *next;
    unsigned nbuckets;
    struct alias *aliases;
    int na, capa;
    struct discount discounts[16];
    int nd;
    bool has_fallback;
    int64_t fallback_input, fallback_output;
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
    free(rc->bucket);
    free(rc->next);
    free(rc->aliases);
    free(rc);
}

int tg_pricing_rows(const struct tg_ratecard *rc)
{
    return rc->n;
}

int tg_pricing_aliases(const struct tg_ratecard *rc)
{
    return rc->na;
}

const char *tg_pricing_match_name(enum tg_price_match how)
{
    switch (how) {
    case TG_PRICE_EXACT: return "exact";
    case TG_PRICE_ALIAS: return "alias";
    case TG_PRICE_PATTERN: return "pattern";
    }
    return "?";
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
    COL("long_context_cache_write_5m_per_mtok", C_PRICE, lc_cache_write_5m, false),
    COL("long_context_cache_write_1h_per_mtok", C_PRICE, lc_cache_write_1h, false),
    COL("long_context_output_per_mtok", C_PRICE, lc_output, false),
    COL("batch_multiplier", C_BPS, batch_bps, false),
    COL("flex_multiplier", C_BPS, flex_bps, false),
    COL("priority_multiplier", C_BPS, priority_bps, false),
    COL_STR("source", source, false),
    COL_STR("source_date", source_date, false),
};

#define N_COLUMNS  (sizeof columns / sizeof columns[0])
#define MAX_FIELDS 64

static const char *const alias_cols[] = {"provider", "alias", "version", "effective_from",
                                         "effective_to"};
#define N_ALIAS_COLS   5
#define N_ALIAS_NEEDED 4 /* all but effective_to */

enum load_kind { LOAD_CARD, LOAD_ALIASES, LOAD_ANY };

struct loader {
    struct tg_ratecard *rc;
    const char *name;
    struct tg_errbuf *eb;
    int rc_err;
    enum load_kind kind; /* LOAD_ANY becomes one of the others at the header */
    long row_line;       /* the physical line the current row started on */
    char *const *fields; /* the current row's, borrowed from core/csvread */
    int nfields;
    int map[MAX_FIELDS]; /* CSV column -> columns[] (or alias_cols[]) index */
    int ncols;
    bool header_done;
};

static int set_field(struct loader *L, struct tg_price_row *r, const struct column *c,
                     const char *v)
{
    char *base = (char *)r;
    int64_t x = 0;
    int rc = 0;
    if (v[0] == '\0') {
        if (c->required)
            return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: %s is required", L->name, L->row_line,
                           c->name);
        return 0; /* the default set before */
    }
    switch (c->kind) {
    case C_STR:
        if (strlen(v) >= c->size)
            return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: %s is too long (at most %zu bytes)",
                           L->name, L->row_line, c->name, c->size - 1);
        memcpy(base + c->offset, v, strlen(v) + 1);
        return 0;
    case C_PRICE:
        rc = tg_money_parse_decimal(v, 6, &x);
        if (rc == TG_ERR_LIMIT)
            return tg_errf(
                L->eb, TG_ERR_INVALID,
                "%s:%ld: %s '%s' has more precision than micro-dollars per million tokens", L->name,
                L->row_line, c->name, v);
        if (rc == 0 && x > TG_PRICE_MAX_MICROS)
            return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: %s '%s' is above the limit of 1000000",
                           L->name, L->row_line, c->name, v);
        break;
    case C_BPS:
        rc = tg_money_parse_decimal(v, 4, &x);
        if (rc == TG_ERR_LIMIT)
            return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: %s '%s' has more than 4 decimals",
                           L->name, L->row_line, c->name, v);
        if (rc == 0 && x > TG_PRICE_MAX_BPS)
            return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: %s '%s' is above the limit of 10",
                           L->name, L->row_line, c->name, v);
        break;
    case C_INT:
        rc = tg_money_parse_decimal(v, 0, &x);
        if (rc == 0 && x > TG_PRICE_MAX_UNITS)
            rc = TG_ERR_INVALID;
        if (rc != 0)
            return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: %s '%s' is not a whole number of tokens",
                           L->name, L->row_line, c->name, v);
        break;
    case C_DATE:
        rc = tg_parse_time(v, &x);
        if (rc != 0)
            return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: %s '%s' is not a date (YYYY-MM-DD)",
                           L->name, L->row_line, c->name, v);
        break;
    }
    if (rc != 0)
        return tg_errf(L->eb, TG_ERR_INVALID,
                       "%s:%ld: %s '%s' is not a non-negative decimal number", L->name, L->row_line,
                       c->name, v);
    *(int64_t *)(base + c->offset) = x;
    return 0;
}

static int finish_header(struct loader *L)
{
    if (L->kind == LOAD_ANY) {
        L->kind = LOAD_CARD;
        for (int i = 0; i < L->nfields; i++)
            if (strcmp(L->fields[i], "alias") == 0)
                L->kind = LOAD_ALIASES;
    }
    bool aliases = L->kind == LOAD_ALIASES;
    int ncand = aliases ? N_ALIAS_COLS : (int)N_COLUMNS;
    for (int i = 0; i < L->nfields; i++) {
        L->map[i] = -1;
        for (int k = 0; k < ncand; k++)
            if (strcmp(L->fields[i], aliases ? alias_cols[k] : columns[k].name) == 0)
                L->map[i] = k;
        if (L->map[i] < 0)
            return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: unknown column '%s'", L->name,
                           L->row_line, L->fields[i]);
        for (int j = 0; j < i; j++)
            if (L->map[j] == L->map[i])
                return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: column '%s' appears twice", L->name,
                               L->row_line, L->fields[i]);
    }
    L->ncols = L->nfields;
    for (int k = 0; k < ncand; k++) {
        bool is_required = aliases ? k < N_ALIAS_NEEDED : columns[k].required;
        bool seen = false;
        for (int i = 0; i < L->ncols; i++)
            if (L->map[i] == k)
                seen = true;
        if (is_required && !seen)
            return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: missing required column '%s'", L->name,
                           L->row_line, aliases ? alias_cols[k] : columns[k].name);
    }
    L->header_done = true;
    return 0;
}

static bool overlaps(int64_t from_a, int64_t to_a, int64_t from_b, int64_t to_b)
{
    int64_t ea = to_a == 0 ? INT64_MAX : to_a, eb = to_b == 0 ? INT64_MAX : to_b;
    return from_a < eb && from_b < ea;
}

static void day_of(int64_t ms, char out[25])
{
    tg_iso8601_ms(ms, out);
    out[10] = '\0';
}

static int finish_alias(struct loader *L, int first)
{
    struct tg_ratecard *rc = L->rc;
    struct alias a;
    memset(&a, 0, sizeof a);
    for (int i = 0; i < L->nfields; i++) {
        const char *v = L->fields[i];
        int k = L->map[i];
        if (k <= 2) {
            char *dst = k == 0 ? a.provider : k == 1 ? a.alias : a.version;
            size_t cap = k == 0 ? sizeof a.provider : sizeof a.alias;
            if (strlen(v) >= cap)
                return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: %s is too long", L->name,
                               L->row_line, alias_cols[k]);
            memcpy(dst, v, strlen(v) + 1);
        } else if (v[0] != '\0' && tg_parse_time(v, k == 3 ? &a.from_ms : &a.to_ms) != 0) {
            return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: %s '%s' is not a date (YYYY-MM-DD)",
                           L->name, L->row_line, alias_cols[k], v);
        } else if (k == 3 && v[0] == '\0') {
            return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: effective_from is required", L->name,
                           L->row_line);
        }
    }
    for (int k = 0; k < 3; k++) {
        const char *v = k == 0 ? a.provider : k == 1 ? a.alias : a.version;
        if (v[0] == '\0')
            return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: %s is required", L->name, L->row_line,
                           alias_cols[k]);
    }
    if (a.to_ms != 0 && a.to_ms <= a.from_ms)
        return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: effective_to must be after effective_from",
                       L->name, L->row_line);
    for (int i = first; i < rc->na; i++) {
        const struct alias *b = &rc->aliases[i];
        if (strcmp(b->provider, a.provider) == 0 && strcmp(b->alias, a.alias) == 0 &&
            overlaps(a.from_ms, a.to_ms, b->from_ms, b->to_ms))
            return tg_errf(L->eb, TG_ERR_INVALID,
                           "%s:%ld: %s alias %s overlaps line %ld (within one file the dates of "
                           "an alias must not overlap)",
                           L->name, L->row_line, a.provider, a.alias, b->line);
    }
    a.line = L->row_line;
    if (rc->na == rc->capa) {
        rc->capa = rc->capa ? rc->capa * 2 : 32;
        rc->aliases = tg_realloc(rc->aliases, (size_t)rc->capa * sizeof *rc->aliases);
    }
    rc->aliases[rc->na++] = a;
    return 0;
}

static int check_row(struct loader *L, const struct tg_price_row *r, int first)
{
    if (strcmp(r->currency, "USD") != 0)
        return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: currency '%s' is not supported (USD only)",
                       L->name, L->row_line, r->currency);
    if (r->to_ms != 0 && r->to_ms <= r->from_ms)
        return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: effective_to must be after effective_from",
                       L->name, L->row_line);
    bool any_lc = r->lc_input >= 0 || r->lc_cached_input >= 0 || r->lc_cache_write_5m >= 0 ||
                  r->lc_cache_write_1h >= 0 || r->lc_output >= 0;
    if (any_lc && r->long_context_threshold == 0)
        return tg_errf(L->eb, TG_ERR_INVALID,
                       "%s:%ld: long_context_* prices need a long_context_threshold", L->name,
                       L->row_line);
    if (r->long_context_threshold > 0 && (r->lc_input < 0 || r->lc_output < 0))
        return tg_errf(L->eb, TG_ERR_INVALID,
                       "%s:%ld: long_context_threshold needs long_context_input_per_mtok and "
                       "long_context_output_per_mtok",
                       L->name, L->row_line);
    for (int i = first; i < L->rc->n; i++) {
        const struct tg_price_row *b = &L->rc->rows[i];
        char day[25];
        if (strcmp(b->provider, r->provider) == 0 && strcmp(b->model, r->model) == 0 &&
            overlaps(r->from_ms, r->to_ms, b->from_ms, b->to_ms)) {
            day_of(b->from_ms, day);
            return tg_errf(L->eb, TG_ERR_INVALID,
                           "%s:%ld: %s %s overlaps line %ld (from %s); within one file the "
                           "dates of a model must not overlap",
                           L->name, L->row_line, r->provider, r->model, b->line, day);
        }
    }
    return 0;
}

static int finish_row(struct loader *L, int first)
{
    if (L->nfields == 0 || (L->nfields == 1 && L->fields[0][0] == '\0'))
        return 0; /* blank line */
    if (L->fields[0][0] == '#')
        return 0; /* comment line */
    if (!L->header_done)
        return finish_header(L);
    if (L->nfields != L->ncols)
        return tg_errf(L->eb, TG_ERR_INVALID, "%s:%ld: %d fields, the header has %d", L->name,
                       L->row_line, L->nfields, L->ncols);
    if (L->kind == LOAD_ALIASES)
        return finish_alias(L, first);
    struct tg_price_row r;
    memset(&r, 0, sizeof r);
    r.cached_input = r.cache_write_5m = r.cache_write_1h = r.reasoning = r.audio_input =
        r.audio_output = -1;
    r.lc_input = r.lc_cached_input = r.lc_cache_write_5m = r.lc_cache_write_1h = r.lc_output = -1;
    r.batch_bps = r.flex_bps = r.priority_bps = 10000;
    for (int i = 0; i < L->nfields; i++) {
        int rc = set_field(L, &r, &columns[L->map[i]], L->fields[i]);
        if (rc != 0)
            return rc;
    }
    int rc = check_row(L, &r, first);
    if (rc != 0)
        return rc;
    r.is_pattern = strchr(r.model, '*') != NULL;
    r.line = L->row_line;
    snprintf(r.ref, sizeof r.ref, "%.72s:%ld", L->name, L->row_line);
    if (L->rc->n == L->rc->cap) {
        L->rc->cap = L->rc->cap ? L->rc->cap * 2 : 64;
        L->rc->rows = tg_realloc(L->rc->rows, (size_t)L->rc->cap * sizeof *L->rc->rows);
    }
    L->rc->rows[L->rc->n++] = r;
    return 0;
}

/* Rows of this load start at these indexes (overlap checks stay within one file). */
struct load_ctx {
    struct loader L;
    int first_row, first_alias;
};

static int on_record(void *ud, char *const *fields, int nfields, long line)
{
    struct load_ctx *C = ud;
    struct loader *L = &C->L;
    L->fields = fields;
    L->nfields = nfields;
    L->row_line = line;
    return finish_row(L, L->kind == LOAD_ALIASES ? C->first_alias : C->first_row);
}

static unsigned key_hash(const char *provider, const char *model)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = provider; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    h = (h ^ 0xff) * 0x100000001b3ull; /* separator: ("ab","c") differs from ("a","bc") */
    for (const char *p = model; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    return (unsigned)(h ^ h >> 32);
}

/* A call prices two lookups; a card of a thousand models made each a thousand string
 * compares. Inserting rows in order leaves the latest at each chain's head. */
static void index_rows(struct tg_ratecard *rc)
{
    unsigned nb = 64;
    while (nb < (unsigned)rc->n * 2)
        nb *= 2;
    rc->bucket = tg_realloc(rc->bucket, nb * sizeof *rc->bucket);
    rc->next = tg_realloc(rc->next, (size_t)(rc->n > 0 ? rc->n : 1) * sizeof *rc->next);
    rc->nbuckets = nb;
    for (unsigned b = 0; b < nb; b++)
        rc->bucket[b] = -1;
    for (int i = 0; i < rc->n; i++) {
        if (rc->rows[i].is_pattern)
            continue;
        unsigned b = key_hash(rc->rows[i].provider, rc->rows[i].model) & (nb - 1);
        rc->next[i] = rc->bucket[b];
        rc->bucket[b] = i;
    }
}

/* Read by core/csvread (physical line numbers, BOM, comment lines skipped before libcsv
 * sees them); fields are trimmed there: hand-edited cards are padded for readability. */
static int load(struct tg_ratecard *rc, const char *name, const char *text, unsigned long len,
                enum load_kind kind, bool *is_alias_map, struct tg_errbuf *eb)
{
    static const struct tg_csv_opts opts = {.max_fields = MAX_FIELDS, .skip_comments = true};
    struct load_ctx C;
    struct loader *L = &C.L;
    memset(&C, 0, sizeof C);
    L->rc = rc;
    L->name = name;
    L->eb = eb;
    L->kind = kind;
    C.first_row = rc->n;
    C.first_alias = rc->na;
    L->rc_err = tg_csv_parse(name, text, len, &opts, on_record, &C, eb);
    if (L->rc_err == 0 && !L->header_done)
        L->rc_err = tg_errf(eb, TG_ERR_INVALID, "%s: empty file (no header row)", name);
    if (L->rc_err != 0) { /* all or nothing */
        rc->n = C.first_row;
        rc->na = C.first_alias;
    }
    index_rows(rc);
    if (is_alias_map != NULL)
        *is_alias_map = L->kind == LOAD_ALIASES;
    return L->rc_err;
}

int tg_pricing_load_csv(struct tg_ratecard *rc, const char *name, const char *text,
                        unsigned long len, struct tg_errbuf *eb)
{
    return load(rc, name, text, len, LOAD_CARD, NULL, eb);
}

int tg_pricing_load_aliases_csv(struct tg_ratecard *rc, const char *name, const char *text,
                                unsigned long len, struct tg_errbuf *eb)
{
    return load(rc, name, text, len, LOAD_ALIASES, NULL, eb);
}

static int load_path(struct tg_ratecard *rc, const char *path, enum load_kind kind,
                     bool *is_alias_map, struct tg_errbuf *eb)
{
    char *text = NULL;
    size_t len = 0;
    const char *name = NULL;
    int rc2 = tg_csv_read_file(path, &text, &len, &name, eb);
    if (rc2 == 0)
        rc2 = load(rc, name, text, len, kind, is_alias_map, eb);
    free(text);
    return rc2;
}

int tg_pricing_load_file(struct tg_ratecard *rc, const char *path, struct tg_errbuf *eb)
{
    return load_path(rc, path, LOAD_CARD, NULL, eb);
}

int tg_pricing_load_aliases_file(struct tg_ratecard *rc, const char *path, struct tg_errbuf *eb)
{
    return load_path(rc, path, LOAD_ALIASES, NULL, eb);
}

int tg_pricing_check_file(struct tg_ratecard *rc, const char *path, bool *is_alias_map,
                          struct tg_errbuf *eb)
{
    return load_path(rc, path, LOAD_ANY, is_alias_map, eb);
}

int tg_pricing_set_discount(struct tg_ratecard *rc, const char *provider, int64_t bps,
                            struct tg_errbuf *eb)
{
    if (bps < 0 || bps > 10000)
        return tg_errf(eb, TG_ERR_INVALID, "discount for %s must be 0..100%%", provider);
    if (strlen(provider) >= sizeof rc->discounts[0].provider)
        return tg_errf(eb, TG_ERR_INVALID, "discount: provider name '%s' is too long", provider);
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

int tg_pricing_set_fallback(struct tg_ratecard *rc, int64_t input_micros, int64_t output_micros,
                            struct tg_errbuf *eb)
{
    if (input_micros < 0 || output_micros < 0 || input_micros > TG_PRICE_MAX_MICROS ||
        output_micros > TG_PRICE_MAX_MICROS)
        return tg_errf(eb, TG_ERR_INVALID, "fallback prices must be 0..1000000 USD per million");
    rc->has_fallback = true;
    rc->fallback_input = input_micros;
    rc->fallback_output = output_micros;
    return 0;
}

/* --- lookup ------------------------------------------------------------------------- */

static bool in_effect(int64_t from, int64_t to, int64_t t)
{
    return t >= from && (to == 0 || t < to);
}

/* '*' matches any run of characters (also none); every other byte is literal, so model
 * names with '?', '[' or '\' need no escaping. Greedy with one backtrack point: linear
 * enough for names of at most 127 bytes. */
static bool glob_match(const char *pat, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s != '\0') {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (*pat == *s) {
            pat++;
            s++;
        } else if (star != NULL) {
            pat = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

static const struct tg_price_row *find_exact(const struct tg_ratecard *rc, const char *provider,
                                             const char *model, int64_t t)
{
    if (rc->nbuckets == 0)
        return NULL; /* nothing loaded */
    for (int i = rc->bucket[key_hash(provider, model) & (rc->nbuckets - 1)]; i >= 0;
         i = rc->next[i]) { /* later layers first */
        const struct tg_price_row *r = &rc->rows[i];
        if (strcmp(r->provider, provider) == 0 && strcmp(r->model, model) == 0 &&
            in_effect(r->from_ms, r->to_ms, t))
            return r;
    }
    return NULL;
}

/* The longest pattern wins; between patterns of equal length, the later layer. */
static const struct tg_price_row *find_pattern(const struct tg_ratecard *rc, const char *provider,
                                               const char *model, int64_t t)
{
    const struct tg_price_row *best = NULL;
    size_t best_len = 0;
    for (int i = rc->n - 1; i >= 0; i--) {
        const struct tg_price_row *p = &rc->rows[i];
        size_t len = strlen(p->model);
        if (p->is_pattern && len > best_len && strcmp(p->provider, provider) == 0 &&
            in_effect(p->from_ms, p->to_ms, t) && glob_match(p->model, model)) {
            best = p;
            best_len = len;
        }
    }
    return best;
}

const struct tg_price_row *tg_pricing_lookup(const struct tg_ratecard *rc, const char *provider,
                                             const char *model, int64_t date_ms,
                                             enum tg_price_match *how, const char **resolved)
{
    const struct alias *a = NULL;
    const struct tg_price_row *r = find_exact(rc, provider, model, date_ms);
    if (resolved != NULL)
        *resolved = NULL;
    *how = TG_PRICE_EXACT;
    if (r != NULL)
        return r;
    for (int i = rc->na - 1; i >= 0 && a == NULL; i--) { /* later layers first */
        const struct alias *c = &rc->aliases[i];
        if (strcmp(c->provider, provider) == 0 && strcmp(c->alias, model) == 0 &&
            in_effect(c->from_ms, c->to_ms, date_ms))
            a = c;
    }
    if (a != NULL) {
        if (resolved != NULL)
            *resolved = a->version;
        r = find_exact(rc, provider, a->version, date_ms);
        if (r != NULL) {
            *how = TG_PRICE_ALIAS;
            return r;
        }
    }
    *how = TG_PRICE_PATTERN;
    r = find_pattern(rc, provider, model, date_ms);
    if (r == NULL && a != NULL)
        r = find_pattern(rc, provider, a->version, date_ms);
    if (r == NULL && resolved != NULL)
        *resolved = NULL;
    return r;
}

/* --- cost --------------------------------------------------------------------------- */

/* The prices that apply to one call: the row's, or its long-context ones, with every
 * "not given" (-1) replaced by its documented default. */
struct prices {
    int64_t input, cached, write_5m, write_1h, output, reasoning, audio_in, audio_out, search,
        fetch;
    bool is_long_context;
};

static int64_t pick(int64_t price, int64_t fallback)
{
    return price >= 0 ? price : fallback;
}

static void resolve_prices(const struct tg_price_row *r, int64_t input_tokens, struct prices *p)
{
    bool lc = r->long_context_threshold > 0 && input_tokens > r->long_context_threshold;
    p->is_long_context = lc;
    p->input = lc ? r->lc_input : r->input;
    p->output = lc ? r->lc_output : r->output;
    p->cached = pick(r->cached_input, p->input);
    p->write_5m = pick(r->cache_write_5m, p->input);
    p->write_1h = pick(r->cache_write_1h, p->input);
    if (lc) {
        p->cached = pick(r->lc_cached_input, p->cached);
        p->write_5m = pick(r->lc_cache_write_5m, p->write_5m);
        p->write_1h = pick(r->lc_cache_write_1h, p->write_1h);
    }
    p->reasoning = pick(r->reasoning, p->output);
    p->audio_in = pick(r->audio_input, p->input);
    p->audio_out = pick(r->audio_output, p->output);
    p->search = pick(r->web_search_per_1k, 0);
    p->fetch = pick(r->web_fetch_per_1k, 0);
}

static int64_t tier_bps(const struct tg_price_row *r, const char *tier)
{
    if (tier == NULL)
        return 10000;
    if (strcmp(tier, "batch") == 0)
        return r->batch_bps;
    if (strcmp(tier, "flex") == 0)
        return r->flex_bps;
    if (strcmp(tier, "priority") == 0)
        return r->priority_bps;
    return 10000; /* default, auto, standard, scale, or not reported */
}

static int64_t discount_bps(const struct tg_ratecard *rc, const char *provider)
{
    for (int i = 0; i < rc->nd; i++)
        if (strcmp(rc->discounts[i].provider, provider) == 0)
            return rc->discounts[i].bps;
    return 0;
}

static int64_t clamp0(int64_t v)
{
    return v < 0 ? 0 : v;
}

/* pico-dollars * tier bps * factor bps -> nano-dollars, half-up; -1 when it does not fit.
 * All three are non-negative (the bounds in pricing.h keep the product in 128 bits). */
static int64_t to_nanos(__int128 pico, int64_t tier, int64_t factor)
{
    const __int128 den = (__int128)1000 * 10000 * 10000;
    __int128 num = pico * tier * factor + den / 2;
    if (num <= (__int128)UINT64_MAX) /* nearly always: a 64-bit division, not __divti3's */
        return (int64_t)((uint64_t)num / (uint64_t)den);
    __int128 v = num / den;
    return v > INT64_MAX ? -1 : (int64_t)v;
}

static bool count_ok(int64_t v)
{
    return v >= 0 && v <= TG_PRICE_MAX_UNITS;
}

static bool usage_ok(const struct tg_usage *u)
{
    const int64_t counts[] = {u->input_tokens,          u->cached_input_tokens,
                              u->cache_write_5m_tokens, u->cache_write_1h_tokens,
                              u->audio_input_tokens,    u->output_tokens,
                              u->reasoning_tokens,      u->audio_output_tokens,
                              u->web_search_requests,   u->web_fetch_requests};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        if (!count_ok(counts[i]))
            return false;
    return true;
}

enum { K_INPUT, K_CACHED, K_WRITE, K_OUTPUT, K_OTHER, K_N };

static void clear_costs(struct tg_call_record *rec)
{
    rec->is_priced = false;
    rec->price_ref[0] = '\0';
    rec->cost_nanos = rec->input_cost_nanos = rec->cached_input_cost_nanos =
        rec->cache_write_cost_nanos = 0;
    rec->output_cost_nanos = rec->other_cost_nanos = rec->list_cost_nanos =
        rec->cache_savings_nanos = 0;
}

/* "ref:how" and ":long_context" when it applies, ref cut to refmax bytes, the whole cut to
 * the buffer (the "%.*s:%s%s" of snprintf, which cost ~1.2k instructions a call) */
static void put_ref(char *dst, size_t n, const char *ref, size_t refmax, enum tg_price_match how,
                    bool is_long_context)
{
    const char *parts[] = {ref, ":", tg_pricing_match_name(how),
                           is_long_context ? ":long_context" : ""};
    size_t at = 0;
    for (size_t k = 0; k < 4; k++) {
        size_t len = strlen(parts[k]);
        if (k == 0 && len > refmax)
            len = refmax;
        if (len > n - 1 - at)
            len = n - 1 - at;
        memcpy(dst + at, parts[k], len);
        at += len;
    }
    dst[at] = '\0';
}

bool tg_pricing_cost(const struct tg_ratecard *rc, struct tg_call_record *rec)
{
    const struct tg_usage *u = &rec->usage;
    const char *model = u->response_model[0] != '\0' ? u->response_model : rec->request_model;
    enum tg_price_match how;
    struct prices p;
    clear_costs(rec);
    const struct tg_price_row *r =
        tg_pricing_lookup(rc, rec->provider, model, rec->started_at_ms, &how, NULL);
    if (r == NULL || !usage_ok(u))
        return false;
    resolve_prices(r, u->input_tokens, &p);

    /* input_tokens counts everything (OTel rule): the plain text part is what remains.
     * Inconsistent usage (parts above the whole) is clamped, never negative. */
    int64_t plain_in = clamp0(u->input_tokens - u->cached_input_tokens - u->cache_write_5m_tokens -
                              u->cache_write_1h_tokens - u->audio_input_tokens);
    /* output includes reasoning, audio and rejected predictions, all billed as output */
    int64_t plain_out = clamp0(u->output_tokens - u->reasoning_tokens - u->audio_output_tokens);

    __int128 pico[K_N];
    pico[K_INPUT] = (__int128)plain_in * p.input + (__int128)u->audio_input_tokens * p.audio_in;
    pico[K_CACHED] = (__int128)u->cached_input_tokens * p.cached;
    pico[K_WRITE] = (__int128)u->cache_write_5m_tokens * p.write_5m +
                    (__int128)u->cache_write_1h_tokens * p.write_1h;
    pico[K_OUTPUT] = (__int128)plain_out * p.output + (__int128)u->reasoning_tokens * p.reasoning +
                     (__int128)u->audio_output_tokens * p.audio_out;
    /* f micro-dollars per 1,000 requests = f nano-dollars = 1000 f pico-dollars each */
    pico[K_OTHER] =
        ((__int128)u->web_search_requests * p.search + (__int128)u->web_fetch_requests * p.fetch) *
        1000;
    __int128 cached_at_input = (__int128)u->cached_input_tokens * p.input;

    int64_t tier = tier_bps(r, u->service_tier);
    int64_t keep = 10000 - discount_bps(rc, rec->provider);
    int64_t eff[K_N], list[K_N];
    __int128 total = 0, list_total = 0;
    for (int k = 0; k < K_N; k++) {
        eff[k] = to_nanos(pico[k], tier, keep);
        list[k] = to_nanos(pico[k], tier, 10000);
        if (eff[k] < 0 || list[k] < 0)
            return false;
        total += eff[k];
        list_total += list[k];
    }
    int64_t would_cost = to_nanos(cached_at_input, tier, keep);
    if (total > INT64_MAX || list_total > INT64_MAX || would_cost < 0)
        return false;
    rec->input_cost_nanos = eff[K_INPUT];
    rec->cached_input_cost_nanos = eff[K_CACHED];
    rec->cache_write_cost_nanos = eff[K_WRITE];
    rec->output_cost_nanos = eff[K_OUTPUT];
    rec->other_cost_nanos = eff[K_OTHER];
    rec->cost_nanos = (int64_t)total;
    rec->list_cost_nanos = (int64_t)list_total;
    /* both sides rounded the same way: exactly "would have cost" minus "cost", as booked */
    rec->cache_savings_nanos = would_cost - eff[K_CACHED];
    put_ref(rec->price_ref, sizeof rec->price_ref, r->ref, 95, how, p.is_long_context);
    rec->is_priced = true;
    return true;
}

int tg_pricing_ref_prices(const struct tg_ratecard *rc, const char *provider, const char *price_ref,
                          const char *service_tier, struct tg_unit_prices *out)
{
    static const char lc_suffix[] = ":long_context";
    char ref[TG_FIELD_LEN];
    struct prices p;
    const struct tg_price_row *r = NULL;
    memset(out, 0, sizeof *out);
    if (price_ref == NULL || provider == NULL || strlen(price_ref) >= sizeof ref)
        return TG_ERR_NOTFOUND;
    memcpy(ref, price_ref, strlen(price_ref) + 1);
    size_t n = strlen(ref), ls = sizeof lc_suffix - 1;
    bool lc = n > ls && strcmp(ref + n - ls, lc_suffix) == 0;
    if (lc)
        ref[n - ls] = '\0';
    char *how = strrchr(ref, ':'); /* "file:line:how": drop the how */
    if (how == NULL)
        return TG_ERR_NOTFOUND;
    *how = '\0';
    for (int i = 0; i < rc->n; i++)
        if (strcmp(rc->rows[i].ref, ref) == 0 && strcmp(rc->rows[i].provider, provider) == 0)
            r = &rc->rows[i];
    if (r == NULL || (lc && r->long_context_threshold <= 0))
        return TG_ERR_NOTFOUND;
    resolve_prices(r, lc ? r->long_context_threshold + 1 : 0, &p);
    out->input = p.input;
    out->cached = p.cached;
    out->write_5m = p.write_5m;
    out->write_1h = p.write_1h;
    out->output = p.output;
    out->reasoning = p.reasoning;
    out->audio_in = p.audio_in;
    out->audio_out = p.audio_out;
    out->search = p.search;
    out->fetch = p.fetch;
    out->tier_bps =
        tier_bps(r, service_tier != NULL && service_tier[0] != '\0' ? service_tier : NULL);
    return 0;
}

static int64_t max3(int64_t a, int64_t b, int64_t c)
{
    int64_t m = a > b ? a : b;
    return m > c ? m : c;
}

int tg_pricing_estimate(const struct tg_ratecard *rc, const char *provider, const char *model,
                        int64_t date_ms, int64_t input_tokens, int64_t max_output_tokens,
                        const char *service_tier, struct tg_price_estimate *out)
{
    enum tg_price_match how;
    struct prices p;
    memset(out, 0, sizeof *out);
    if (!count_ok(input_tokens) || !count_ok(max_output_tokens))
        return TG_ERR_INVALID;
    const struct tg_price_row *r = tg_pricing_lookup(rc, provider, model, date_ms, &how, NULL);
    if (r == NULL) {
        if (!rc->has_fallback)
            return TG_ERR_NOTFOUND;
        __int128 pico = (__int128)input_tokens * rc->fallback_input +
                        (__int128)max_output_tokens * rc->fallback_output;
        out->nanos = to_nanos(pico, 10000, 10000);
        out->is_fallback = true;
        snprintf(out->price_ref, sizeof out->price_ref, "fallback");
        return out->nanos < 0 ? TG_ERR_INVALID : 0;
    }
    resolve_prices(r, input_tokens, &p);
    /* an upper bound: every input token at the dearest input-side price, every output
     * token at the dearest output-side price (cache reads never cost more than input) */
    int64_t in_p = max3(max3(p.input, p.cached, p.audio_in), p.write_5m, p.write_1h);
    int64_t out_p = max3(p.output, p.reasoning, p.audio_out);
    __int128 pico = (__int128)input_tokens * in_p + (__int128)max_output_tokens * out_p;
    out->nanos = to_nanos(pico, tier_bps(r, service_tier), 10000 - discount_bps(rc, provider));
    put_ref(out->price_ref, sizeof out->price_ref, r->ref, 72, how, p.is_long_context);
    return out->nanos < 0 ? TG_ERR_INVALID : 0;
}
