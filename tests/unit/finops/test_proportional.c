/* tests/unit/finops/test_proportional.c - proportional allocation of unattributed spend: the
 * largest-remainder split, the report and the per-call export on a real ledger, numbers by hand */
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
#include "finops/allocation.h"
#include "finops/proportional.h"
#include "finops/report.h"
#include "store/ledger.h"
#include "store/sqlite_store.h"
#include "tests/unit/finops/ledger_fixture.h"

static const struct {
    int64_t amount;
    int n;
    int64_t w[4], want[4];
} split_cases[] = {
    /* 1000 * 1/3 = 333.3, * 2/3 = 666.7: floors 333 + 666, the 1 left goes to the larger
     * remainder (200 of 300 against 100 of 300) */
    {1000, 2, {100, 200}, {333, 667}},
    /* three equal shares of 10: 3 each and one left, ties to the first */
    {10, 3, {5, 5, 5}, {4, 3, 3}},
    /* 7 over 1:1:1:1 -> 1 each, 3 left: the first three */
    {7, 4, {1, 1, 1, 1}, {2, 2, 2, 1}},
    {-1000, 2, {100, 200}, {-333, -667}},
    {5, 2, {0, 9}, {0, 5}},
    /* 128-bit products: $9,000,000 (9e15 nanos) by weights near 9e15 */
    {9000000000000000,
     2,
     {3000000000000001, 6000000000000002},
     {3000000000000000, 6000000000000000}},
    {1, 3, {2, 3, 2}, {0, 1, 0}},
};

static void test_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof split_cases / sizeof split_cases[0]; i++) {
        int64_t parts[4] = {0}, sum = 0;
        tg_alloc_split(split_cases[i].amount, split_cases[i].w, split_cases[i].n, parts);
        for (int k = 0; k < split_cases[i].n; k++) {
            assert_int_equal(parts[k], split_cases[i].want[k]);
            sum += parts[k];
        }
        assert_int_equal(sum, split_cases[i].amount);
    }
}

static struct ledger_fixture lf;
static int64_t seq; /* one second apart, from 08:00:01 in each fixture */

static void add(struct tg_ledger *l, const char *id, const char *key, const char *team, bool priced,
                int64_t cost)
{
    struct tg_call_record r;
    ledger_fixture_call(&r, id, "2026-11-01T08:00:00Z", ++seq * 1000, 200);
    snprintf(r.provider, sizeof r.provider, "openai");
    snprintf(r.usage.response_model, sizeof r.usage.response_model, "gpt-4o-2024-08-06");
    LEDGER_FIXTURE_SET(r, key_id, key);
    LEDGER_FIXTURE_SET(r, team, team);
    r.usage.input_tokens = 10;
    r.usage.output_tokens = 5;
    ledger_fixture_finish(l, &r, priced, cost);
}

/* vk_a: payments $0.0001, search $0.0002, unattributed $0.001 (-> 333333 and 666667 nanos)
 *       and one unattributed unpriced call (nothing to allocate; it stays)
 * vk_b: payments $0.00005, unattributed $0.000007 (-> all to payments)
 * vk_c: unattributed $0.000011 only: no basis, stays unattributed
 * no key: unattributed $0.000013: stays */
static sqlite3 *fixture(void)
{
    seq = 0;
    ledger_fixture_open(&lf, "tgprop");
    struct tg_ledger *l = lf.l;
    add(l, "a1", "vk_a", "payments", true, 100000);
    add(l, "a2", "vk_a", "search", true, 200000);
    add(l, "a3", "vk_a", NULL, true, 1000000);
    add(l, "a4", "vk_a", NULL, false, 0);
    add(l, "b1", "vk_b", "payments", true, 50000);
    add(l, "b2", "vk_b", NULL, true, 7000);
    add(l, "c1", "vk_c", NULL, true, 11000);
    add(l, "n1", NULL, NULL, true, 13000);
    return ledger_fixture_seal(&lf);
}

