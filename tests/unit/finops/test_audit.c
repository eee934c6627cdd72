/* tests/unit/finops/test_audit.c - the attribution audit on a real ledger file: coverage,
 * NULL buckets by failed step, drift, price fallbacks, the five questions, exit codes */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "core/record.h"
#include "finops/audit.h"
#include "store/ledger.h"
#include "store/sqlite_store.h"
#include "tests/unit/finops/audit_cli.h"
#include "tests/unit/finops/ledger_fixture.h"

static struct ledger_fixture lf;

struct row {
    const char *id, *day, *provider, *request_model, *response_model;
    bool priced;
    int64_t cost;
    const char *price_ref, *tenant, *team, *cc, *feature, *workflow, *actor_id, *actor_type, *env,
        *service, *key_id, *sources;
};

#define S(field, v) LEDGER_FIXTURE_SET(r, field, v)

static void add(struct tg_ledger *l, const struct row *w)
{
    struct tg_call_record r;
    ledger_fixture_call(&r, w->id, w->day, 3600000, 500);
    snprintf(r.outcome, sizeof r.outcome, "%s", strcmp(w->id, "c8") == 0 ? "refused" : "ok");
    r.attempt = strcmp(w->id, "c8") == 0 ? 0 : 1;
    S(provider, w->provider);
    S(request_model, w->request_model);
    S(usage.response_model, w->response_model);
    S(price_ref, w->price_ref);
    S(tenant_id, w->tenant);
    S(team, w->team);
    S(cost_center, w->cc);
    S(feature_id, w->feature);
    S(workflow_id, w->workflow);
    S(actor_id, w->actor_id);
    S(actor_type, w->actor_type);
    S(environment, w->env);
    S(service, w->service);
    S(key_id, w->key_id);
    S(attribution_sources, w->sources);
    r.usage.input_tokens = 100;
    r.usage.output_tokens = 10;
    ledger_fixture_finish(l, &r, w->priced, w->cost);
}

/* Priced spend in range: 1.5 + 0.25 + 0.002056 + 0.000001 + 0.003 + 0 = $1.755057; c5 is
 * unpriced (counted, never $0); c7 is outside the range. */
