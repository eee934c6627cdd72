/* tests/unit/finops/test_focus.c - the FOCUS 1.2 export on a real ledger: exact rows per
 * granularity, the unattributed and unpriced rows, list-cost split, exact totals */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accounting/pricing.h"
#include "core/clock.h"
#include "core/record.h"
#include "finops/focus.h"
#include "store/ledger.h"
#include "store/sqlite_store.h"
#include "tests/unit/finops/ledger_fixture.h"

struct call {
    const char *id, *request_id, *started, *ended, *provider, *model, *team, *tenant, *cost_center,
        *workflow, *tags, *price_ref;
    int64_t in, cached, w5m, w1h, out, searches;
    bool priced;
    int64_t c_in, c_cached, c_write, c_out, c_other, list;
    const char *tier;
};

static void add(struct tg_ledger *l, const struct call *c)
{
    struct tg_call_record r;
    memset(&r, 0, sizeof r);
    TG_SETS(r.call_id, c->id);
    TG_SETS(r.request_id, c->request_id);
    assert_int_equal(tg_parse_time(c->started, &r.started_at_ms), 0);
    assert_int_equal(tg_parse_time(c->ended, &r.ended_at_ms), 0);
    TG_SETS(r.provider, c->provider);
    TG_SETS(r.outcome, "ok");
    TG_SETS(r.usage.response_model, c->model);
    TG_SETS(r.team, c->team ? c->team : "");
    TG_SETS(r.tenant_id, c->tenant ? c->tenant : "");
    TG_SETS(r.cost_center, c->cost_center ? c->cost_center : "");
    TG_SETS(r.workflow_id, c->workflow ? c->workflow : "");
    TG_SETS(r.tags, c->tags ? c->tags : "");
    TG_SETS(r.price_ref, c->price_ref ? c->price_ref : "");
    TG_SETS(r.usage.service_tier, c->tier ? c->tier : "");
    r.attempt = 1;
    r.usage.input_tokens = c->in;
    r.usage.cached_input_tokens = c->cached;
    r.usage.cache_write_5m_tokens = c->w5m;
    r.usage.cache_write_1h_tokens = c->w1h;
    r.usage.output_tokens = c->out;
    r.usage.web_search_requests = c->searches;
    r.is_priced = c->priced;
    r.input_cost_nanos = c->c_in;
    r.cached_input_cost_nanos = c->c_cached;
    r.cache_write_cost_nanos = c->c_write;
    r.output_cost_nanos = c->c_out;
    r.other_cost_nanos = c->c_other;
    r.cost_nanos = c->c_in + c->c_cached + c->c_write + c->c_out + c->c_other;
    r.list_cost_nanos = c->list;
    tg_ledger_finish(l, &r, NULL, NULL);
}

/* c1, c2: payments (two calls of one hour, one model, one card row): 176 + 17 input tokens
 * for 352000 + 34000 nanos, 1024 cached for 1024000, 85 + 9 output for 680000 + 72000.
 * c3: unattributed Claude with a 10% discount: list 34500000 / 0.9 = 37950000, so the
 * 3450000 difference splits 10000 / 1240000 / 400000 / 1800000 in proportion to the cost.
 * c4: unpriced, just before midnight. c5: outside the range. c6: refused (no tokens, $0). */
