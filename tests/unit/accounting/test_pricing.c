/* tests/unit/accounting/test_pricing.c - rate cards and costs: the table in
 * tests/data/pricing.cases, parse errors, formatting */
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

static void dash(char *s)
{
    if (strcmp(s, "-") == 0)
        s[0] = '\0';
}

static void test_cases_file(void **state)
{
    (void)state;
    char p[700], line[1024];
    struct tg_ratecard *rc = test_card();
    assert_int_equal(tg_pricing_rows(rc), 10);
    data_path(p, sizeof p, "pricing.cases");
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    int lineno = 0, cases = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char provider[32], resp[128], req[128], date[40], tier[32], ref[128];
        long long disc, t[10], want[8];
        int n = sscanf(
            line,
            "%31s %127s %127s %39s %31s %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld => "
            "%lld %lld %lld %lld %lld %lld %lld %lld %127s",
            provider, resp, req, date, tier, &disc, &t[0], &t[1], &t[2], &t[3], &t[4], &t[5], &t[6],
            &t[7], &t[8], &t[9], &want[0], &want[1], &want[2], &want[3], &want[4], &want[5],
            &want[6], &want[7], ref);
        if (n != 25)
            fail_msg("pricing.cases:%d: cannot parse (%d fields)", lineno, n);
        dash(resp);
        dash(req);
        dash(tier);
        struct tg_call_record r;
        struct tg_errbuf eb;
        memset(&r, 0, sizeof r);
        snprintf(r.provider, sizeof r.provider, "%s", provider);
        snprintf(r.request_model, sizeof r.request_model, "%s", req);
        snprintf(r.usage.response_model, sizeof r.usage.response_model, "%s", resp);
        snprintf(r.usage.service_tier, sizeof r.usage.service_tier, "%s", tier);
        if (tg_parse_time(date, &r.started_at_ms) != 0)
            fail_msg("pricing.cases:%d: bad date %s", lineno, date);
        r.usage.input_tokens = t[0];
        r.usage.cached_input_tokens = t[1];
        r.usage.cache_write_5m_tokens = t[2];
        r.usage.cache_write_1h_tokens = t[3];
        r.usage.audio_input_tokens = t[4];
        r.usage.output_tokens = t[5];
        r.usage.reasoning_tokens = t[6];
        r.usage.audio_output_tokens = t[7];
        r.usage.web_search_requests = t[8];
        r.usage.web_fetch_requests = t[9];
        assert_int_equal(tg_pricing_set_discount(rc, "openai", disc, &eb), 0);
        bool priced = tg_pricing_cost(rc, &r);
        const long long got[8] = {r.input_cost_nanos,       r.cached_input_cost_nanos,
                                  r.cache_write_cost_nanos, r.output_cost_nanos,
                                  r.other_cost_nanos,       r.cost_nanos,
                                  r.list_cost_nanos,        r.cache_savings_nanos};
        static const char *names[8] = {"input", "cached", "cache_write", "output",
                                       "other", "total",  "list",        "savings"};
        if (strcmp(ref, "unpriced") == 0) {
            if (priced || r.is_priced || r.price_ref[0] != '\0')
                fail_msg("pricing.cases:%d: expected unpriced, got %s", lineno, r.price_ref);
        } else {
            if (!priced || strcmp(r.price_ref, ref) != 0)
                fail_msg("pricing.cases:%d: price_ref '%s', want '%s'", lineno, r.price_ref, ref);
        }
        for (int i = 0; i < 8; i++)
            if (got[i] != want[i])
                fail_msg("pricing.cases:%d: %s = %lld, want %lld", lineno, names[i], got[i],
                         want[i]);
        /* the components always add up to the total */
        assert_int_equal(got[0] + got[1] + got[2] + got[3] + got[4], got[5]);
        cases++;
    }
    fclose(f);
    assert_int_equal(cases, 18);
    tg_pricing_destroy(rc);
}

struct err_case {
    const char *csv, *message;
};

#define HDR "provider,model,effective_from,currency,input_per_mtok,output_per_mtok\n"