static void cleanup(sqlite3 *db)
{
    ledger_fixture_remove(&lf, db);
}

static void test_report_by_team(void **state)
{
    (void)state;
    sqlite3 *db = fixture();
    struct tg_report_query q;
    struct tg_errbuf eb;
    struct tg_buf out = {0};
    memset(&q, 0, sizeof q);
    strcpy(q.from, "2026-11-01");
    strcpy(q.to, "2026-11-30");
    q.format = TG_REPORT_CSV;
    q.allocate_proportional = true;
    assert_int_equal(tg_report_parse_dims("team", &q, &eb), 0);
    assert_int_equal(tg_report_run(db, &q, &out, &eb), 0);
    /* payments proportional = 333333 (vk_a) + 7000 (vk_b) = 340333; search 666667; the
     * unattributed row keeps its 5 calls, tokens and unpriced call, and the 11000 + 13000
     * nanos that had no basis; the total is the ledger's 1381000 */
    assert_string_equal(
        out.base,
        "team,allocation_method,calls,input_tokens,cached_input_tokens,cache_write_tokens,"
        "output_tokens,reasoning_tokens,tool_call_output_tokens,cost_usd,unpriced_calls,"
        "cache_savings_usd,tool_call_share\n"
        "search,proportional,0,0,0,0,0,0,0,0.000666667,0,0,0.0%\n"
        "payments,proportional,0,0,0,0,0,0,0,0.000340333,0,0,0.0%\n"
        "search,direct,1,10,0,0,5,0,0,0.0002,0,0,0.0%\n"
        "payments,direct,2,20,0,0,10,0,0,0.00015,0,0,0.0%\n"
        "(unattributed),direct,5,50,0,0,25,0,0,0.000024,1,0,0.0%\n"
        "TOTAL,,8,80,0,0,40,0,0,0.001381,1,0,0.0%\n");
    tg_buf_reset(&out);
    q.format = TG_REPORT_TABLE;
    assert_int_equal(tg_report_run(db, &q, &out, &eb), 0);
    assert_non_null(
        strstr(out.base, "\npayments                 proportional                   0 "));
    assert_non_null(
        strstr(out.base, "\nTOTAL                                                   8 "));
    tg_buf_reset(&out);
    q.format = TG_REPORT_JSON;
    assert_int_equal(tg_report_parse_dims("day,team", &q, &eb), 0);
    assert_int_equal(tg_report_run(db, &q, &out, &eb), 0);
    assert_non_null(strstr(out.base, "\"by\":[\"day\",\"team\"],\"allocate_unattributed\":"
                                     "\"proportional\",\"rows\":[{\"day\":\"2026-11-01\","
                                     "\"team\":\"search\",\"allocation_method\":\"proportional\","
                                     "\"calls\":0,"));
    assert_non_null(strstr(out.base, "\"total\":{\"calls\":8,\"input_tokens\":80,"));
    assert_non_null(strstr(out.base, "\"cost_usd\":\"0.001381\""));
    /* the grouping field is the one attribution dimension; two are ambiguous */
    assert_int_equal(tg_report_parse_dims("team,cost_center", &q, &eb), 0);
    tg_buf_reset(&out);
    assert_int_equal(tg_report_run(db, &q, &out, &eb), TG_ERR_INVALID);
    assert_non_null(strstr(eb.msg, "exactly one attribution dimension"));
    /* by key_id the basis is service; no call has one, so nothing moves */
    assert_int_equal(tg_report_parse_dims("key_id", &q, &eb), 0);
    q.format = TG_REPORT_CSV;
    tg_buf_reset(&out);
    assert_int_equal(tg_report_run(db, &q, &out, &eb), 0);
    assert_null(strstr(out.base, "proportional"));
    assert_non_null(strstr(out.base, "\nTOTAL,,8,80,0,0,40,0,0,0.001381,1,0,0.0%\n"));
    tg_buf_free(&out);
    cleanup(db);
}

