/* tests/unit/finops/test_reconcile.c - invoice readers (simple, FOCUS) and the comparison on a
 * real ledger: every status, exact differences and basis points, unpriced never as $0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/record.h"
#include "finops/reconcile.h"
#include "store/ledger.h"
#include "store/sqlite_store.h"
#include "tests/unit/finops/ledger_fixture.h"

static struct ledger_fixture lf;

static void add(struct tg_ledger *l, const char *id, const char *day, const char *provider,
                const char *model, int attempt, bool priced, int64_t cost)
{
    struct tg_call_record r;
    ledger_fixture_call(&r, id, day, 7200000 /* 02:00 UTC */, 300);
    snprintf(r.provider, sizeof r.provider, "%s", provider);
    snprintf(r.outcome, sizeof r.outcome, attempt ? "ok" : "refused");
    snprintf(r.usage.response_model, sizeof r.usage.response_model, "%s", model);
    r.attempt = attempt;
    ledger_fixture_finish(l, &r, priced, cost);
}

static sqlite3 *fixture(void)
{
    ledger_fixture_open(&lf, "tgrecon");
    struct tg_ledger *l = lf.l;
    /* 11-01 gpt-4o: $0.002056 + $1.5 = $1.502056 (the invoice's two lines: a match)
     * 11-02 gpt-4o: $0.001 (invoice $0.0012345: a variance); a refused call the same key,
     *       never forwarded, is not compared
     * 11-02 claude-haiku: $0.25, absent from the invoice
     * 11-02 mystery-1: unpriced (the invoice says $0.01)
     * 10-31: outside the invoice's range */
    add(l, "c1", "2026-11-01", "openai", "gpt-4o-2024-08-06", 1, true, 2056000);
    add(l, "c2", "2026-11-01", "openai", "gpt-4o-2024-08-06", 1, true, 1500000000);
    add(l, "c3", "2026-11-02", "openai", "gpt-4o-2024-08-06", 1, true, 1000000);
    add(l, "c4", "2026-11-02", "openai", "gpt-4o-2024-08-06", 0, true, 0);
    add(l, "c5", "2026-11-02", "anthropic", "claude-haiku-4-5-20251001", 1, true, 250000000);
    add(l, "c6", "2026-11-02", "openai", "mystery-1", 1, false, 0);
    add(l, "c7", "2026-10-31", "openai", "gpt-4o-2024-08-06", 1, true, 777);
    return ledger_fixture_seal(&lf);
}

static void cleanup(sqlite3 *db)
{
    ledger_fixture_remove(&lf, db);
}

static void load_fixture(struct tg_invoice *inv, const char *file, enum tg_invoice_format f)
{
    char p[512];
    struct tg_errbuf eb;
    const char *root = getenv("TG_FIXTURES");
    assert_non_null(root);
    snprintf(p, sizeof p, "%s/invoices/%s", root, file);
    int rc = tg_invoice_load(inv, p, f, &eb);
    if (rc != 0)
        fail_msg("%s", eb.msg);
}

/* variance: invoice 1234500 - ledger 1000000 = 234500 nanos; 234500 * 10000 / 1234500 =
 * 1899.55 -> 1900 bps. invoice_only: 0.3, all of it (10000 bps). ledger_only: -0.25, no
 * basis points without an invoice amount. Totals: ledger 1.502056 + 0.001 + 0.25 =
 * 1.753056; invoice 1.502056 + 0.0012345 + 0.01 + 0.3 = 1.8132905; difference 0.0602345. */
static const char expected_csv[] =
    "status,day,provider,model,ledger_usd,invoice_usd,difference_usd,difference_bps,ledger_"
    "calls,unpriced_calls\n"
    "variance,2026-11-02,openai,gpt-4o-2024-08-06,0.001,0.0012345,0.0002345,1900,1,0\n"
    "invoice_only,2026-11-03,openai,gpt-4o-mini-2024-07-18,,0.3,0.3,10000,0,0\n"
    "ledger_only,2026-11-02,anthropic,claude-haiku-4-5-20251001,0.25,,-0.25,,1,0\n"
    "unpriced,2026-11-02,openai,mystery-1,0,0.01,,,1,1\n"
    "match,2026-11-01,openai,gpt-4o-2024-08-06,1.502056,1.502056,0,0,2,0\n";

static void test_simple_csv(void **state)
{
    (void)state;
    sqlite3 *db = fixture();
    struct tg_invoice inv = {0};
    struct tg_reconcile_query q;
    struct tg_reconcile_summary s;
    struct tg_errbuf eb;
    struct tg_buf out = {0};
    memset(&q, 0, sizeof q);
    load_fixture(&inv, "simple.csv", TG_INVOICE_SIMPLE);
    assert_int_equal(inv.n, 5);
    q.format = TG_REPORT_CSV;
    assert_int_equal(tg_reconcile_run(db, &inv, &q, &out, &s, &eb), 0);
    assert_string_equal(out.base, expected_csv);
    assert_int_equal(s.matches, 1);
    assert_int_equal(s.variances, 1);
    assert_int_equal(s.invoice_only, 1);
    assert_int_equal(s.ledger_only, 1);
    assert_int_equal(s.unpriced, 1);
    assert_int_equal(s.ledger_nanos, 1753056000);
    assert_int_equal(s.invoice_nanos, 1813290500);
    tg_buf_free(&out);
    tg_invoice_free(&inv);
    cleanup(db);
}

