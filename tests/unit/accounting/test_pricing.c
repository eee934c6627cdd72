/* tests/unit/accounting/test_pricing.c - rate cards and costs: the table in
 * tests/data/pricing.cases, parse errors with their lines, lookup order, estimates,
 * components that always sum, formatting, the shipped card */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounting/pricing.h"
#include "core/clock.h"
#include "core/money.h"

static char data_dir[512];

static void data_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", data_dir, name);
}

static struct tg_ratecard *test_card(void)
{
    char p[700];
    struct tg_errbuf eb;
    struct tg_ratecard *rc = tg_pricing_new();
    data_path(p, sizeof p, "pricing_test_card.csv");
    if (tg_pricing_load_file(rc, p, &eb) != 0)
        fail_msg("%s", eb.msg);
    data_path(p, sizeof p, "pricing_test_aliases.csv");
    if (tg_pricing_load_aliases_file(rc, p, &eb) != 0)
        fail_msg("%s", eb.msg);
    return rc;
}

static int64_t day(const char *s)
{
    int64_t t = 0;
    if (tg_parse_time(s, &t) != 0)
        fail_msg("bad date %s", s);
    return t;
}

/* --- the cases file ------------------------------------------------------------------ */

struct kcase {
    struct tg_call_record rec;
    int64_t discount;
    int64_t want[8];
    bool seen[8];
    char ref[128];
};

static const char *const want_keys[8] = {"input", "cached", "write", "output",
                                         "other", "total",  "list",  "savings"};

static int64_t *usage_field(struct tg_usage *u, const char *k)
{
    static const struct {
        const char *key;
        size_t off;
    } keys[] = {
        {"in", offsetof(struct tg_usage, input_tokens)},
        {"cached", offsetof(struct tg_usage, cached_input_tokens)},
        {"w5m", offsetof(struct tg_usage, cache_write_5m_tokens)},
        {"w1h", offsetof(struct tg_usage, cache_write_1h_tokens)},
        {"ain", offsetof(struct tg_usage, audio_input_tokens)},
        {"out", offsetof(struct tg_usage, output_tokens)},
        {"reasoning", offsetof(struct tg_usage, reasoning_tokens)},
        {"aout", offsetof(struct tg_usage, audio_output_tokens)},
        {"rejected", offsetof(struct tg_usage, rejected_prediction_tokens)},
        {"search", offsetof(struct tg_usage, web_search_requests)},
        {"fetch", offsetof(struct tg_usage, web_fetch_requests)},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(k, keys[i].key) == 0)
            return (int64_t *)((char *)u + keys[i].off);
    return NULL;
}

static int64_t number(const char *v, int lineno)
{
    char *end = NULL;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end != '\0')
        fail_msg("pricing.cases:%d: '%s' is not a number", lineno, v);
    return x;
}

/* One "key=value" word of a case; right is true after "=>". */
static void case_word(struct kcase *c, char *w, bool right, int lineno)
{
    char *eq = strchr(w, '=');
    if (eq == NULL)
        fail_msg("pricing.cases:%d: '%s' is not key=value", lineno, w);
    *eq = '\0';
    const char *k = w, *v = eq + 1;
    struct tg_call_record *r = &c->rec;
    if (right) {
        if (strcmp(k, "ref") == 0) {
            snprintf(c->ref, sizeof c->ref, "%s", v);
            return;
        }
        for (int i = 0; i < 8; i++)
            if (strcmp(k, want_keys[i]) == 0) {
                c->want[i] = number(v, lineno);
                c->seen[i] = true;
                return;
            }
    } else if (strcmp(k, "provider") == 0) {
        snprintf(r->provider, sizeof r->provider, "%s", v);
        return;
    } else if (strcmp(k, "model") == 0) {
        snprintf(r->usage.response_model, sizeof r->usage.response_model, "%s", v);
        return;
    } else if (strcmp(k, "request") == 0) {
        snprintf(r->request_model, sizeof r->request_model, "%s", v);
        return;
    } else if (strcmp(k, "date") == 0) {
        r->started_at_ms = day(v);
        return;
    } else if (strcmp(k, "tier") == 0) {
        snprintf(r->usage.service_tier, sizeof r->usage.service_tier, "%s", v);
        return;
    } else if (strcmp(k, "discount") == 0) {
        c->discount = number(v, lineno);
        return;
    } else if (usage_field(&r->usage, k) != NULL) {
        *usage_field(&r->usage, k) = number(v, lineno);
        return;
    }
    fail_msg("pricing.cases:%d: unknown key '%s'", lineno, k);
}

