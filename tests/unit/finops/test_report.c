/* tests/unit/finops/test_report.c - the spend report on a real ledger: groups, the unattributed
 * bucket, unpriced calls, exact totals */
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
#include "finops/report.h"
#include "store/ledger.h"
#include "store/sqlite_store.h"
#include "tests/unit/finops/ledger_fixture.h"

static struct ledger_fixture lf;

static void add(struct tg_ledger *l, const char *id, const char *day, const char *team,
                const char *model, int64_t in, int64_t out, int64_t tool_out, bool priced,
                int64_t cost)
{
    struct tg_call_record r;
    ledger_fixture_call(&r, id, day, 3600000 /* 01:00 UTC */, 500);
    snprintf(r.provider, sizeof r.provider, "openai");
    snprintf(r.usage.response_model, sizeof r.usage.response_model, "%s", model);
    LEDGER_FIXTURE_SET(r, team, team);
    r.usage.input_tokens = in;
    r.usage.output_tokens = out;
    r.usage.tool_call_output_tokens = tool_out;
    ledger_fixture_finish(l, &r, priced, cost);
}

static sqlite3 *fixture(void)
{
    ledger_fixture_open(&lf, "tgreport");
    struct tg_ledger *l = lf.l;
    /* payments: $0.002056 + $1.5; search: $0.25; unattributed: $0.000001 + one unpriced call */
    add(l, "c1", "2026-11-01", "payments", "gpt-4o-2024-08-06", 1200, 85, 0, true, 2056000);
    add(l, "c2", "2026-11-02", "payments", "gpt-4o-2024-08-06", 1000, 400, 100, true, 1500000000);
    add(l, "c3", "2026-11-02", "search", "claude-haiku-4-5-20251001", 50, 10, 0, true, 250000000);
    add(l, "c4", "2026-11-03", NULL, "gpt-4o-2024-08-06", 1, 1, 0, true, 1000);
    add(l, "c5", "2026-11-03", NULL, "mystery-1", 17, 9, 9, false, 0);
    add(l, "c6", "2026-10-31", "payments", "gpt-4o-2024-08-06", 5, 5, 0, true,
        777); /* outside the range */
    return ledger_fixture_seal(&lf);
}

static void cleanup(sqlite3 *db)
{
    ledger_fixture_remove(&lf, db);
}

static void test_by_team_csv(void **state)
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
    assert_int_equal(tg_report_parse_dims("team", &q, &eb), 0);
    assert_int_equal(tg_report_run(db, &q, &out, &eb), 0);
    /* ordered by cost; the unpriced call counts as a call and an unpriced call, never as $0 spend;
     * tool-call share: payments 100 of 485 output tokens = 20.6%; unattributed 9 of 10 = 90.0% */
    assert_string_equal(
        out.base,
        "team,calls,input_tokens,cached_input_tokens,cache_write_tokens,output_tokens,reasoning_"
        "tokens,"
        "tool_call_output_tokens,cost_usd,unpriced_calls,cache_savings_usd,tool_call_share\n"
        "payments,2,2200,0,0,485,0,100,1.502056,0,0,20.6%\n"
        "search,1,50,0,0,10,0,0,0.25,0,0,0.0%\n"
        "(unattributed),2,18,0,0,10,0,9,0.000001,1,0,90.0%\n"
        "TOTAL,5,2268,0,0,505,0,109,1.752057,1,0,21.6%\n");
    tg_buf_free(&out);
    cleanup(db);
}