/* clang-format off */
static const struct call calls[] = {
    {"c1", "req-1", "2026-11-02T09:15:30.250Z", "2026-11-02T09:15:31.100Z", "openai",
     "gpt-4o-2024-08-06", "payments", "acme", "cc-42", "run-9", "{\"region\":\"eu\"}",
     "card.csv:3:exact", 1200, 1024, 0, 0, 85, 0, true, 352000, 1024000, 0, 680000, 0, 2056000, NULL},
    {"c2", "req-1", "2026-11-02T09:40:00.000Z", "2026-11-02T09:40:00.400Z", "openai",
     "gpt-4o-2024-08-06", "payments", "acme", "cc-42", "run-9", "{\"region\":\"eu\"}",
     "card.csv:3:exact", 17, 0, 0, 0, 9, 0, true, 34000, 0, 0, 72000, 0, 106000, NULL},
    {"c3", "req-2", "2026-11-02T10:05:00.000Z", "2026-11-02T10:05:02.000Z", "anthropic",
     "claude-sonnet-4-5-20250929", NULL, NULL, NULL, NULL, NULL, "card.csv:8:exact", 3100, 0,
     2048, 1024, 310, 2, true, 100000, 0, 12400000, 4000000, 18000000, 37950000, NULL},
    {"c4", "req-3", "2026-11-02T23:59:59.900Z", "2026-11-03T00:00:00.300Z", "openai",
     "mystery-1", "search", NULL, NULL, NULL, NULL, NULL, 17, 0, 0, 0, 9, 0, false, 0, 0, 0, 0,
     0, 0, NULL},
    {"c5", "req-4", "2026-12-01T00:00:00.000Z", "2026-12-01T00:00:01.000Z", "openai",
     "gpt-4o-2024-08-06", "payments", NULL, NULL, NULL, NULL, "card.csv:3:exact", 5, 0, 0, 0, 5,
     0, true, 10000, 0, 0, 40000, 0, 50000, NULL},
    {"c6", "req-5", "2026-11-05T08:00:00.000Z", "2026-11-05T08:00:00.001Z", "openai",
     "gpt-4o-2024-08-06", "payments", NULL, NULL, NULL, NULL, "not_forwarded", 0, 0, 0, 0, 0, 0,
     true, 0, 0, 0, 0, 0, 0, NULL},
    /* October, for the unit prices (card_text line 4: $0.000333 input, $0.000777 output per
     * 1M, a token costs 333 / 777 pico-dollars): c7 7 input tokens = 2.331 nanos, booked 2;
     * 3 output = 2.331, booked 2. c8 at the batch tier (x0.5): 1000 input = 166.5 nanos,
     * booked 167 (half-up); 100 output = 38.85, booked 39. */
    {"c7", "req-7", "2026-10-05T12:00:00.000Z", "2026-10-05T12:00:00.500Z", "openai",
     "gpt-4o-mini-2024-07-18", "search", NULL, NULL, NULL, NULL, "card.csv:4:pattern", 7, 0, 0, 0,
     3, 0, true, 2, 0, 0, 2, 0, 4, NULL},
    {"c8", "req-8", "2026-10-05T13:00:00.000Z", "2026-10-05T13:00:00.500Z", "openai",
     "gpt-4o-mini-2024-07-18", "search", NULL, NULL, NULL, NULL, "card.csv:4:pattern", 1000, 0, 0,
     0, 100, 0, true, 167, 0, 0, 39, 0, 206, "batch"},
};
/* clang-format on */

static struct ledger_fixture lf;

static sqlite3 *fixture(void)
{
    ledger_fixture_open(&lf, "tgfocus");
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        add(lf.l, &calls[i]);
    return ledger_fixture_seal(&lf);
}

static void cleanup(sqlite3 *db)
{
    ledger_fixture_remove(&lf, db);
}

/* Every export a test produces also goes through the FOCUS validator the e2e tests use
 * (tests/e2e/lib/focus-validator.mjs), when node is installed. */
static void validate(const char *csv, enum tg_focus_granularity g)
{
    char file[192], cmd[512];
    if (system("command -v node >/dev/null 2>&1") != 0) {
        fprintf(stderr, "test_focus: node not found, FOCUS validator skipped\n");
        return;
    }
    snprintf(file, sizeof file, "%s/focus-%d.csv", lf.dir, (int)g);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(csv, 1, strlen(csv), f), strlen(csv));
    assert_int_equal(fclose(f), 0);
    snprintf(cmd, sizeof cmd, "node %s/tests/e2e/lib/focus-validator.mjs %s >/dev/null",
             TG_SOURCE_DIR, file);
    assert_int_equal(system(cmd), 0);
}

/* Runs the export of [from, to] into memory, with a rate card or none; returns the CSV
 * (owned). */
static char *run_range(sqlite3 *db, const char *from, const char *to, enum tg_focus_granularity g,
                       const struct tg_ratecard *card, struct tg_focus_summary *sum)
{
    struct tg_focus_query q;
    struct tg_errbuf eb;
    char *text = NULL;
    size_t len = 0;
    memset(&q, 0, sizeof q);
    memcpy(q.from, from, 11);
    memcpy(q.to, to, 11);
    q.granularity = g;
    q.card = card;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(tg_focus_export(db, &q, f, sum, &eb), 0);
    fclose(f);
    validate(text, g);
    return text;
}