static void run_case(struct tg_ratecard *rc, char *line, int lineno)
{
    struct kcase c;
    struct tg_errbuf eb;
    bool right = false;
    memset(&c, 0, sizeof c);
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (*p == '\0')
            break;
        char *w = p;
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
        if (*p != '\0')
            *p++ = '\0';
        if (strcmp(w, "=>") == 0)
            right = true;
        else
            case_word(&c, w, right, lineno);
    }
    for (int i = 0; i < 8; i++)
        if (!c.seen[i])
            fail_msg("pricing.cases:%d: expected %s is missing", lineno, want_keys[i]);
    if (c.ref[0] == '\0' || c.rec.provider[0] == '\0' || c.rec.started_at_ms == 0)
        fail_msg("pricing.cases:%d: ref, provider and date are required", lineno);
    assert_int_equal(tg_pricing_set_discount(rc, c.rec.provider, c.discount, &eb), 0);
    struct tg_call_record *r = &c.rec;
    bool priced = tg_pricing_cost(rc, r);
    assert_int_equal(tg_pricing_set_discount(rc, c.rec.provider, 0, &eb), 0);
    const int64_t got[8] = {r->input_cost_nanos,       r->cached_input_cost_nanos,
                            r->cache_write_cost_nanos, r->output_cost_nanos,
                            r->other_cost_nanos,       r->cost_nanos,
                            r->list_cost_nanos,        r->cache_savings_nanos};
    if (strcmp(c.ref, "unpriced") == 0) {
        if (priced || r->is_priced || r->price_ref[0] != '\0')
            fail_msg("pricing.cases:%d: expected unpriced, got %s", lineno, r->price_ref);
    } else if (!priced || !r->is_priced || strcmp(r->price_ref, c.ref) != 0) {
        fail_msg("pricing.cases:%d: price_ref '%s', want '%s'", lineno, r->price_ref, c.ref);
    }
    for (int i = 0; i < 8; i++)
        if (got[i] != c.want[i])
            fail_msg("pricing.cases:%d: %s = %lld, want %lld", lineno, want_keys[i],
                     (long long)got[i], (long long)c.want[i]);
    /* the components always add up to the total */
    assert_int_equal(got[0] + got[1] + got[2] + got[3] + got[4], got[5]);
}

static void test_cases_file(void **state)
{
    (void)state;
    char p[700], line[2048];
    struct tg_ratecard *rc = test_card();
    assert_int_equal(tg_pricing_rows(rc), 17);
    assert_int_equal(tg_pricing_aliases(rc), 3);
    data_path(p, sizeof p, "pricing.cases");
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    int lineno = 0, cases = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        run_case(rc, line, lineno);
        cases++;
    }
    fclose(f);
    assert_int_equal(cases, 41); /* a case that failed to parse cannot pass silently */
    tg_pricing_destroy(rc);
}

/* --- parse errors -------------------------------------------------------------------- */

struct err_case {
    bool aliases;
    const char *csv, *message;
};

#define HDR   "provider,model,effective_from,currency,input_per_mtok,output_per_mtok\n"
#define HDRTO "provider,model,effective_from,effective_to,currency,input_per_mtok,output_per_mtok"
#define HDRLC HDR_LC_COLS "\n"
#define HDR_LC_COLS                                                                                \
    "provider,model,effective_from,currency,input_per_mtok,output_per_mtok,long_context_"          \
    "threshold,"                                                                                   \
    "long_context_input_per_mtok,long_context_output_per_mtok,long_context_cached_input_per_mtok"
#define AHDR "provider,alias,version,effective_from,effective_to\n"

