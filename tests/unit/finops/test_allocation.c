/* tests/unit/finops/test_allocation.c - the daily allocation table from a real ledger: exact rows,
 * unpriced as empty, CSV quoting */
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
#include "store/ledger.h"
#include "store/sqlite_store.h"

static void test_allocation_day(void **state)
{
    (void)state;
    char dir[] = "/tmp/tgallocXXXXXX", path[128], cmd[160];
    struct tg_errbuf eb;
    struct tg_ledger *l = NULL;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/ledger.db", dir);
    assert_int_equal(tg_ledger_open(path, &l, &eb), 0);
    struct tg_call_record r;
    memset(&r, 0, sizeof r);
    snprintf(r.call_id, sizeof r.call_id, "c1");
    snprintf(r.request_id, sizeof r.request_id, "order-7, \"rush\"");
    assert_int_equal(tg_parse_time("2026-11-02T09:30:00.125Z", &r.started_at_ms), 0);
    snprintf(r.provider, sizeof r.provider, "anthropic");
    snprintf(r.request_model, sizeof r.request_model, "claude-sonnet-4-5");
    snprintf(r.usage.response_model, sizeof r.usage.response_model, "claude-sonnet-4-5-20250929");
    snprintf(r.team, sizeof r.team, "payments");
    snprintf(r.cost_center, sizeof r.cost_center, "CC-100");
    snprintf(r.outcome, sizeof r.outcome, "ok");
    r.usage.input_tokens = 7180;
    r.usage.cached_input_tokens = 4096;
    r.usage.cache_write_5m_tokens = 2048;
    r.usage.cache_write_1h_tokens = 1024;
    r.usage.output_tokens = 310;
    r.usage.web_search_requests = 2;
    r.is_priced = true;
    r.cost_nanos = 39738800;
    snprintf(r.price_ref, sizeof r.price_ref, "default.csv:26:exact");
    tg_ledger_finish(l, &r, NULL, NULL);
    memset(&r, 0, sizeof r); /* an unpriced call the same day, no attribution */
    snprintf(r.call_id, sizeof r.call_id, "c2");
    assert_int_equal(tg_parse_time("2026-11-02T10:00:00.000Z", &r.started_at_ms), 0);
    snprintf(r.provider, sizeof r.provider, "openai");
    snprintf(r.request_model, sizeof r.request_model, "mystery-1");
    snprintf(r.outcome, sizeof r.outcome, "ok");
    r.usage.input_tokens = 17;
    r.usage.output_tokens = 9;
    r.usage_estimated = true;
    tg_ledger_finish(l, &r, NULL, NULL);
    memset(&r, 0, sizeof r); /* another day: not in the table */
    snprintf(r.call_id, sizeof r.call_id, "c3");
    assert_int_equal(tg_parse_time("2026-11-03T00:00:00.000Z", &r.started_at_ms), 0);
    snprintf(r.outcome, sizeof r.outcome, "ok");
    tg_ledger_finish(l, &r, NULL, NULL);
    tg_ledger_close(l);

    sqlite3 *db = NULL;
    assert_int_equal(tg_ledger_open_readonly(path, &db, &eb), 0);
    struct tg_buf out = {0};
    assert_int_equal(tg_allocation_export(db, "2026-11-02", TG_REPORT_CSV, &out, &eb), 0);
    assert_string_equal(
        out.base,
        "call_id,request_id,started_at,provider,model,tenant_id,team,cost_center,feature_id,"
        "workflow_id,"
        "actor_id,actor_type,outcome,input_tokens,cached_input_tokens,cache_write_5m_tokens,"
        "cache_write_1h_tokens,output_tokens,reasoning_tokens,audio_input_tokens,audio_output_"
        "tokens,"
        "tool_call_output_tokens,web_search_requests,web_fetch_requests,cost_usd,usage_estimated,"
        "price_ref\n"
        "c1,\"order-7, "
        "\"\"rush\"\"\",2026-11-02T09:30:00.125Z,anthropic,claude-sonnet-4-5-20250929,,payments,"
        "CC-100,,,,,ok,7180,4096,2048,1024,310,0,0,0,0,2,0,0.0397388,0,default.csv:26:exact\n"
        "c2,,2026-11-02T10:00:00.000Z,openai,mystery-1,,,,,,,,ok,17,0,0,0,9,0,0,0,0,0,0,,1,\n");
    tg_buf_reset(&out);
    assert_int_equal(tg_allocation_export(db, "2026-11-02", TG_REPORT_JSON, &out, &eb), 0);
    assert_non_null(strstr(out.base, "\"call_id\":\"c2\",\"request_id\":null"));
    assert_non_null(
        strstr(out.base, "\"cost_usd\":null,\"usage_estimated\":1,\"price_ref\":null}"));
    assert_non_null(strstr(out.base, "\"request_id\":\"order-7, \\\"rush\\\"\""));
    assert_non_null(strstr(out.base, "\"cost_usd\":\"0.0397388\""));
    assert_null(strstr(out.base, "\"c3\""));
    tg_buf_reset(&out);
    assert_int_equal(tg_allocation_export(db, "2026-12-25", TG_REPORT_JSON, &out, &eb), 0);
    assert_string_equal(out.base, "{\"day\":\"2026-12-25\",\"rows\":[]}\n");
    tg_buf_free(&out);
    sqlite3_close(db);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_allocation_day)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