static char *run(sqlite3 *db, enum tg_focus_granularity g, struct tg_focus_summary *sum)
{
    return run_range(db, "2026-11-01", "2026-11-30", g, NULL, sum);
}

#define HEADER                                                                                     \
    "BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodEnd,"             \
    "BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,ChargeFrequency,"             \
    "ChargePeriodEnd,ChargePeriodStart,ConsumedQuantity,ConsumedUnit,ContractedCost,"              \
    "ContractedUnitPrice,EffectiveCost,InvoiceId,InvoiceIssuerName,ListCost,ListUnitPrice,"        \
    "PricingCategory,PricingQuantity,PricingUnit,ProviderName,PublisherName,ServiceCategory,"      \
    "ServiceName,ServiceSubcategory,SkuId,SkuMeter,SkuPriceId,Tags,"                               \
    "x_CallId,x_RequestId,x_WorkflowId,x_Provider,x_Model,x_TokenType,x_PriceRef,"                 \
    "x_CostStatus,x_AllocationMethod,x_Calls\n"

#define NOV "2026-12-01T00:00:00Z,2026-11-01T00:00:00Z,Usage,,"
#define PAYMENTS_TAGS                                                                              \
    "\"{\"\"tenant_id\"\":\"\"acme\"\",\"\"team\"\":\"\"payments\"\",\"\"cost_center\"\":"         \
    "\"\"cc-42\"\",\"\"workflow_id\"\":\"\"run-9\"\",\"\"region\"\":\"\"eu\"\"}\""