static const struct err_case err_cases[] = {
    {false, HDR "openai,m,2025-01-01,USD,0.0000001,1\n",
     "card.csv:2: input_per_mtok '0.0000001' has more precision than micro-dollars per million "
     "tokens"},
    {false, HDR "openai,m,2025-13-01,USD,1,1\n",
     "card.csv:2: effective_from '2025-13-01' is not a date (YYYY-MM-DD)"},
    {false, "provider,model,effective_from,currency,imput_per_mtok,output_per_mtok\n",
     "card.csv:1: unknown column 'imput_per_mtok'"},
    {false, "provider,model,effective_from,currency,output_per_mtok\nopenai,m,2025-01-01,USD,1\n",
     "card.csv:1: missing required column 'input_per_mtok'"},
    {false, "provider,model,model,effective_from,currency,input_per_mtok,output_per_mtok\n",
     "card.csv:1: column 'model' appears twice"},
    {false, HDR "openai,m,2025-01-01,USD,-1,1\n",
     "card.csv:2: input_per_mtok '-1' is not a non-negative decimal number"},
    {false, HDR "openai,m,2025-01-01,USD,1e3,1\n",
     "card.csv:2: input_per_mtok '1e3' is not a non-negative decimal number"},
    {false, HDR "openai,m,2025-01-01,USD,1000000.000001,1\n",
     "card.csv:2: input_per_mtok '1000000.000001' is above the limit of 1000000"},
    {false, HDR "openai,m,2025-01-01,EUR,1,1\n",
     "card.csv:2: currency 'EUR' is not supported (USD only)"},
    {false, HDR "openai,m,2025-01-01,USD,1\n", "card.csv:2: 5 fields, the header has 6"},
    {false, HDR "openai,,2025-01-01,USD,1,1\n", "card.csv:2: model is required"},
    {false, "", "card.csv: empty file (no header row)"},
    {false, "# only a comment\n\n", "card.csv: empty file (no header row)"},
    /* physical lines: blank lines and comments count as libcsv's rows would not */
    {false, "# card\n\n" HDR "\n# contract prices\nopenai,m,2025-01-01,USD,1,2.0000001\n",
     "card.csv:6: output_per_mtok '2.0000001' has more precision than micro-dollars per million "
     "tokens"},
    {false, HDR "openai,\"m,2025-01-01,USD,1,1\n\n# not a comment inside quotes\n",
     "card.csv:2: unterminated quoted field"},
    {false, HDR "openai,m,2025-01-01,USD,1.25\",1\n",
     "card.csv:2: malformed CSV: error parsing data while strict checking enabled"},
    {false, HDRTO "\nopenai,m,2025-06-01,2025-01-01,USD,1,1\n",
     "card.csv:2: effective_to must be after effective_from"},
    {false,
     HDR "openai,m,2025-01-01,USD,1,1\nopenai,m2,2025-01-01,USD,1,1\nopenai,m,2025-06-01,USD,2,2\n",
     "card.csv:4: openai m overlaps line 2 (from 2025-01-01); within one file the dates of a model "
     "must not overlap"},
    {false, HDRLC "openai,m,2025-01-01,USD,1,1,,2,,\n",
     "card.csv:2: long_context_* prices need a long_context_threshold"},
    {false, HDRLC "openai,m,2025-01-01,USD,1,1,200000,2,,\n",
     "card.csv:2: long_context_threshold needs long_context_input_per_mtok and "
     "long_context_output_per_mtok"},
    {false, HDRLC "openai,m,2025-01-01,USD,1,1,200000.5,2,3,\n",
     "card.csv:2: long_context_threshold '200000.5' is not a whole number of tokens"},
    {false,
     "provider,model,effective_from,currency,input_per_mtok,output_per_mtok,batch_multiplier\n"
     "openai,m,2025-01-01,USD,1,1,10.0001\n",
     "card.csv:2: batch_multiplier '10.0001' is above the limit of 10"},
    {false,
     "provider,model,effective_from,currency,input_per_mtok,output_per_mtok,priority_multiplier\n"
     "openai,m,2025-01-01,USD,1,1,1.00005\n",
     "card.csv:2: priority_multiplier '1.00005' has more than 4 decimals"},
    {true,
     AHDR "openai,gpt-4o,gpt-4o-2024-08-06,2024-10-02,\nopenai,gpt-4o,gpt-4o-2024-11-20,"
          "2025-01-01,\n",
     "card.csv:3: openai alias gpt-4o overlaps line 2 (within one file the dates of an alias "
     "must not overlap)"},
    {true, AHDR "openai,gpt-4o,gpt-4o-2024-08-06,2024-10-32,\n",
     "card.csv:2: effective_from '2024-10-32' is not a date (YYYY-MM-DD)"},
    {true, AHDR "openai,gpt-4o,,2024-10-02,\n", "card.csv:2: version is required"},
    {true, "provider,alias,effective_from\n", "card.csv:1: missing required column 'version'"},
    {true, "provider,alias,version,effective_from,input_per_mtok\n",
     "card.csv:1: unknown column 'input_per_mtok'"},
};

static void test_parse_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
        const struct err_case *e = &err_cases[i];
        struct tg_ratecard *rc = tg_pricing_new();
        struct tg_errbuf eb;
        memset(&eb, 0, sizeof eb);
        int rc2 = e->aliases
                      ? tg_pricing_load_aliases_csv(rc, "card.csv", e->csv, strlen(e->csv), &eb)
                      : tg_pricing_load_csv(rc, "card.csv", e->csv, strlen(e->csv), &eb);
        if (rc2 != TG_ERR_INVALID || strcmp(eb.msg, e->message) != 0)
            fail_msg("error case %zu: rc %d '%s', want '%s'", i, rc2, eb.msg, e->message);
        assert_int_equal(tg_pricing_rows(rc), 0); /* all or nothing */
        assert_int_equal(tg_pricing_aliases(rc), 0);
        tg_pricing_destroy(rc);
    }
}

/* --- lookup and layers --------------------------------------------------------------- */