static void test_two_dims_json_and_total(void **state)
{
    (void)state;
    sqlite3 *db = fixture();
    struct tg_report_query q;
    struct tg_errbuf eb;
    struct tg_buf out = {0};
    memset(&q, 0, sizeof q);
    strcpy(q.from, "2026-10-31");
    strcpy(q.to, "2026-11-02");
    q.format = TG_REPORT_JSON;
    assert_int_equal(tg_report_parse_dims("day,model", &q, &eb), 0);
    assert_int_equal(tg_report_run(db, &q, &out, &eb), 0);
    assert_string_equal(
        out.base,
        "{\"from\":\"2026-10-31\",\"to\":\"2026-11-02\",\"by\":[\"day\",\"model\"],\"rows\":["
        "{\"day\":\"2026-11-02\",\"model\":\"gpt-4o-2024-08-06\",\"calls\":1,\"input_tokens\":1000,"
        "\"cached_input_tokens\":0,"
        "\"cache_write_tokens\":0,\"output_tokens\":400,\"reasoning_tokens\":0,\"tool_call_output_"
        "tokens\":100,"
        "\"cost_usd\":\"1.5\",\"unpriced_calls\":0,\"cache_savings_usd\":\"0\",\"tool_call_share\":"
        "\"25.0%\"},"
        "{\"day\":\"2026-11-02\",\"model\":\"claude-haiku-4-5-20251001\",\"calls\":1,\"input_"
        "tokens\":50,\"cached_input_tokens\":0,"
        "\"cache_write_tokens\":0,\"output_tokens\":10,\"reasoning_tokens\":0,\"tool_call_output_"
        "tokens\":0,"
        "\"cost_usd\":\"0.25\",\"unpriced_calls\":0,\"cache_savings_usd\":\"0\",\"tool_call_"
        "share\":\"0.0%\"},"
        "{\"day\":\"2026-11-01\",\"model\":\"gpt-4o-2024-08-06\",\"calls\":1,\"input_tokens\":1200,"
        "\"cached_input_tokens\":0,"
        "\"cache_write_tokens\":0,\"output_tokens\":85,\"reasoning_tokens\":0,\"tool_call_output_"
        "tokens\":0,"
        "\"cost_usd\":\"0.002056\",\"unpriced_calls\":0,\"cache_savings_usd\":\"0\",\"tool_call_"
        "share\":\"0.0%\"},"
        "{\"day\":\"2026-10-31\",\"model\":\"gpt-4o-2024-08-06\",\"calls\":1,\"input_tokens\":5,"
        "\"cached_input_tokens\":0,"
        "\"cache_write_tokens\":0,\"output_tokens\":5,\"reasoning_tokens\":0,\"tool_call_output_"
        "tokens\":0,"
        "\"cost_usd\":\"0.000000777\",\"unpriced_calls\":0,\"cache_savings_usd\":\"0\",\"tool_call_"
        "share\":\"0.0%\"}],"
        "\"total\":{\"calls\":4,\"input_tokens\":2255,\"cached_input_tokens\":0,\"cache_write_"
        "tokens\":0,\"output_tokens\":500,"
        "\"reasoning_tokens\":0,\"tool_call_output_tokens\":100,\"cost_usd\":\"1.752056777\","
        "\"unpriced_calls\":0,"
        "\"cache_savings_usd\":\"0\",\"tool_call_share\":\"20.0%\"}}\n");
    /* the total equals the ledger's own sum for the range, to the nano-dollar */
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(
            db, "SELECT sum(cost_nanos) FROM calls WHERE day BETWEEN '2026-10-31' AND '2026-11-02'",
            -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), 1752056777);
    sqlite3_finalize(st);
    tg_buf_free(&out);
    cleanup(db);
}

static void test_dims_whitelist(void **state)
{
    (void)state;
    struct tg_report_query q;
    struct tg_errbuf eb;
    memset(&q, 0, sizeof q);
    assert_int_equal(tg_report_parse_dims("tenant,feature,cost_center", &q, &eb), 0);
    assert_int_equal(q.n_dims, 3);
    assert_string_equal(q.dims[0], "tenant_id");
    assert_string_equal(q.dims[1], "feature_id");
    assert_int_equal(tg_report_parse_dims("team,1;drop table calls", &q, &eb), TG_ERR_INVALID);
    assert_string_equal(
        eb.msg,
        "--by: unknown dimension '1;drop table calls' (tenant_id, team, cost_center, feature_id, "
        "workflow_id, actor_id, actor_type, environment, service, key_id, provider, model, day)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_team_csv),
        cmocka_unit_test(test_two_dims_json_and_total),
        cmocka_unit_test(test_dims_whitelist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
