/* tests/unit/telemetry/test_metrics.c - the Prometheus registry: exact exposition lines,
 * money as exact decimals, capped label values, escaping, histogram buckets */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/record.h"
#include "telemetry/metrics.h"

#define TG_STR(f, s) snprintf((f), sizeof(f), "%s", (s))

static struct tg_call_record call(const char *team, const char *cc, int64_t cost)
{
    struct tg_call_record r;
    memset(&r, 0, sizeof r);
    TG_STR(r.provider, "openai");
    TG_STR(r.request_model, "gpt-4o");
    TG_STR(r.usage.response_model, "gpt-4o-2024-08-06");
    TG_STR(r.outcome, "ok");
    TG_STR(r.team, team);
    TG_STR(r.cost_center, cc);
    r.attempt = 1;
    r.usage.has_usage = true;
    r.usage.input_tokens = 1200;
    r.usage.cached_input_tokens = 1024;
    r.usage.output_tokens = 85;
    r.usage.reasoning_tokens = 40;
    r.is_priced = cost >= 0;
    r.cost_nanos = cost;
    r.cache_savings_nanos = cost > 0 ? 1024000 : 0;
    return r;
}

static char *render(struct tg_metrics *m)
{
    struct tg_buf b = {0};
    tg_metrics_render(m, &b);
    return b.base;
}

static void has(const char *text, const char *line)
{
    if (strstr(text, line) == NULL)
        fail_msg("missing:\n%s\nin:\n%s", line, text);
}

static void test_counters(void **state)
{
    (void)state;
    struct tg_metrics *m = tg_metrics_new(100);
    struct tg_call_record a = call("payments", "CC-1", 2056000);
    struct tg_call_record b = call("payments", "CC-1", 106000);
    struct tg_call_record u = call("", "", -1); /* unpriced: never counted as $0 */
    struct tg_call_record refused;
    memset(&refused, 0, sizeof refused);
    TG_STR(refused.outcome, "refused");
    b.usage.tool_calls = 2;
    b.usage.web_search_requests = 3;
    tg_metrics_call(m, &a);
    tg_metrics_call(m, &b);
    tg_metrics_call(m, &u);
    tg_metrics_call(m, &refused);
    struct tg_call_record odd = call("payments", "CC-1", 0);
    TG_STR(odd.outcome, "weird"); /* not one of the known outcomes: still its own series */
    tg_metrics_call(m, &odd);
    tg_metrics_call(m, &odd);
    char *t = render(m);
    has(t, "tollgate_calls_total{provider=\"openai\",model=\"gpt-4o-2024-08-06\",outcome="
           "\"weird\"} 2\n");
    has(t, "# HELP tollgate_calls_total Calls recorded in the ledger, by provider, model and "
           "outcome.\n# TYPE tollgate_calls_total counter\n"
           "tollgate_calls_total{provider=\"none\",model=\"none\",outcome=\"refused\"} 1\n"
           "tollgate_calls_total{provider=\"openai\",model=\"gpt-4o-2024-08-06\",outcome=\"ok\"} "
           "3\n");
    has(t,
        "tollgate_tokens_total{provider=\"openai\",model=\"gpt-4o-2024-08-06\",team=\"payments\","
        "cost_center=\"CC-1\",type=\"cached_input\"} 4096\n");
    has(t,
        "tollgate_tokens_total{provider=\"openai\",model=\"gpt-4o-2024-08-06\",team=\"payments\","
        "cost_center=\"CC-1\",type=\"input\"} 4800\n");
    has(t,
        "tollgate_tokens_total{provider=\"openai\",model=\"gpt-4o-2024-08-06\",team=\"payments\","
        "cost_center=\"CC-1\",type=\"reasoning\"} 160\n");
    has(t, "tollgate_tokens_total{provider=\"openai\",model=\"gpt-4o-2024-08-06\",team="
           "\"unattributed\",cost_center=\"unattributed\",type=\"output\"} 85\n");
    /* the refused call exists with zero input and output, and no other type */
    has(t, "tollgate_tokens_total{provider=\"none\",model=\"none\",team=\"unattributed\","
           "cost_center=\"unattributed\",type=\"input\"} 0\n");
    assert_null(strstr(t, "model=\"none\",team=\"unattributed\",cost_center=\"unattributed\","
                          "type=\"cached_input\"}"));
    has(t, "tollgate_tool_calls_total{provider=\"openai\",model=\"gpt-4o-2024-08-06\"} 2\n");
    has(t, "tollgate_server_tool_uses_total{provider=\"openai\",model=\"gpt-4o-2024-08-06\",tool="
           "\"web_search\"} 3\n");
    /* 2,056,000 + 106,000 nano-dollars = $0.002162 exactly */
    has(t, "# TYPE tollgate_cost_usd_total counter\ntollgate_cost_usd_total{provider=\"openai\","
           "model=\"gpt-4o-2024-08-06\",team=\"payments\",cost_center=\"CC-1\"} 0.002162\n"
           "# HELP tollgate_cache_savings_usd_total");
    has(t, "tollgate_cache_savings_usd_total{provider=\"openai\",model=\"gpt-4o-2024-08-06\",team="
           "\"payments\",cost_center=\"CC-1\"} 0.002048\n");
    has(t, "tollgate_unpriced_calls_total{provider=\"openai\",model=\"gpt-4o-2024-08-06\"} 1\n");
    free(t);
    tg_metrics_destroy(m);
}