static void test_export_per_call(void **state)
{
    (void)state;
    sqlite3 *db = fixture();
    struct tg_errbuf eb;
    struct tg_buf out = {0};
    assert_int_equal(
        tg_allocation_export_proportional(db, "2026-11-01", "team", TG_REPORT_CSV, &out, &eb), 0);
    /* a3 splits 1000000 nanos 1:2 -> 333333 / 666667; its 10 input tokens -> 3 / 7
     * (remainders 1e6 and 2e6 mod 3e5: 100000 < 200000) and 5 output tokens -> 2 / 3
     * (remainders 200000 > 100000); b2 goes whole to payments; a4 (unpriced), c1 (no
     * basis) and n1 (no key) stay direct */
    const char *hdr = "call_id,request_id,started_at,provider,model,tenant_id,team,cost_center,"
                      "feature_id,workflow_id,actor_id,actor_type,outcome,input_tokens,cached_"
                      "input_tokens,cache_write_5m_tokens,cache_write_1h_tokens,output_tokens,"
                      "reasoning_tokens,audio_input_tokens,audio_output_tokens,tool_call_output_"
                      "tokens,web_search_requests,web_fetch_requests,cost_usd,usage_estimated,"
                      "price_ref,allocation_method\n";
    char want[4096];
    snprintf(want, sizeof want,
             "%s"
             "a1,,2026-11-01T08:00:01.000Z,openai,gpt-4o-2024-08-06,,payments,,,,,,ok,10,0,0,0,"
             "5,0,0,0,0,0,0,0.0001,0,,direct\n"
             "a2,,2026-11-01T08:00:02.000Z,openai,gpt-4o-2024-08-06,,search,,,,,,ok,10,0,0,0,5,"
             "0,0,0,0,0,0,0.0002,0,,direct\n"
             "a3,,2026-11-01T08:00:03.000Z,openai,gpt-4o-2024-08-06,,payments,,,,,,ok,3,0,0,0,"
             "2,0,0,0,0,0,0,0.000333333,0,,proportional\n"
             "a3,,2026-11-01T08:00:03.000Z,openai,gpt-4o-2024-08-06,,search,,,,,,ok,7,0,0,0,3,"
             "0,0,0,0,0,0,0.000666667,0,,proportional\n"
             "a4,,2026-11-01T08:00:04.000Z,openai,gpt-4o-2024-08-06,,,,,,,,ok,10,0,0,0,5,0,0,0,"
             "0,0,0,,0,,direct\n"
             "b1,,2026-11-01T08:00:05.000Z,openai,gpt-4o-2024-08-06,,payments,,,,,,ok,10,0,0,0,"
             "5,0,0,0,0,0,0,0.00005,0,,direct\n"
             "b2,,2026-11-01T08:00:06.000Z,openai,gpt-4o-2024-08-06,,payments,,,,,,ok,10,0,0,0,"
             "5,0,0,0,0,0,0,0.000007,0,,proportional\n"
             "c1,,2026-11-01T08:00:07.000Z,openai,gpt-4o-2024-08-06,,,,,,,,ok,10,0,0,0,5,0,0,0,"
             "0,0,0,0.000011,0,,direct\n"
             "n1,,2026-11-01T08:00:08.000Z,openai,gpt-4o-2024-08-06,,,,,,,,ok,10,0,0,0,5,0,0,0,"
             "0,0,0,0.000013,0,,direct\n",
             hdr);
    assert_string_equal(out.base, want);
    tg_buf_reset(&out);
    assert_int_equal(
        tg_allocation_export_proportional(db, "2026-11-01", "model", TG_REPORT_CSV, &out, &eb),
        TG_ERR_INVALID);
    tg_buf_free(&out);
    cleanup(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_report_by_team),
        cmocka_unit_test(test_export_per_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