static void test_day(void **state)
{
    (void)state;
    sqlite3 *db = fixture();
    struct tg_focus_summary sum;
    char *csv = run(db, TG_FOCUS_DAY, &sum);
    const char *day = "2026-11-03T00:00:00Z,2026-11-02T00:00:00Z,";
    char expected[8192];
    snprintf(
        expected, sizeof expected,
        HEADER
        /* the unattributed Claude call: Tags null, x_AllocationMethod unattributed */
        "0.0001,anthropic,anthropic,USD," NOV
        "claude-sonnet-4-5-20250929 input tokens,Usage-Based,%s28,Tokens,0.0001,,0.0001,,"
        "Anthropic,0.00011,,Standard,0.000028,1000000 Tokens,Anthropic,Anthropic,AI and Machine "
        "Learning,Claude API,Generative AI,anthropic/claude-sonnet-4-5-20250929/input,Input "
        "Tokens,anthropic/claude-sonnet-4-5-20250929/input@card.csv:8:exact,,,,,anthropic,"
        "claude-sonnet-4-5-20250929,input,card.csv:8:exact,priced,unattributed,1\n"
        "0.0124,anthropic,anthropic,USD," NOV
        "claude-sonnet-4-5-20250929 cache write tokens,Usage-Based,%s3072,Tokens,0.0124,,0.0124,,"
        "Anthropic,0.01364,,Standard,0.003072,1000000 Tokens,Anthropic,Anthropic,AI and Machine "
        "Learning,Claude API,Generative AI,anthropic/claude-sonnet-4-5-20250929/cache_write,Cache "
        "Write Tokens,anthropic/claude-sonnet-4-5-20250929/cache_write@card.csv:8:exact,,,,,"
        "anthropic,claude-sonnet-4-5-20250929,cache_write,card.csv:8:exact,priced,unattributed,1\n"
        "0.004,anthropic,anthropic,USD," NOV
        "claude-sonnet-4-5-20250929 output tokens,Usage-Based,%s310,Tokens,0.004,,0.004,,"
        "Anthropic,0.0044,,Standard,0.00031,1000000 Tokens,Anthropic,Anthropic,AI and Machine "
        "Learning,Claude API,Generative AI,anthropic/claude-sonnet-4-5-20250929/output,Output "
        "Tokens,anthropic/claude-sonnet-4-5-20250929/output@card.csv:8:exact,,,,,anthropic,"
        "claude-sonnet-4-5-20250929,output,card.csv:8:exact,priced,unattributed,1\n"
        "0.018,anthropic,anthropic,USD," NOV
        "claude-sonnet-4-5-20250929 server-tool requests,Usage-Based,%s2,Requests,0.018,,0.018,,"
        "Anthropic,0.0198,,Standard,0.002,1000 Requests,Anthropic,Anthropic,AI and Machine "
        "Learning,Claude API,Generative AI,anthropic/claude-sonnet-4-5-20250929/other,Server "
        "Tool Requests,anthropic/claude-sonnet-4-5-20250929/other@card.csv:8:exact,,,,,"
        "anthropic,claude-sonnet-4-5-20250929,other,card.csv:8:exact,priced,unattributed,1\n"
        /* payments: c1 + c2 in one row per component */
        "0.000386,openai,openai,USD," NOV
        "gpt-4o-2024-08-06 input tokens,Usage-Based,%s193,Tokens,0.000386,,0.000386,,OpenAI,"
        "0.000386,,Standard,0.000193,1000000 Tokens,OpenAI,OpenAI,AI and Machine Learning,OpenAI "
        "API,Generative AI,openai/gpt-4o-2024-08-06/input,Input "
        "Tokens,openai/gpt-4o-2024-08-06/input@card.csv:3:exact," PAYMENTS_TAGS
        ",,,run-9,openai,gpt-4o-2024-08-06,input,card.csv:3:exact,priced,direct,2\n"
        "0.001024,openai,openai,USD," NOV
        "gpt-4o-2024-08-06 cached input tokens,Usage-Based,%s1024,Tokens,0.001024,,0.001024,,"
        "OpenAI,0.001024,,Standard,0.001024,1000000 Tokens,OpenAI,OpenAI,AI and Machine "
        "Learning,OpenAI API,Generative AI,openai/gpt-4o-2024-08-06/cached_input,Cached Input "
        "Tokens,openai/gpt-4o-2024-08-06/cached_input@card.csv:3:exact," PAYMENTS_TAGS
        ",,,run-9,openai,gpt-4o-2024-08-06,cached_input,card.csv:3:exact,priced,direct,2\n"
        "0.000752,openai,openai,USD," NOV
        "gpt-4o-2024-08-06 output tokens,Usage-Based,%s94,Tokens,0.000752,,0.000752,,OpenAI,"
        "0.000752,,Standard,0.000094,1000000 Tokens,OpenAI,OpenAI,AI and Machine Learning,OpenAI "
        "API,Generative AI,openai/gpt-4o-2024-08-06/output,Output "
        "Tokens,openai/gpt-4o-2024-08-06/output@card.csv:3:exact," PAYMENTS_TAGS
        ",,,run-9,openai,gpt-4o-2024-08-06,output,card.csv:3:exact,priced,direct,2\n"
        /* the unpriced call: quantities kept, every cost column empty, no SkuPriceId */
        ",openai,openai,USD," NOV
        "mystery-1 input tokens,Usage-Based,%s17,Tokens,,,,,OpenAI,,,Standard,0.000017,1000000 "
        "Tokens,OpenAI,OpenAI,AI and Machine Learning,OpenAI API,Generative "
        "AI,openai/mystery-1/input,Input Tokens,,\"{\"\"team\"\":\"\"search\"\"}\",,,,openai,"
        "mystery-1,input,,unpriced,direct,1\n"
        ",openai,openai,USD," NOV
        "mystery-1 output tokens,Usage-Based,%s9,Tokens,,,,,OpenAI,,,Standard,0.000009,1000000 "
        "Tokens,OpenAI,OpenAI,AI and Machine Learning,OpenAI API,Generative "
        "AI,openai/mystery-1/output,Output Tokens,,\"{\"\"team\"\":\"\"search\"\"}\",,,,openai,"
        "mystery-1,output,,unpriced,direct,1\n",
        day, day, day, day, day, day, day, day, day);
    assert_string_equal(csv, expected);
    /* BilledCost sums to the ledger total of the range: 2162000 + 34500000 (c6 is $0) */
    assert_int_equal(sum.billed_nanos, 36662000);
    assert_int_equal(sum.rows, 9);
    assert_int_equal(sum.calls, 4);
    assert_int_equal(sum.unpriced_calls, 1);
    assert_int_equal(sum.unpriced_rows, 2);
    assert_int_equal(sum.unpriced_tokens, 26);
    free(csv);
    cleanup(db);
}