static void test_focus_json_tolerance(void **state)
{
    (void)state;
    sqlite3 *db = fixture();
    struct tg_invoice inv = {0};
    struct tg_reconcile_query q;
    struct tg_reconcile_summary s;
    struct tg_errbuf eb;
    struct tg_buf out = {0};
    memset(&q, 0, sizeof q);
    load_fixture(&inv, "focus.csv", TG_INVOICE_FOCUS);
    assert_int_equal(inv.n, 5);
    assert_int_equal(inv.skipped, 1); /* the Tax row */
    /* the same numbers as simple.csv; tolerance $0.0002345 turns the variance into a match */
    q.format = TG_REPORT_JSON;
    q.tolerance_nanos = 234500;
    assert_int_equal(tg_reconcile_run(db, &inv, &q, &out, &s, &eb), 0);
    assert_string_equal(
        out.base,
        "{\"from\":\"2026-11-01\",\"to\":\"2026-11-03\",\"tolerance_usd\":\"0.0002345\",\"rows\":["
        "{\"status\":\"invoice_only\",\"day\":\"2026-11-03\",\"provider\":\"openai\",\"model\":"
        "\"gpt-4o-mini-2024-07-18\",\"ledger_usd\":null,\"invoice_usd\":\"0.3\","
        "\"difference_usd\":\"0.3\",\"difference_bps\":10000,\"ledger_calls\":0,"
        "\"unpriced_calls\":0},"
        "{\"status\":\"ledger_only\",\"day\":\"2026-11-02\",\"provider\":\"anthropic\","
        "\"model\":\"claude-haiku-4-5-20251001\",\"ledger_usd\":\"0.25\",\"invoice_usd\":null,"
        "\"difference_usd\":\"-0.25\",\"difference_bps\":null,\"ledger_calls\":1,"
        "\"unpriced_calls\":0},"
        "{\"status\":\"unpriced\",\"day\":\"2026-11-02\",\"provider\":\"openai\",\"model\":"
        "\"mystery-1\",\"ledger_usd\":\"0\",\"invoice_usd\":\"0.01\",\"difference_usd\":null,"
        "\"difference_bps\":null,\"ledger_calls\":1,\"unpriced_calls\":1},"
        "{\"status\":\"match\",\"day\":\"2026-11-01\",\"provider\":\"openai\",\"model\":"
        "\"gpt-4o-2024-08-06\",\"ledger_usd\":\"1.502056\",\"invoice_usd\":\"1.502056\","
        "\"difference_usd\":\"0\",\"difference_bps\":0,\"ledger_calls\":2,\"unpriced_calls\":0},"
        "{\"status\":\"match\",\"day\":\"2026-11-02\",\"provider\":\"openai\",\"model\":"
        "\"gpt-4o-2024-08-06\",\"ledger_usd\":\"0.001\",\"invoice_usd\":\"0.0012345\","
        "\"difference_usd\":\"0.0002345\",\"difference_bps\":1900,\"ledger_calls\":1,"
        "\"unpriced_calls\":0}],"
        "\"summary\":{\"matches\":2,\"variances\":0,\"invoice_only\":1,\"ledger_only\":1,"
        "\"unpriced\":1,\"ledger_usd\":\"1.753056\",\"invoice_usd\":\"1.8132905\","
        "\"difference_usd\":\"0.0602345\",\"skipped_invoice_rows\":1}}\n");
    assert_int_equal(s.matches, 2);
    tg_buf_free(&out);
    tg_invoice_free(&inv);
    cleanup(db);
}

static void test_range_and_all_match(void **state)
{
    (void)state;
    sqlite3 *db = fixture();
    struct tg_invoice inv = {0};
    struct tg_reconcile_query q;
    struct tg_reconcile_summary s;
    struct tg_errbuf eb;
    struct tg_buf out = {0};
    memset(&q, 0, sizeof q);
    load_fixture(&inv, "simple.csv", TG_INVOICE_SIMPLE);
    strcpy(q.from, "2026-11-01");
    strcpy(q.to, "2026-11-01");
    q.format = TG_REPORT_TABLE;
    assert_int_equal(tg_reconcile_run(db, &inv, &q, &out, &s, &eb), 0);
    assert_string_equal(
        out.base,
        "status         day        provider   model                            ledger_usd    "
        "invoice_usd     difference diff_bps  calls unpriced\n"
        "match          2026-11-01 openai     gpt-4o-2024-08-06                  1.502056       "
        "1.502056              0        0      2        0\n"
        "\n2026-11-01..2026-11-01, tolerance 0 USD: 1 match, 0 variance, 0 invoice only, 0 "
        "ledger only, 0 unpriced\nledger 1.502056 USD, invoice 1.502056 USD, difference 0 USD; 0 "
        "non-usage invoice rows skipped\n");
    assert_int_equal(s.matches + s.variances + s.invoice_only + s.ledger_only + s.unpriced, 1);
    tg_buf_free(&out);
    /* an empty invoice needs a range */
    struct tg_invoice none = {0};
    memset(&q, 0, sizeof q);
    assert_int_equal(tg_reconcile_run(db, &none, &q, &out, &s, &eb), TG_ERR_INVALID);
    tg_buf_free(&out);
    tg_invoice_free(&inv);
    cleanup(db);
}