static void test_caps_and_escaping(void **state)
{
    (void)state;
    struct tg_metrics *m = tg_metrics_new(2);
    const char *teams[] = {"a\"b\\c\nd", "x", "y", "z"};
    for (int i = 0; i < 4; i++) {
        struct tg_call_record r = call(teams[i], "CC-1", 1000000001);
        tg_metrics_call(m, &r);
    }
    char *t = render(m);
    has(t, "team=\"a\\\"b\\\\c\\nd\",cost_center=\"CC-1\"} 1.000000001\n");
    has(t, "team=\"x\",cost_center=\"CC-1\"} 1.000000001\n");
    /* y and z arrived after the cap of 2 distinct values */
    has(t, "team=\"other\",cost_center=\"CC-1\"} 2.000000002\n");
    assert_null(strstr(t, "team=\"y\""));
    free(t);
    tg_metrics_destroy(m);
}

static void test_histogram(void **state)
{
    (void)state;
    struct tg_metrics *m = tg_metrics_new(10);
    tg_metrics_observe(m, TG_HIST_OVERHEAD, "openai", 100);     /* on the 0.0001 bound */
    tg_metrics_observe(m, TG_HIST_OVERHEAD, "openai", 1000);    /* 0.001 */
    tg_metrics_observe(m, TG_HIST_OVERHEAD, "openai", 2000000); /* past 1 s: +Inf only */
    tg_metrics_observe(m, TG_HIST_OVERHEAD, "openai", -5);      /* ignored */
    tg_metrics_observe(m, TG_HIST_TTFT, "anthropic", 15000);
    char *t = render(m);
    has(t, "tollgate_gateway_overhead_seconds_bucket{provider=\"openai\",le=\"0.00005\"} 0\n"
           "tollgate_gateway_overhead_seconds_bucket{provider=\"openai\",le=\"0.0001\"} 1\n"
           "tollgate_gateway_overhead_seconds_bucket{provider=\"openai\",le=\"0.00025\"} 1\n"
           "tollgate_gateway_overhead_seconds_bucket{provider=\"openai\",le=\"0.0005\"} 1\n"
           "tollgate_gateway_overhead_seconds_bucket{provider=\"openai\",le=\"0.001\"} 2\n");
    has(t, "tollgate_gateway_overhead_seconds_bucket{provider=\"openai\",le=\"1\"} 2\n"
           "tollgate_gateway_overhead_seconds_bucket{provider=\"openai\",le=\"+Inf\"} 3\n"
           "tollgate_gateway_overhead_seconds_sum{provider=\"openai\"} 2.0011\n"
           "tollgate_gateway_overhead_seconds_count{provider=\"openai\"} 3\n");
    has(t, "tollgate_time_to_first_token_seconds_bucket{provider=\"anthropic\",le=\"0.01\"} 0\n"
           "tollgate_time_to_first_token_seconds_bucket{provider=\"anthropic\",le=\"0.02\"} 1\n");
    has(t, "# TYPE tollgate_upstream_duration_seconds histogram\n# HELP");
    free(t);
    tg_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_caps_and_escaping),
        cmocka_unit_test(test_histogram),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