static void test_layering_and_exact_parse(void **state)
{
    (void)state;
    struct tg_ratecard *rc = test_card();
    struct tg_errbuf eb;
    /* the organization's contract price, a later layer, wins over the shipped row; the same
     * (provider, model) may overlap across layers */
    static const char contract[] =
        "\xEF\xBB\xBF" HDR "openai , gpt-4o-2024-08-06 ,2025-01-01,USD,\"2.125\",8.5\r\n"
        "# a \"quoted\" comment, with commas\n\n"
        "openai,gpt-4o*,2024-01-01,USD,7,21\n";
    assert_int_equal(tg_pricing_load_csv(rc, "contract.csv", contract, sizeof contract - 1, &eb),
                     0);
    assert_int_equal(tg_pricing_rows(rc), 19);
    enum tg_price_match how;
    int64_t t = day("2025-06-01");
    const struct tg_price_row *r =
        tg_pricing_lookup(rc, "openai", "gpt-4o-2024-08-06", t, &how, NULL);
    assert_non_null(r);
    assert_string_equal(r->ref, "contract.csv:2");
    assert_int_equal(how, TG_PRICE_EXACT);
    assert_int_equal(r->input, 2125000);
    assert_int_equal(r->output, 8500000);
    assert_int_equal(r->cached_input, -1);
    const char *resolved = NULL;
    r = tg_pricing_lookup(rc, "openai", "gpt-4o", t, &how, &resolved);
    assert_int_equal(how, TG_PRICE_ALIAS);
    assert_string_equal(resolved, "gpt-4o-2024-08-06");
    assert_string_equal(r->ref, "contract.csv:2");
    /* equally long patterns: the later layer (line 5 after the comment and blank line) */
    r = tg_pricing_lookup(rc, "openai", "gpt-4o-2024-05-13", t, &how, &resolved);
    assert_int_equal(how, TG_PRICE_PATTERN);
    assert_null(resolved);
    assert_string_equal(r->ref, "contract.csv:5");
    /* the earlier layer's row is still there for dates the later one does not cover */
    r = tg_pricing_lookup(rc, "openai", "gpt-4o-2024-08-06", day("2024-12-01"), &how, NULL);
    assert_string_equal(r->ref, "pricing_test_card.csv:2");
    tg_pricing_destroy(rc);

    int64_t v;
    assert_int_equal(tg_money_parse_decimal("0.000001", 6, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(tg_money_parse_decimal("2.500000000", 6, &v), 0); /* zeros are exact */
    assert_int_equal(v, 2500000);
    assert_int_equal(tg_money_parse_decimal("15", 6, &v), 0);
    assert_int_equal(v, 15000000);
    assert_int_equal(tg_money_parse_decimal("1e3", 6, &v), TG_ERR_INVALID);
    assert_int_equal(tg_money_parse_decimal(".", 6, &v), TG_ERR_INVALID);
}

/* A large card (the index by provider and model): every one of 3,000 models finds its
 * own row, a later layer still wins, and a failed load leaves the index as it was. */
static void test_large_card_lookups(void **state)
{
    (void)state;
    struct tg_ratecard *rc = tg_pricing_new();
    struct tg_errbuf eb;
    size_t cap = 3000 * 64 + 256, n = 0;
    char *csv = malloc(cap);
    n += (size_t)snprintf(csv + n, cap - n, HDR);
    for (int i = 0; i < 3000; i++) /* $0.000001 x (i + 1) per million input tokens */
        n += (size_t)snprintf(csv + n, cap - n, "%s,model-%d,2025-01-01,USD,0.%06d,1\n",
                              i % 2 ? "openai" : "anthropic", i, i + 1);
    assert_int_equal(tg_pricing_load_csv(rc, "big.csv", csv, n, &eb), 0);
    static const char later[] = HDR "openai,model-7,2025-01-01,USD,9,9\n";
    assert_int_equal(tg_pricing_load_csv(rc, "later.csv", later, sizeof later - 1, &eb), 0);
    static const char bad[] = HDR "openai,model-9,2025-01-01,USD,x,9\n";
    assert_int_not_equal(tg_pricing_load_csv(rc, "bad.csv", bad, sizeof bad - 1, &eb), 0);
    enum tg_price_match how;
    int64_t t = day("2025-06-01");
    for (int i = 0; i < 3000; i++) {
        char model[32];
        snprintf(model, sizeof model, "model-%d", i);
        const struct tg_price_row *r =
            tg_pricing_lookup(rc, i % 2 ? "openai" : "anthropic", model, t, &how, NULL);
        assert_non_null(r);
        assert_int_equal(how, TG_PRICE_EXACT);
        assert_int_equal(r->input, i == 7 ? 9000000 : i + 1);
        assert_null(tg_pricing_lookup(rc, i % 2 ? "anthropic" : "openai", model, t, &how, NULL));
    }
    assert_int_equal(tg_pricing_rows(rc), 3001);
    free(csv);
    tg_pricing_destroy(rc);
}

static void test_patterns_are_literal_but_star(void **state)
{
    (void)state;
    static const char card[] = HDR "x,a?b*,2025-01-01,USD,1,1\n"
                                   "x,*-[1m],2025-01-01,USD,2,2\n"
                                   "x,*mid*dle*,2025-01-01,USD,3,3\n";
    struct tg_ratecard *rc = tg_pricing_new();
    struct tg_errbuf eb;
    enum tg_price_match how;
    int64_t t = day("2025-06-01");
    assert_int_equal(tg_pricing_load_csv(rc, "p.csv", card, sizeof card - 1, &eb), 0);
    assert_null(tg_pricing_lookup(rc, "x", "axb", t, &how, NULL)); /* '?' is a character */
    assert_string_equal(tg_pricing_lookup(rc, "x", "a?b", t, &how, NULL)->ref, "p.csv:2");
    assert_string_equal(tg_pricing_lookup(rc, "x", "a?bcd", t, &how, NULL)->ref, "p.csv:2");
    assert_string_equal(tg_pricing_lookup(rc, "x", "sonnet-[1m]", t, &how, NULL)->ref, "p.csv:3");
    assert_null(tg_pricing_lookup(rc, "x", "sonnet-1", t, &how, NULL)); /* '[' too */
    assert_string_equal(tg_pricing_lookup(rc, "x", "a-middle", t, &how, NULL)->ref, "p.csv:4");
    assert_string_equal(tg_pricing_lookup(rc, "x", "mmiddddlee", t, &how, NULL)->ref, "p.csv:4");
    assert_null(tg_pricing_lookup(rc, "x", "midle", t, &how, NULL));
    assert_null(tg_pricing_lookup(rc, "y", "a?b", t, &how, NULL)); /* other provider */
    tg_pricing_destroy(rc);
}

static void test_check_file_tells_cards_from_alias_maps(void **state)
{
    (void)state;
    char p[700];
    struct tg_errbuf eb;
    bool is_alias = true;
    struct tg_ratecard *rc = tg_pricing_new();
    data_path(p, sizeof p, "pricing_test_card.csv");
    assert_int_equal(tg_pricing_check_file(rc, p, &is_alias, &eb), 0);
    assert_false(is_alias);
    assert_int_equal(tg_pricing_rows(rc), 17);
    data_path(p, sizeof p, "pricing_test_aliases.csv");
    assert_int_equal(tg_pricing_check_file(rc, p, &is_alias, &eb), 0);
    assert_true(is_alias);
    assert_int_equal(tg_pricing_aliases(rc), 3);
    data_path(p, sizeof p, "no-such-card.csv");
    assert_int_equal(tg_pricing_check_file(rc, p, &is_alias, &eb), TG_ERR_IO);
    assert_non_null(strstr(eb.msg, "no-such-card.csv: cannot open"));
    tg_pricing_destroy(rc);
}

/* --- cost properties ----------------------------------------------------------------- */

/* A call too large for int64 nanos is left unpriced, not wrapped: 10^12 tokens at the
 * highest price a card accepts ($1,000,000/M) would be 1e12 x 1e12 pico = 1e21 nanos. */
static void test_overflow_is_unpriced(void **state)
{
    (void)state;
    static const char card[] = HDR "openai,big,2025-01-01,USD,1000000,1000000\n";
    struct tg_ratecard *rc = tg_pricing_new();
    struct tg_errbuf eb;
    struct tg_call_record r;
    assert_int_equal(tg_pricing_load_csv(rc, "big.csv", card, sizeof card - 1, &eb), 0);
    memset(&r, 0, sizeof r);
    snprintf(r.provider, sizeof r.provider, "openai");
    snprintf(r.request_model, sizeof r.request_model, "big");
    r.started_at_ms = day("2025-06-01");
    r.usage.input_tokens = TG_PRICE_MAX_UNITS;
    assert_false(tg_pricing_cost(rc, &r));
    assert_false(r.is_priced);
    assert_int_equal(r.cost_nanos, 0);
    /* 9,000,000 tokens at $1,000,000/M = $9,000,000 = 9e15 nanos still fits */
    r.usage.input_tokens = 9000000;
    assert_true(tg_pricing_cost(rc, &r));
    assert_int_equal(r.cost_nanos, 9000000000000000LL);
    assert_string_equal(r.price_ref, "big.csv:2:exact");
    tg_pricing_destroy(rc);
}

/* A rate card with a long file name: the row's ref keeps 72 bytes of the name, and the
 * price_ref built from it the whole of it, then ":how" */
static void test_long_card_name_in_price_ref(void **state)
{
    (void)state;
    static const char card[] = HDR "openai,gpt-x,2025-01-01,USD,1,2\n";
    char name[128], want[160];
    memset(name, 'n', 100);
    strcpy(name + 100, ".csv");
    struct tg_ratecard *rc = tg_pricing_new();
    struct tg_errbuf eb;
    struct tg_call_record r;
    assert_int_equal(tg_pricing_load_csv(rc, name, card, sizeof card - 1, &eb), 0);
    memset(&r, 0, sizeof r);
    snprintf(r.provider, sizeof r.provider, "openai");
    snprintf(r.request_model, sizeof r.request_model, "gpt-x");
    r.started_at_ms = day("2025-06-01");
    r.usage.input_tokens = 10;
    assert_true(tg_pricing_cost(rc, &r));
    snprintf(want, sizeof want, "%.72s:2:exact", name);
    assert_string_equal(r.price_ref, want);
    tg_pricing_destroy(rc);
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* Whatever the counts, tier and discount: the components sum to the total, the list
 * components to the list total, nothing is negative, a discount never raises a cost, no
 * discount means cost == list, and one more output token never makes a call cheaper. */
static void test_components_always_sum(void **state)
{
    (void)state;
    static const char *const models[][2] = {
        {"openai", "gpt-4o-2024-08-06"}, {"openai", "odd-model"},
        {"openai", "half-model"},        {"openai", "reasoner-1"},
        {"openai", "tool-model"},        {"anthropic", "claude-sonnet-4-5-20250929"},
        {"gemini", "gemini-2.5-pro"},    {"openai", "gpt-4o-audio-preview-2024-12-17"}};
    static const char *const tiers[] = {"", "batch", "flex", "priority", "default"};
    struct tg_ratecard *rc = test_card();
    struct tg_errbuf eb;
    uint64_t seed = 42;
    for (int i = 0; i < 20000; i++) {
        struct tg_call_record r;
        memset(&r, 0, sizeof r);
        size_t m = lcg(&seed) % (sizeof models / sizeof models[0]);
        snprintf(r.provider, sizeof r.provider, "%s", models[m][0]);
        snprintf(r.usage.response_model, sizeof r.usage.response_model, "%s", models[m][1]);
        snprintf(r.usage.service_tier, sizeof r.usage.service_tier, "%s", tiers[lcg(&seed) % 5]);
        r.started_at_ms = day("2025-11-01");
        struct tg_usage *u = &r.usage;
        int64_t scale = (int64_t)1 << (lcg(&seed) % 20); /* 1 .. 2^19 tokens */
        u->input_tokens = (int64_t)(lcg(&seed) % (uint64_t)scale);
        u->cached_input_tokens =
            u->input_tokens ? (int64_t)(lcg(&seed) % (uint64_t)u->input_tokens) : 0;
        u->cache_write_5m_tokens = (int64_t)(lcg(&seed) % 1000);
        u->cache_write_1h_tokens = (int64_t)(lcg(&seed) % 1000);
        u->audio_input_tokens = (int64_t)(lcg(&seed) % 100);
        u->output_tokens = (int64_t)(lcg(&seed) % (uint64_t)scale);
        u->reasoning_tokens =
            u->output_tokens ? (int64_t)(lcg(&seed) % (uint64_t)u->output_tokens) : 0;
        u->audio_output_tokens = (int64_t)(lcg(&seed) % 10);
        u->web_search_requests = (int64_t)(lcg(&seed) % 3);
        u->web_fetch_requests = (int64_t)(lcg(&seed) % 3);
        int64_t disc = (int64_t)(lcg(&seed) % 10001);
        assert_int_equal(tg_pricing_set_discount(rc, r.provider, disc, &eb), 0);
        assert_true(tg_pricing_cost(rc, &r));
        int64_t parts[5] = {r.input_cost_nanos, r.cached_input_cost_nanos, r.cache_write_cost_nanos,
                            r.output_cost_nanos, r.other_cost_nanos};
        int64_t sum = 0;
        for (int k = 0; k < 5; k++) {
            assert_true(parts[k] >= 0);
            sum += parts[k];
        }
        assert_int_equal(sum, r.cost_nanos);
        assert_true(r.cost_nanos <= r.list_cost_nanos);
        struct tg_call_record list = r;
        assert_int_equal(tg_pricing_set_discount(rc, r.provider, 0, &eb), 0);
        assert_true(tg_pricing_cost(rc, &list));
        assert_int_equal(list.cost_nanos, r.list_cost_nanos);
        assert_int_equal(list.list_cost_nanos, r.list_cost_nanos);
        assert_int_equal(list.input_cost_nanos + list.cached_input_cost_nanos +
                             list.cache_write_cost_nanos + list.output_cost_nanos +
                             list.other_cost_nanos,
                         list.list_cost_nanos);
        struct tg_call_record more = list;
        more.usage.output_tokens++;
        assert_true(tg_pricing_cost(rc, &more));
        assert_true(more.cost_nanos >= list.cost_nanos);
    }
    tg_pricing_destroy(rc);
}

/* --- budget estimates ---------------------------------------------------------------- */

static void test_estimate(void **state)
{
    (void)state;
    struct tg_ratecard *rc = test_card();
    struct tg_errbuf eb;
    struct tg_price_estimate e;
    int64_t t = day("2025-10-15");
    /* line 8: the dearest input-side price is the 1h cache write ($6), output $15:
     * 1000 x 6000 + 500 x 15000 = 6000000 + 7500000 */
    assert_int_equal(
        tg_pricing_estimate(rc, "anthropic", "claude-sonnet-4-5", t, 1000, 500, NULL, &e), 0);
    assert_int_equal(e.nanos, 13500000);
    assert_false(e.is_fallback);
    assert_string_equal(e.price_ref, "pricing_test_card.csv:8:alias");
    /* long context: max($6, $0.60, $7.50, $12) = $12 and $22.50:
     * 250000 x 12000 + 1000 x 22500 = 3000000000 + 22500000 */
    assert_int_equal(
        tg_pricing_estimate(rc, "anthropic", "claude-sonnet-4-5-20250929", t, 250000, 1000, "", &e),
        0);
    assert_int_equal(e.nanos, 3022500000);
    assert_string_equal(e.price_ref, "pricing_test_card.csv:8:exact:long_context");
    /* line 2, batch x0.5 and a 10% discount: (1000 x 2500 + 100 x 10000) x 0.5 x 0.9
     * = 3500000 x 0.45 = 1575000 */
    assert_int_equal(tg_pricing_set_discount(rc, "openai", 1000, &eb), 0);
    assert_int_equal(
        tg_pricing_estimate(rc, "openai", "gpt-4o-2024-08-06", t, 1000, 100, "batch", &e), 0);
    assert_int_equal(e.nanos, 1575000);
    /* an unknown model: no estimate without a fallback ... */
    assert_int_equal(tg_pricing_estimate(rc, "openai", "gpt-9", t, 1000, 100, NULL, &e),
                     TG_ERR_NOTFOUND);
    /* ... with one ($10 / $30, no tier, no discount): 1000 x 10000 + 100 x 30000 */
    assert_int_equal(tg_pricing_set_fallback(rc, 10000000, 30000000, &eb), 0);
    assert_int_equal(tg_pricing_estimate(rc, "openai", "gpt-9", t, 1000, 100, "batch", &e), 0);
    assert_int_equal(e.nanos, 13000000);
    assert_true(e.is_fallback);
    assert_string_equal(e.price_ref, "fallback");
    assert_int_equal(tg_pricing_estimate(rc, "openai", "gpt-9", t, -1, 100, NULL, &e),
                     TG_ERR_INVALID);
    assert_int_equal(tg_pricing_set_fallback(rc, -1, 0, &eb), TG_ERR_INVALID);
    /* the fallback only estimates: the ledger row of an unknown model stays unpriced */
    struct tg_call_record r;
    memset(&r, 0, sizeof r);
    snprintf(r.provider, sizeof r.provider, "openai");
    snprintf(r.request_model, sizeof r.request_model, "gpt-9");
    r.started_at_ms = t;
    r.usage.input_tokens = 1000;
    assert_false(tg_pricing_cost(rc, &r));
    tg_pricing_destroy(rc);
}

/* --- formatting and the shipped card ------------------------------------------------- */

static void test_format_usd(void **state)
{
    (void)state;
    char b[32];
    const struct {
        int64_t nanos;
        const char *want;
    } cases[] = {{2075000, "0.002075"},
                 {39738800, "0.0397388"},
                 {1, "0.000000001"},
                 {0, "0"},
                 {12000000000, "12"},
                 {-500000000, "-0.5"},
                 {INT64_MIN, "-9223372036.854775808"},
                 {INT64_MAX, "9223372036.854775807"},
                 {-1000000000, "-1"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_money_format_usd(cases[i].nanos, b, sizeof b);
        assert_string_equal(b, cases[i].want);
    }
    tg_money_format_usd(12500000000, b, 4); /* cut to the buffer, as snprintf does */
    assert_string_equal(b, "12.");
}

static void test_shipped_card_is_valid(void **state)
{
    (void)state;
    struct tg_ratecard *rc = tg_pricing_new();
    struct tg_errbuf eb;
    if (tg_pricing_load_file(rc, TG_SOURCE_DIR "/pricing/default.csv", &eb) != 0)
        fail_msg("%s", eb.msg);
    if (tg_pricing_load_aliases_file(rc, TG_SOURCE_DIR "/pricing/aliases.csv", &eb) != 0)
        fail_msg("%s", eb.msg);
    assert_true(tg_pricing_rows(rc) >= 40);
    int64_t t = day("2025-12-15");
    enum tg_price_match how;
    static const char *const models[][2] = {
        {"openai", "gpt-4o-2024-08-06"},
        {"openai", "gpt-4o"},
        {"openai", "gpt-4o-mini"},
        {"openai", "gpt-4.1"},
        {"openai", "gpt-4.1-mini"},
        {"openai", "o3"},
        {"openai", "o4-mini"},
        {"openai", "gpt-5"},
        {"openai", "gpt-5-mini"},
        {"openai", "gpt-5-nano"},
        {"openai", "text-embedding-3-small"},
        {"openai", "text-embedding-3-large"},
        {"anthropic", "claude-opus-4-1"},
        {"anthropic", "claude-sonnet-4-5-20250929"},
        {"anthropic", "claude-sonnet-4-0"},
        {"anthropic", "claude-haiku-4-5"},
        {"anthropic", "claude-3-7-sonnet-latest"},
        {"anthropic", "claude-3-5-haiku-latest"},
        {"anthropic", "claude-3-5-sonnet-20241022"},
        {"gemini", "gemini-2.5-pro"},
        {"gemini", "gemini-2.5-flash"},
        {"bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0"},
        {"bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0"},
        {"bedrock", "global.anthropic.claude-haiku-4-5-20251001-v1:0"},
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        const struct tg_price_row *r =
            tg_pricing_lookup(rc, models[i][0], models[i][1], t, &how, NULL);
        if (r == NULL)
            fail_msg("shipped card does not price %s %s", models[i][0], models[i][1]);
    }
    /* every shipped row names its public price page and the day it was read */
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        const struct tg_price_row *r =
            tg_pricing_lookup(rc, models[i][0], models[i][1], t, &how, NULL);
        assert_true(strncmp(r->source, "https://", 8) == 0);
        assert_int_equal(strlen(r->source_date), 10);
    }
    /* Sonnet 4.5 on the Anthropic API: $3 / $15, above 200k $6 / $22.50, 5m writes 1.25x,
     * 1h writes 2x, reads 0.1x (the long-context ones too) */
    const struct tg_price_row *r =
        tg_pricing_lookup(rc, "anthropic", "claude-sonnet-4-5", t, &how, NULL);
    const int64_t want[] = {3000000, 300000, 3750000, 6000000,  15000000, 200000,
                            6000000, 600000, 7500000, 12000000, 22500000};
    const int64_t got[] = {r->input,
                           r->cached_input,
                           r->cache_write_5m,
                           r->cache_write_1h,
                           r->output,
                           r->long_context_threshold,
                           r->lc_input,
                           r->lc_cached_input,
                           r->lc_cache_write_5m,
                           r->lc_cache_write_1h,
                           r->lc_output};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(got[i], want[i]);
    tg_pricing_destroy(rc);
}

/* The prices a ledger price_ref names (the FOCUS export's unit prices): card line 8 with
 * its defaults filled, its long-context prices, a tier multiplier, and every way a ref is
 * not found. */
static void test_ref_prices(void **state)
{
    (void)state;
    struct tg_ratecard *rc = test_card();
    struct tg_unit_prices u;
    assert_int_equal(
        tg_pricing_ref_prices(rc, "anthropic", "pricing_test_card.csv:8:exact", NULL, &u), 0);
    const int64_t want[] = {3000000, 300000,   3750000,  6000000, 15000000, 15000000,
                            3000000, 15000000, 10000000, 0,       10000};
    const int64_t got[] = {u.input,    u.cached,    u.write_5m, u.write_1h, u.output,  u.reasoning,
                           u.audio_in, u.audio_out, u.search,   u.fetch,    u.tier_bps};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(got[i], want[i]);
    assert_int_equal(tg_pricing_ref_prices(rc, "anthropic",
                                           "pricing_test_card.csv:8:exact:long_context", "", &u),
                     0);
    assert_int_equal(u.input, 6000000);
    assert_int_equal(u.cached, 600000);
    assert_int_equal(u.write_5m, 7500000);
    assert_int_equal(u.write_1h, 12000000);
    assert_int_equal(u.output, 22500000);
    /* reasoner-1 (line 12): its own reasoning price, batch x0.5 */
    assert_int_equal(
        tg_pricing_ref_prices(rc, "openai", "pricing_test_card.csv:12:exact", "batch", &u), 0);
    assert_int_equal(u.reasoning, 8000000);
    assert_int_equal(u.tier_bps, 5000);
    assert_int_equal(
        tg_pricing_ref_prices(rc, "openai", "pricing_test_card.csv:12:exact", "default", &u), 0);
    assert_int_equal(u.tier_bps, 10000);
    /* another provider's line, another file, a non-card ref, none */
    assert_int_equal(tg_pricing_ref_prices(rc, "openai", "pricing_test_card.csv:8:exact", NULL, &u),
                     TG_ERR_NOTFOUND);
    assert_int_equal(tg_pricing_ref_prices(rc, "anthropic", "other.csv:8:exact", NULL, &u),
                     TG_ERR_NOTFOUND);
    assert_int_equal(tg_pricing_ref_prices(rc, "openai", "not_forwarded", NULL, &u),
                     TG_ERR_NOTFOUND);
    assert_int_equal(tg_pricing_ref_prices(rc, "openai", NULL, NULL, &u), TG_ERR_NOTFOUND);
    /* a long-context ref for a row without long-context prices */
    assert_int_equal(tg_pricing_ref_prices(rc, "openai",
                                           "pricing_test_card.csv:12:exact:long_context", NULL, &u),
                     TG_ERR_NOTFOUND);
    tg_pricing_destroy(rc);
}

int main(void)
{
    const char *d = getenv("TG_TESTDATA");
    snprintf(data_dir, sizeof data_dir, "%s", d ? d : TG_SOURCE_DIR "/tests/data");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases_file),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_layering_and_exact_parse),
        cmocka_unit_test(test_patterns_are_literal_but_star),
        cmocka_unit_test(test_check_file_tells_cards_from_alias_maps),
        cmocka_unit_test(test_long_card_name_in_price_ref),
        cmocka_unit_test(test_overflow_is_unpriced),
        cmocka_unit_test(test_components_always_sum),
        cmocka_unit_test(test_estimate),
        cmocka_unit_test(test_format_usd),
        cmocka_unit_test(test_shipped_card_is_valid),
        cmocka_unit_test(test_ref_prices),
        cmocka_unit_test(test_large_card_lookups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