static const struct row rows[] = {
    {"c1", "2026-11-02", "openai", "gpt-4o", "gpt-4o-2024-08-06", true, 1500000000,
     "default.csv:6:exact", "acme", "payments", "CC-100", "checkout", "run-1", "u1", "human",
     "prod", "checkout-api", "vk_a",
     "{\"tenant_id\":\"header\",\"team\":\"header\",\"cost_center\":\"map:tenant_id\"}"},
    {"c2", "2026-11-02", "openai", "gpt-4o", "gpt-4o", true, 250000000, "default.csv:3:alias",
     "acme", "payments", "CC-100", NULL, NULL, NULL, "agent", NULL, "checkout-api", "vk_a",
     "{\"tenant_id\":\"alias:tenantId\",\"team\":\"header\",\"cost_center\":\"map:tenant_id\"}"},
    {"c3", "2026-11-03", "anthropic", "claude-haiku-4-5", "claude-haiku-4-5-20251001", true,
     2056000, "contract.csv:31:pattern:long_context", NULL, "search", NULL, NULL, NULL, NULL, NULL,
     NULL, "search-svc", "vk_b", "{\"team\":\"alias:X-Team-Id\",\"service\":\"header\"}"},
    {"c4", "2026-11-03", "openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", true, 1000,
     "default.csv:9:exact", "initech", NULL, NULL, NULL, "run-2", NULL, "agent", NULL, "search-svc",
     "vk_b", "{\"tenant_id\":\"header\",\"cost_center\":\"unmapped\"}"},
    {"c5", "2026-11-04", "openai", "mystery-1", "mystery-1", false, 0, NULL, "acme", "payments",
     "CC-100", NULL, "run-3", NULL, "service", NULL, "batch", NULL,
     "{\"tenant_id\":\"header\",\"team\":\"header\",\"cost_center\":\"header\"}"},
    {"c6", "2026-11-04", "openai", "gpt-4o", "gpt-4o-2024-08-06", true, 3000000,
     "default.csv:6:exact", "acme", "payments", "CC-100", NULL, NULL, NULL, NULL, NULL,
     "checkout-api", "vk_a",
     "{\"tenant_id\":\"alias:tenantId\",\"cost_center\":\"key\",\"actor_type\":\"rejected:"
     "header\",\"missing\":\"workflow_id\"}"},
    {"c7", "2026-10-31", "openai", "gpt-4o", "gpt-4o-2024-08-06", true, 9000000000,
     "default.csv:6:exact", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    {"c8", "2026-11-05", "openai", "gpt-4o", NULL, true, 0, "not_forwarded", NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, "{\"request_id\":\"generated\"}"},
};

static sqlite3 *fixture(void)
{
    ledger_fixture_open(&lf, "tgaudit");
    struct tg_ledger *l = lf.l;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        add(l, &rows[i]);
    /* c9: a call in flight (or the gateway died): an incomplete row, not yet priced */
    struct tg_call_record r;
    memset(&r, 0, sizeof r);
    snprintf(r.call_id, sizeof r.call_id, "c9");
    assert_int_equal(tg_parse_time("2026-12-01", &r.started_at_ms), 0);
    snprintf(r.provider, sizeof r.provider, "openai");
    snprintf(r.request_model, sizeof r.request_model, "gpt-4o");
    snprintf(r.tenant_id, sizeof r.tenant_id, "acme");
    r.attempt = 1;
    tg_ledger_begin(l, &r);
    return ledger_fixture_seal(&lf);
}

static void cleanup(sqlite3 *db)
{
    ledger_fixture_remove(&lf, db);
}

static void query(struct tg_audit_query *q)
{
    memset(q, 0, sizeof *q);
    strcpy(q->from, "2026-11-01");
    strcpy(q->to, "2026-11-30");
    q->top_n = 4;
    q->format = TG_AUDIT_JSON;
}

static void test_findings_json(void **state)
{
    (void)state;
    sqlite3 *db = fixture();
    struct tg_audit_query q;
    struct tg_errbuf eb;
    struct tg_buf out = {0};
    int failed = -1;
    query(&q);
    assert_int_equal(tg_audit_parse_min_coverage("99.9", &q, &eb), 0);
    assert_int_equal(tg_audit_run(db, &q, &out, &failed, &eb), 0);
    /* coverage: 7 calls; shares rounded down: 5/7 = 71.42%, 4/7 = 57.14%, 1/7 = 14.28%,
     * 3/7 = 42.85%, 6/7 = 85.71%. Dollars over priced spend $1.755057: tenant_id 1.753001 ->
     * 99.88%, team 1.755056 -> 99.99% (not 100), cost_center 1.753 -> 99.88%, feature/actor_id/
     * environment 1.5 -> 85.46%, workflow 1.500001 -> 85.46%, actor_type 1.750001 -> 99.71%
     * (the rejected value of c6 is not coverage), service all of it. The unpriced c5 adds
     * calls, never dollars. */
    assert_string_equal(
        out.base,
        "{\"from\":\"2026-11-01\",\"to\":\"2026-11-30\",\"calls\":7,\"usd\":\"1.755057\","
        "\"unpriced_calls\":1,\"coverage\":["
        "{\"field\":\"tenant_id\",\"calls\":5,\"calls_bp\":7142,\"usd\":\"1.753001\",\"usd_bp\":"
        "9988},"
        "{\"field\":\"team\",\"calls\":5,\"calls_bp\":7142,\"usd\":\"1.755056\",\"usd_bp\":9999},"
        "{\"field\":\"cost_center\",\"calls\":4,\"calls_bp\":5714,\"usd\":\"1.753\",\"usd_bp\":"
        "9988},"
        "{\"field\":\"feature_id\",\"calls\":1,\"calls_bp\":1428,\"usd\":\"1.5\",\"usd_bp\":8546},"
        "{\"field\":\"workflow_id\",\"calls\":3,\"calls_bp\":4285,\"usd\":\"1.500001\",\"usd_bp\":"
        "8546},"
        "{\"field\":\"actor_id\",\"calls\":1,\"calls_bp\":1428,\"usd\":\"1.5\",\"usd_bp\":8546},"
        "{\"field\":\"actor_type\",\"calls\":4,\"calls_bp\":5714,\"usd\":\"1.750001\",\"usd_bp\":"
        "9971},"
        "{\"field\":\"environment\",\"calls\":1,\"calls_bp\":1428,\"usd\":\"1.5\",\"usd_bp\":8546},"
        "{\"field\":\"service\",\"calls\":6,\"calls_bp\":8571,\"usd\":\"1.755057\",\"usd_bp\":"
        "10000}],"
        /* buckets: c3 and the refused c8 have no tenant; c4's tenant is not in the mapping
         * table; c6's actor_type was rejected (its own bucket, not no_actor_type) */
        "\"null_buckets\":["
        "{\"bucket\":\"no_tenant\",\"calls\":2,\"usd\":\"0.002056\",\"unpriced_calls\":0},"
        "{\"bucket\":\"cost_center_unmapped\",\"calls\":1,\"usd\":\"0.000001\",\"unpriced_calls\":"
        "0},"
        "{\"bucket\":\"no_cost_center\",\"calls\":2,\"usd\":\"0.002056\",\"unpriced_calls\":0},"
        "{\"bucket\":\"team_unmapped\",\"calls\":0,\"usd\":\"0\",\"unpriced_calls\":0},"
        "{\"bucket\":\"no_team\",\"calls\":2,\"usd\":\"0.000001\",\"unpriced_calls\":0},"
        "{\"bucket\":\"unpriced_model\",\"calls\":1,\"usd\":null,\"unpriced_calls\":1,\"models\":["
        "{\"provider\":\"openai\",\"model\":\"mystery-1\",\"calls\":1}]},"
        "{\"bucket\":\"incomplete\",\"calls\":0,\"usd\":null,\"unpriced_calls\":0},"
        "{\"bucket\":\"no_workflow\",\"calls\":4,\"usd\":\"0.255056\",\"unpriced_calls\":0},"
        "{\"bucket\":\"no_actor_type\",\"calls\":2,\"usd\":\"0.002056\",\"unpriced_calls\":0},"
        "{\"bucket\":\"rejected_value\",\"calls\":1,\"usd\":\"0.003\",\"unpriced_calls\":0},"
        "{\"bucket\":\"missing_required\",\"calls\":1,\"usd\":\"0.003\",\"unpriced_calls\":0}],"
        "\"drift\":["
        "{\"field\":\"tenant_id\",\"sent_as\":\"tenantId\",\"key_id\":\"vk_a\",\"service\":"
        "\"checkout-api\",\"calls\":2,\"usd\":\"0.253\",\"unpriced_calls\":0},"
        "{\"field\":\"team\",\"sent_as\":\"X-Team-Id\",\"key_id\":\"vk_b\",\"service\":\"search-"
        "svc\",\"calls\":1,\"usd\":\"0.002056\",\"unpriced_calls\":0}],"
        "\"price_fallbacks\":["
        "{\"provider\":\"anthropic\",\"request_model\":\"claude-haiku-4-5\",\"response_model\":"
        "\"claude-haiku-4-5-20251001\",\"price_ref\":\"contract.csv:31:pattern:long_context\","
        "\"how\":\"pattern\",\"calls\":1,\"usd\":\"0.002056\"},"
        "{\"provider\":\"openai\",\"request_model\":\"gpt-4o\",\"response_model\":\"gpt-4o\","
        "\"price_ref\":\"default.csv:3:alias\",\"how\":\"alias\",\"calls\":1,\"usd\":\"0.25\"}],"
        /* top 4 by cost: c1 answers all five; c2 was priced through an alias and has no
         * workflow; c6 no workflow and a rejected actor_type; c3 only an owner (its team) */
        "\"top_calls\":["
        "{\"call_id\":\"c1\",\"started_at\":\"2026-11-02T01:00:00.000Z\",\"provider\":\"openai\","
        "\"model\":\"gpt-4o-2024-08-06\",\"usd\":\"1.5\",\"price_ref\":\"default.csv:6:exact\","
        "\"tenant_id\":\"acme\",\"team\":\"payments\",\"cost_center\":\"CC-100\",\"workflow_id\":"
        "\"run-1\",\"actor_type\":\"human\",\"questions\":{\"owner\":true,\"cost_center\":true,"
        "\"model_and_price\":true,\"workflow\":true,\"human_or_agent\":true},\"answered\":5},"
        "{\"call_id\":\"c2\",\"started_at\":\"2026-11-02T01:00:00.000Z\",\"provider\":\"openai\","
        "\"model\":\"gpt-4o\",\"usd\":\"0.25\",\"price_ref\":\"default.csv:3:alias\","
        "\"tenant_id\":\"acme\",\"team\":\"payments\",\"cost_center\":\"CC-100\",\"workflow_id\":"
        "null,\"actor_type\":\"agent\",\"questions\":{\"owner\":true,\"cost_center\":true,"
        "\"model_and_price\":false,\"workflow\":false,\"human_or_agent\":true},\"answered\":3},"
        "{\"call_id\":\"c6\",\"started_at\":\"2026-11-04T01:00:00.000Z\",\"provider\":\"openai\","
        "\"model\":\"gpt-4o-2024-08-06\",\"usd\":\"0.003\",\"price_ref\":\"default.csv:6:exact\","
        "\"tenant_id\":\"acme\",\"team\":\"payments\",\"cost_center\":\"CC-100\",\"workflow_id\":"
        "null,\"actor_type\":null,\"questions\":{\"owner\":true,\"cost_center\":true,"
        "\"model_and_price\":true,\"workflow\":false,\"human_or_agent\":false},\"answered\":3},"
        "{\"call_id\":\"c3\",\"started_at\":\"2026-11-03T01:00:00.000Z\",\"provider\":"
        "\"anthropic\",\"model\":\"claude-haiku-4-5-20251001\",\"usd\":\"0.002056\",\"price_ref\":"
        "\"contract.csv:31:pattern:long_context\",\"tenant_id\":null,\"team\":\"search\","
        "\"cost_center\":null,\"workflow_id\":null,\"actor_type\":null,\"questions\":{\"owner\":"
        "true,\"cost_center\":false,\"model_and_price\":false,\"workflow\":false,"
        "\"human_or_agent\":false},\"answered\":1}],"
        /* 99.9%: cost_center's 99.88% fails, team's 99.99% passes */
        "\"thresholds\":["
        "{\"field\":\"cost_center\",\"min_bp\":9990,\"usd_bp\":9988,\"met\":false},"
        "{\"field\":\"team\",\"min_bp\":9990,\"usd_bp\":9999,\"met\":true}],\"ok\":false}\n");
    assert_int_equal(failed, 1);
    tg_buf_free(&out);
    cleanup(db);
}

static void test_empty_range_and_table(void **state)
{
    (void)state;
    sqlite3 *db = fixture();
    struct tg_audit_query q;
    struct tg_errbuf eb;
    struct tg_buf out = {0};
    int failed = -1;
    query(&q);
    strcpy(q.from, "2025-01-01");
    strcpy(q.to, "2025-01-31");
    assert_int_equal(tg_audit_parse_min_coverage("team=100", &q, &eb), 0);
    assert_int_equal(tg_audit_run(db, &q, &out, &failed, &eb), 0);
    /* nothing to cover is covered: a quiet range does not fail CI */
    assert_non_null(strstr(out.base, "\"calls\":0,\"usd\":\"0\",\"unpriced_calls\":0,"));
    assert_non_null(strstr(
        out.base, "\"thresholds\":[{\"field\":\"team\",\"min_bp\":10000,\"usd_bp\":10000,\"met\":"
                  "true}],\"ok\":true}\n"));
    assert_int_equal(failed, 0);
    tg_buf_free(&out);

    /* an incomplete row is not an unpriced model: its own bucket, its cost unknown */
    query(&q);
    strcpy(q.from, "2026-12-01");
    strcpy(q.to, "2026-12-01");
    assert_int_equal(tg_audit_run(db, &q, &out, &failed, &eb), 0);
    assert_non_null(strstr(out.base, "\"calls\":1,\"usd\":\"0\",\"unpriced_calls\":1,"));
    assert_non_null(strstr(out.base,
                           "{\"bucket\":\"unpriced_model\",\"calls\":0,\"usd\":null,"
                           "\"unpriced_calls\":0,\"models\":[]},{\"bucket\":"
                           "\"incomplete\",\"calls\":1,\"usd\":null,\"unpriced_calls\":1}"));
    assert_non_null(strstr(out.base, "\"top_calls\":[],"));
    tg_buf_free(&out);

    query(&q);
    q.format = TG_AUDIT_TABLE;
    q.top_n = 1;
    assert_int_equal(tg_audit_parse_min_coverage("cost_center=99.88", &q, &eb), 0);
    assert_int_equal(tg_audit_run(db, &q, &out, &failed, &eb), 0);
    assert_int_equal(failed, 0);
    assert_non_null(strstr(out.base, "audit 2026-11-01..2026-11-30: 7 calls, $1.755057 priced "
                                     "spend, 1 unpriced calls\n"));
    assert_non_null(strstr(out.base, "cost_center           4/7   57.14%             $1.753   "
                                     "99.88%\n"));
    assert_non_null(strstr(out.base, "cost_center    usd coverage   99.88%, minimum   99.88%: ok"));
    assert_non_null(strstr(out.base, "    openai mystery-1: 1 calls\n"));
    tg_buf_free(&out);
    cleanup(db);
}

static void test_min_coverage_parsing(void **state)
{
    (void)state;
    struct tg_audit_query q;
    struct tg_errbuf eb;
    memset(&q, 0, sizeof q);
    assert_int_equal(tg_audit_parse_min_coverage("95", &q, &eb), 0);
    assert_int_equal(q.n_min, 2);
    assert_string_equal(q.min[0].field, "cost_center");
    assert_int_equal(q.min[0].min_bp, 9500);
    assert_string_equal(q.min[1].field, "team");
    assert_int_equal(tg_audit_parse_min_coverage("tenant=97.25", &q, &eb), 0);
    assert_string_equal(q.min[2].field, "tenant_id");
    assert_int_equal(q.min[2].min_bp, 9725);
    assert_int_equal(tg_audit_parse_min_coverage("team=50", &q, &eb), 0); /* replaces */
    assert_int_equal(q.n_min, 3);
    assert_int_equal(q.min[1].min_bp, 5000);
    assert_int_equal(tg_audit_parse_min_coverage("100.01", &q, &eb), TG_ERR_INVALID);
    assert_int_equal(tg_audit_parse_min_coverage("97.125", &q, &eb), TG_ERR_INVALID);
    assert_string_equal(eb.msg, "--min-coverage '97.125': expected a percentage 0..100 with at "
                                "most two decimals, or FIELD=PCT");
    assert_int_equal(tg_audit_parse_min_coverage("key_id=5", &q, &eb), TG_ERR_INVALID);
    assert_string_equal(eb.msg, "--min-coverage 'key_id=5': unknown field 'key_id' (tenant_id, "
                                "team, cost_center, feature_id, workflow_id, actor_id, "
                                "actor_type, environment, service)");
}

static void test_exit_codes(void **state)
{
    (void)state;
    sqlite3 *db = fixture();
    const char *base[] = {"audit",      "--ledger", lf.path,     "--from",
                          "2026-11-01", "--to",     "2026-11-30"};
    const char *a[16];
    memcpy(a, base, sizeof base);
    assert_int_equal(audit_cli_run(7, a), 0); /* no threshold: findings alone do not fail */
    a[7] = "--min-coverage";
    a[8] = "99.9";
    assert_int_equal(audit_cli_run(9, a), 3); /* cost_center 99.88% < 99.9% */
    a[8] = "99.88";
    assert_int_equal(audit_cli_run(9, a), 0);
    a[8] = "feature=85.47";
    assert_int_equal(audit_cli_run(9, a), 3);
    a[8] = "101";
    assert_int_equal(audit_cli_run(9, a), 2);
    a[7] = "--format";
    a[8] = "xml";
    assert_int_equal(audit_cli_run(9, a), 2);
    a[7] = "--top";
    a[8] = "0";
    assert_int_equal(audit_cli_run(9, a), 2);
    a[2] = "/nonexistent/ledger.db";
    assert_int_equal(audit_cli_run(7, a), 1);
    cleanup(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_findings_json),
        cmocka_unit_test(test_empty_range_and_table),
        cmocka_unit_test(test_min_coverage_parsing),
        cmocka_unit_test(test_exit_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