static const struct {
    enum tg_invoice_format format;
    const char *text, *error;
} bad_cases[] = {
    {TG_INVOICE_SIMPLE,
     "date,provider,model,cost_usd\n2026-11-01,openai,m,1\n2026-11-02,openai,m,"
     "0.0000000001\n",
     "bad.csv:3: cost_usd '0.0000000001' has more than 9 decimals"},
    {TG_INVOICE_SIMPLE, "date,provider,model\n", "bad.csv:1: missing column cost_usd"},
    {TG_INVOICE_SIMPLE, "date,provider,model,cost_usd\n2026-13-01,openai,m,1\n",
     "bad.csv:2: date '2026-13-01' is not a UTC date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)"},
    {TG_INVOICE_SIMPLE, "date,provider,model,cost_usd\n2026-11-01,openai,m,$1\n",
     "bad.csv:2: cost_usd '$1' is not a decimal USD amount"},
    {TG_INVOICE_SIMPLE, "date,provider,model,cost_usd\n2026-11-01,,m,1\n",
     "bad.csv:2: empty provider"},
    {TG_INVOICE_SIMPLE, "", "bad.csv: empty file (no header row)"},
    {TG_INVOICE_SIMPLE, "date,provider,model,cost_usd\n2026-11-01,\"openai,m,1\n",
     "bad.csv:2: unterminated quoted field"},
    {TG_INVOICE_FOCUS, "ChargePeriodStart,BilledCost,SkuId\n",
     "bad.csv:1: missing column "
     "ServiceProviderName or ProviderName"},
    {TG_INVOICE_FOCUS,
     "ChargePeriodStart,ChargePeriodEnd,BilledCost,ProviderName,SkuId\n"
     "2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,5,OpenAI,gpt-4o\n",
     "bad.csv:2: charge period 2026-11-01T00:00:00Z..2026-12-01T00:00:00Z is not within one UTC "
     "day (reconcile needs daily or finer rows)"},
    {TG_INVOICE_FOCUS,
     "ChargePeriodStart,BilledCost,BillingCurrency,ProviderName,SkuId\n"
     "2026-11-01T00:00:00Z,5,EUR,OpenAI,gpt-4o\n",
     "bad.csv:2: BillingCurrency 'EUR': only USD"},
};

static void test_parse_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        struct tg_invoice inv = {0};
        struct tg_errbuf eb;
        int rc = tg_invoice_parse(&inv, "bad.csv", bad_cases[i].text, strlen(bad_cases[i].text),
                                  bad_cases[i].format, &eb);
        assert_int_equal(rc, TG_ERR_INVALID);
        assert_string_equal(eb.msg, bad_cases[i].error);
        assert_int_equal(inv.n, 0);
        tg_invoice_free(&inv);
    }
}

static void test_focus_1_3_and_negative(void **state)
{
    (void)state;
    /* 1.3: ServiceProviderName wins over ProviderName; the x_ model column wins over SkuId;
     * a correction is negative; 9 decimals plus trailing zeros are exact */
    static const char text[] =
        "ChargePeriodStart,BilledCost,ProviderName,ServiceProviderName,HostProviderName,SkuId,"
        "x_GenAiResponseModel\n"
        "2026-11-05T13:00:00Z,0.123456789000,AWS,Anthropic,AWS,sku-1,claude-haiku-4-5-20251001\n"
        "2026-11-05T14:00:00Z,-0.5,AWS,Anthropic,AWS,sku-1,\n";
    struct tg_invoice inv = {0};
    struct tg_errbuf eb;
    assert_int_equal(tg_invoice_parse(&inv, "f.csv", text, strlen(text), TG_INVOICE_FOCUS, &eb), 0);
    assert_int_equal(inv.n, 2);
    assert_string_equal(inv.lines[0].day, "2026-11-05");
    assert_string_equal(inv.lines[0].provider, "anthropic");
    assert_string_equal(inv.lines[0].model, "claude-haiku-4-5-20251001");
    assert_int_equal(inv.lines[0].cost_nanos, 123456789);
    assert_string_equal(inv.lines[1].model, "sku-1");
    assert_int_equal(inv.lines[1].cost_nanos, -500000000);
    tg_invoice_free(&inv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_csv),
        cmocka_unit_test(test_focus_json_tolerance),
        cmocka_unit_test(test_range_and_all_match),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_focus_1_3_and_negative),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