static const struct err_case err_cases[] = {
    {HDR "openai,m,2025-01-01,USD,0.0000001,1\n",
     "card.csv:2: input_per_mtok '0.0000001' has more precision than micro-dollars per million "
     "tokens"},
    {HDR "openai,m,2025-13-01,USD,1,1\n",
     "card.csv:2: effective_from '2025-13-01' is not a date (YYYY-MM-DD)"},
    {"provider,model,effective_from,currency,imput_per_mtok,output_per_mtok\n",
     "card.csv:1: unknown column 'imput_per_mtok'"},
    {"provider,model,effective_from,currency,output_per_mtok\nopenai,m,2025-01-01,USD,1\n",
     "card.csv:1: missing required column 'input_per_mtok'"},
    {HDR "openai,m,2025-01-01,USD,-1,1\n",
     "card.csv:2: input_per_mtok '-1' is not a non-negative decimal number"},
    {HDR "openai,m,2025-01-01,EUR,1,1\n", "card.csv:2: currency 'EUR' is not supported (USD only)"},
    {HDR "openai,m,2025-01-01,USD,1\n", "card.csv:2: 5 fields, the header has 6"},
    {HDR "openai,,2025-01-01,USD,1,1\n", "card.csv:2: model is required"},
    {"", "card.csv: empty file (no header row)"},
};

static void test_parse_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
        struct tg_ratecard *rc = tg_pricing_new();
        struct tg_errbuf eb;
        int rc2 =
            tg_pricing_load_csv(rc, "card.csv", err_cases[i].csv, strlen(err_cases[i].csv), &eb);
        assert_int_equal(rc2, TG_ERR_INVALID);
        assert_string_equal(eb.msg, err_cases[i].message);
        assert_int_equal(tg_pricing_rows(rc), 0); /* all or nothing */
        tg_pricing_destroy(rc);
    }
}

static void test_layering_and_exact_parse(void **state)
{
    (void)state;
    struct tg_ratecard *rc = test_card();
    struct tg_errbuf eb;
    /* the organization's contract price, a later layer, wins over the shipped row */
    static const char contract[] =
        HDR "openai,gpt-4o-2024-08-06,2025-01-01,USD,2.125,8.5\n# comment line\n\n";
    assert_int_equal(tg_pricing_load_csv(rc, "contract.csv", contract, sizeof contract - 1, &eb),
                     0);
    enum tg_price_match how;
    int64_t t;
    assert_int_equal(tg_parse_time("2025-06-01", &t), 0);
    const struct tg_price_row *r =
        tg_pricing_lookup(rc, "openai", "gpt-4o-2024-08-06", t, &how, NULL);
    assert_non_null(r);
    assert_string_equal(r->ref, "contract.csv:2");
    assert_int_equal(r->input, 2125000);
    assert_int_equal(r->output, 8500000);
    assert_int_equal(r->cached_input, -1);
    const char *resolved = NULL;
    r = tg_pricing_lookup(rc, "openai", "gpt-4o", t, &how, &resolved);
    assert_int_equal(how, TG_PRICE_ALIAS);
    assert_string_equal(resolved, "gpt-4o-2024-08-06");
    tg_pricing_destroy(rc);

    int64_t v;
    assert_int_equal(tg_money_parse_decimal("0.000001", 6, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(tg_money_parse_decimal("2.500000000", 6, &v),
                     0); /* zeros beyond the scale are exact */
    assert_int_equal(v, 2500000);
    assert_int_equal(tg_money_parse_decimal("15", 6, &v), 0);
    assert_int_equal(v, 15000000);
    assert_int_equal(tg_money_parse_decimal("1e3", 6, &v), TG_ERR_INVALID);
    assert_int_equal(tg_money_parse_decimal(".", 6, &v), TG_ERR_INVALID);
}

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
                 {INT64_MIN, "-9223372036.854775808"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_money_format_usd(cases[i].nanos, b, sizeof b);
        assert_string_equal(b, cases[i].want);
    }
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
    assert_true(tg_pricing_rows(rc) >= 30);
    /* every shipped row names its source page and date */
    int64_t t;
    assert_int_equal(tg_parse_time("2026-11-22", &t), 0);
    enum tg_price_match how;
    const char *models[][2] = {{"openai", "gpt-4o-2024-08-06"},
                               {"openai", "gpt-4o"},
                               {"openai", "gpt-5"},
                               {"anthropic", "claude-sonnet-4-5-20250929"},
                               {"anthropic", "claude-haiku-4-5"},
                               {"gemini", "gemini-2.5-pro"},
                               {"bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0"}};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        const struct tg_price_row *r =
            tg_pricing_lookup(rc, models[i][0], models[i][1], t, &how, NULL);
        if (r == NULL)
            fail_msg("shipped card does not price %s %s", models[i][0], models[i][1]);
        assert_true(strncmp(r->source, "https://", 8) == 0);
        assert_int_equal(strlen(r->source_date), 10);
    }
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
        cmocka_unit_test(test_format_usd),
        cmocka_unit_test(test_shipped_card_is_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