/* One CSV line of text (0-based, the header is line 0), copied into out. */
static void line(const char *csv, int n, char *out, size_t cap)
{
    const char *p = csv;
    for (int i = 0; i < n && p != NULL; i++) {
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    assert_non_null(p);
    const char *e = strchr(p, '\n');
    assert_non_null(e);
    assert_true((size_t)(e - p) < cap);
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
}

static void test_call(void **state)
{
    (void)state;
    sqlite3 *db = fixture();
    struct tg_focus_summary sum;
    char *csv = run(db, TG_FOCUS_CALL, &sum);
    char l[2048];
    /* rows in started_at order: c1 (3 components), c2 (2), c3 (4), c4 (2) */
    assert_int_equal(sum.rows, 11);
    assert_int_equal(sum.calls, 4);
    assert_int_equal(sum.billed_nanos, 36662000);
    /* c1's input: 09:15:30.250 .. 09:15:31.100 becomes [09:15:30, 09:15:32); x_CallId and
     * x_RequestId are filled at this granularity */
    line(csv, 1, l, sizeof l);
    assert_string_equal(
        l, "0.000352,openai,openai,USD," NOV "gpt-4o-2024-08-06 input tokens,Usage-Based,"
           "2026-11-02T09:15:32Z,2026-11-02T09:15:30Z,176,Tokens,0.000352,,0.000352,,OpenAI,"
           "0.000352,,Standard,0.000176,1000000 Tokens,OpenAI,OpenAI,AI and Machine Learning,"
           "OpenAI API,Generative AI,openai/gpt-4o-2024-08-06/input,Input "
           "Tokens,openai/gpt-4o-2024-08-06/input@card.csv:3:exact," PAYMENTS_TAGS
           ",c1,req-1,run-9,openai,gpt-4o-2024-08-06,input,card.csv:3:exact,priced,direct,1");
    /* c2 is shorter than a second: one second */
    line(csv, 4, l, sizeof l);
    assert_non_null(strstr(l, ",2026-11-02T09:40:01Z,2026-11-02T09:40:00Z,17,Tokens,0.000034,"));
    /* c4 ends after midnight: its charge period too, but it stays in November's billing
     * period and on the day it started */
    line(csv, 10, l, sizeof l);
    assert_string_equal(
        l, ",openai,openai,USD," NOV "mystery-1 input tokens,Usage-Based,2026-11-03T00:00:01Z,"
           "2026-11-02T23:59:59Z,17,Tokens,,,,,OpenAI,,,Standard,0.000017,1000000 "
           "Tokens,OpenAI,OpenAI,AI and Machine Learning,OpenAI API,Generative "
           "AI,openai/mystery-1/input,Input Tokens,,\"{\"\"team\"\":\"\"search\"\"}\",c4,req-3,,"
           "openai,mystery-1,input,,unpriced,direct,1");
    free(csv);
    cleanup(db);
}

static void test_hour(void **state)
{
    (void)state;
    sqlite3 *db = fixture();
    struct tg_focus_summary sum;
    char *csv = run(db, TG_FOCUS_HOUR, &sum);
    char l[2048];
    /* hours 09 (c1 + c2: 3 rows), 10 (c3: 4 rows), 23 (c4: 2 rows) */
    assert_int_equal(sum.rows, 9);
    assert_int_equal(sum.billed_nanos, 36662000);
    line(csv, 3, l, sizeof l);
    assert_non_null(strstr(l, "0.000752,openai,openai,USD," NOV
                              "gpt-4o-2024-08-06 output tokens,Usage-Based,2026-11-02T10:00:00Z,"
                              "2026-11-02T09:00:00Z,94,Tokens,"));
    assert_non_null(strstr(l, ",,,run-9,openai,gpt-4o-2024-08-06,output,card.csv:3:exact,priced,"
                              "direct,2"));
    line(csv, 4, l, sizeof l);
    assert_non_null(strstr(l, "2026-11-02T11:00:00Z,2026-11-02T10:00:00Z,28,Tokens,"));
    free(csv);
    cleanup(db);
}

/* line 4 prices c7 and c8 (price_ref card.csv:4:pattern) */
static const char card_text[] =
    "provider,model,effective_from,currency,input_per_mtok,cached_input_per_mtok,output_per_mtok,"
    "batch_multiplier\n"
    "# a comment keeps the line numbers honest\n"
    "openai,gpt-4o-2024-08-06,2024-08-06,USD,2.00,1.00,8.00,\n"
    "openai,gpt-4o-mini*,2024-07-18,USD,0.000333,0.0001,0.000777,0.5\n";

static void test_unit_prices(void **state)
{
    (void)state;
    sqlite3 *db = fixture();
    struct tg_ratecard *card = tg_pricing_new();
    struct tg_errbuf eb;
    struct tg_focus_summary sum;
    char l[2048];
    assert_int_equal(tg_pricing_load_csv(card, "card.csv", card_text, sizeof card_text - 1, &eb),
                     0);
    char *csv = run_range(db, "2026-10-01", "2026-10-31", TG_FOCUS_DAY, card, &sum);
    assert_int_equal(sum.rows, 4);
    assert_int_equal(sum.billed_nanos, 210);
    /* ListCost = ListUnitPrice x PricingQuantity exactly, below the nano-dollar the ledger
     * rounds BilledCost to: 0.000333 x 0.000007 = 0.000000002331 */
    line(csv, 1, l, sizeof l);
    assert_non_null(strstr(l, "0.000000002,openai,openai,USD,2026-11-01T00:00:00Z,"
                              "2026-10-01T00:00:00Z,Usage,,gpt-4o-mini-2024-07-18 input tokens,"));
    assert_non_null(strstr(l, ",7,Tokens,0.000000002,,0.000000002,,OpenAI,0.000000002331,0.000333,"
                              "Standard,0.000007,1000000 Tokens,"));
    line(csv, 2, l, sizeof l);
    assert_non_null(strstr(l, ",3,Tokens,0.000000002,,0.000000002,,OpenAI,0.000000002331,0.000777,"
                              "Standard,0.000003,1000000 Tokens,"));
    /* the batch tier halves the unit price: its own row (service_tier is part of the key) */
    line(csv, 3, l, sizeof l);
    assert_non_null(strstr(l, ",1000,Tokens,0.000000167,,0.000000167,,OpenAI,0.0000001665,"
                              "0.0001665,Standard,0.001,1000000 Tokens,"));
    line(csv, 4, l, sizeof l);
    assert_non_null(strstr(l, ",100,Tokens,0.000000039,,0.000000039,,OpenAI,0.00000003885,"
                              "0.0003885,Standard,0.0001,1000000 Tokens,"));
    free(csv);
    /* November's rows name card.csv:3 (found: the gpt-4o prices) and card.csv:8 (not in this
     * card: no unit price, ListCost from the ledger) */
    csv = run_range(db, "2026-11-01", "2026-11-30", TG_FOCUS_DAY, card, &sum);
    line(csv, 1, l, sizeof l);
    assert_non_null(strstr(l, ",Anthropic,0.00011,,Standard,0.000028,"));
    line(csv, 5, l, sizeof l);
    assert_non_null(strstr(l, ",193,Tokens,0.000386,,0.000386,,OpenAI,0.000386,2,Standard,"));
    free(csv);
    tg_pricing_destroy(card);
    cleanup(db);
}

static void test_granularity_names(void **state)
{
    (void)state;
    enum tg_focus_granularity g;
    assert_int_equal(tg_focus_parse_granularity("call", &g), 0);
    assert_int_equal(g, TG_FOCUS_CALL);
    assert_int_equal(tg_focus_parse_granularity("hour", &g), 0);
    assert_int_equal(g, TG_FOCUS_HOUR);
    assert_int_equal(tg_focus_parse_granularity("day", &g), 0);
    assert_int_equal(g, TG_FOCUS_DAY);
    assert_int_not_equal(tg_focus_parse_granularity("week", &g), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_day),
        cmocka_unit_test(test_call),
        cmocka_unit_test(test_hour),
        cmocka_unit_test(test_unit_prices),
        cmocka_unit_test(test_granularity_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
