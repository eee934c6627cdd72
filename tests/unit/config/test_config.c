/* tests/unit/config/test_config.c - YAML loading, defaults, flag overrides, line-numbered errors */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "config/config.h"

static void test_defaults(void **state)
{
    (void)state;
    struct tg_config c;
    tg_config_defaults(&c);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_string_equal(c.ledger_path, "./tollgate.db");
    assert_int_equal(c.n_upstreams, 2);
    assert_string_equal(tg_config_upstream(&c, "openai", 6)->base_url, "https://api.openai.com");
    assert_string_equal(tg_config_upstream(&c, "anthropic", 9)->type, "anthropic");
    assert_string_equal(tg_config_upstream(&c, "anthropic", 9)->api_key_env, "ANTHROPIC_API_KEY");
    assert_int_equal(c.max_body_bytes, 10 << 20);
    assert_int_equal(c.max_response_bytes, 64 << 20);
}

static void test_full_file(void **state)
{
    (void)state;
    static const char y[] = "listen: 0.0.0.0:9000\n"
                            "workers: 3\n"
                            "ledger: /tmp/x.db\n"
                            "upstreams:\n"
                            "  groq: { type: openai, base_url: 'https://api.groq.com/openai/', "
                            "api_key_env: GROQ_KEY }\n"
                            "  openai: { base_url: http://127.0.0.1:1234, client: libcurl }\n"
                            "timeouts:\n"
                            "  first_byte_ms: 250\n"
                            "  idle_stream_ms: 500\n"
                            "limits:\n"
                            "  max_body_bytes: 2048\n"
                            "  max_response_bytes: 1048576\n"
                            "pricing:\n"
                            "  cards: [a.csv, b.csv]\n"
                            "  discounts: { openai: 12.5 }\n"
                            "  fallback: { input_per_mtok: 15, output_per_mtok: '75.000001' }\n"
                            "attribution:\n"
                            "  required: [cost_center, feature_id]\n"
                            "  mode: flag\n"
                            "  enforce_after: 2027-01-01\n";
    struct tg_config c;
    struct tg_errbuf eb;
    tg_config_defaults(&c);
    assert_int_equal(tg_config_load_string(&c, "t.yaml", y, sizeof y - 1, &eb), 0);
    assert_string_equal(c.listen_host, "0.0.0.0");
    assert_int_equal(c.listen_port, 9000);
    assert_int_equal(c.workers, 3);
    assert_string_equal(c.ledger_path, "/tmp/x.db");
    assert_int_equal(c.first_byte_timeout_ms, 250);
    assert_int_equal(c.idle_stream_timeout_ms, 500);
    assert_int_equal(c.max_body_bytes, 2048);
    assert_int_equal(c.max_response_bytes, 1 << 20);
    const struct tg_upstream_conf *g = tg_config_upstream(&c, "groq", 4);
    assert_non_null(g);
    assert_string_equal(g->base_url, "https://api.groq.com/openai"); /* trailing slash trimmed */
    assert_string_equal(g->api_key_env, "GROQ_KEY");
    assert_string_equal(tg_config_upstream(&c, "openai", 6)->base_url, "http://127.0.0.1:1234");
    assert_true(tg_config_upstream(&c, "openai", 6)->use_libcurl);
    assert_false(g->use_libcurl);
    assert_int_equal(c.n_upstreams, 3);
    assert_int_equal(c.n_pricing_cards, 2);
    assert_string_equal(c.pricing_cards[1], "b.csv");
    assert_int_equal(c.discounts[0].bps, 1250);
    assert_true(c.has_pricing_fallback);
    assert_int_equal(c.pricing_fallback_input, 15000000);
    assert_int_equal(c.pricing_fallback_output, 75000001);
    assert_int_equal(c.n_attr_required, 2);
    assert_string_equal(c.attr_mode, "flag");
    assert_int_equal(c.attr_enforce_after_ms, 1798761600000); /* 2027-01-01T00:00:00Z */
    assert_int_equal(tg_config_finish(&c, &eb), 0);
}

struct err_case {
    const char *yaml;
    const char *message;
};

static const struct err_case err_cases[] = {
    {"timeouts:\n  conect_ms: 5\n", "t.yaml:2: unknown key 'timeouts.conect_ms'"},
    {"workers: two\n", "t.yaml:1: key 'workers': 'two' is not an integer"},
    {"workers: 999\n", "t.yaml:1: key 'workers': 999: 999 out of range 0..256"},
    {"listen: nowhere\n", "t.yaml:1: key 'listen': listen 'nowhere': expected HOST:PORT"},
    {"\n\nupstreams:\n  x: { base_url: ftp://a }\n",
     "t.yaml:4: upstreams.x.base_url: 'ftp://a' must start with http:// or https://"},
    {"upstreams:\n  x: { type: gemini, base_url: http://a }\n",
     "t.yaml:2: upstreams.x.type: 'gemini' is not openai or anthropic"},
    {"upstreams:\n  x: { type: openai }\n", "t.yaml:2: upstreams.x: base_url is required"},
    {"upstreams:\n  x: { base_url: http://a, client: curl }\n",
     "t.yaml:2: upstreams.x.client: 'curl' is not auto or libcurl"},
    {"limits: 5\n", "t.yaml:1: limits must be a map"},
    {"a: [1\n", "t.yaml:2: did not find expected ',' or ']'"},
    {"pricing:\n  fallback: { input_per_mtok: 1 }\n",
     "t.yaml:2: pricing.fallback needs both input_per_mtok and output_per_mtok"},
    {"pricing:\n  discounts: { openai: 12.345 }\n",
     "t.yaml:2: pricing.discounts.openai: expected a percentage 0..100 with at most 2 decimals"},
    {"attribution:\n  mode: strict\n",
     "t.yaml:2: attribution.mode: 'strict' is not off, flag or enforce"},
    {"budgets:\n  limits:\n    - scope: squad:x\n      period: day\n      limit_usd: 1\n",
     "t.yaml:3: budget scope 'squad:x' is not SCOPE:VALUE with SCOPE one of key, team, tenant, "
     "cost_center, feature, workflow, actor (VALUE * = each value separately)"},
    {"budgets:\n  limits:\n    - {scope: team:a, period: fortnight, limit_usd: 1}\n",
     "t.yaml:3: budget period 'fortnight' is not hour, day, week, month, total or minute (a "
     "spend-rate cap)"},
    {"budgets:\n  limits:\n    - {scope: team:a, period: day}\n",
     "t.yaml:3: budgets.limits: every budget needs scope, period and limit_usd"},
    {"budgets:\n  limits:\n    - {scope: team:a, period: day, limit_usd: 0.0000000001}\n",
     "t.yaml:3: budgets.limits.limit_usd: '0.0000000001' is not a positive USD amount"},
    {"budgets:\n  on_store_error: shrug\n",
     "t.yaml:2: budgets.on_store_error: 'shrug' is not fail_open or fail_closed"},
    {"budgets:\n  max_countrs: 5\n", "t.yaml:2: unknown key 'budgets.max_countrs'"},
    {"budgets:\n  max_output_tokens: {'gpt-5*': lots}\n",
     "t.yaml:2: budgets.max_output_tokens: expected at most 16 'model-pattern: tokens' pairs with "
     "tokens 1..10000000"},
};

static void test_budgets(void **state)
{
    (void)state;
    struct tg_config c;
    struct tg_errbuf eb;
    static const char yaml[] = "budgets:\n"
                               "  on_store_error: fail_closed\n"
                               "  max_counters: 500\n"
                               "  default_max_output_tokens: 1024\n"
                               "  max_output_tokens: {'claude-opus-*': 32000, 'gpt-5*': 128000}\n"
                               "  webhooks: [http://127.0.0.1:9/hook]\n"
                               "  limits:\n"
                               "    - {scope: team:payments, period: month, limit_usd: 5000, "
                               "soft_pct: 80}\n"
                               "    - {scope: 'workflow:*', period: total, limit_usd: 20, action: "
                               "warn}\n"
                               "    - {scope: 'feature:*', period: minute, limit_usd: 50.25}\n";
    tg_config_defaults(&c);
    assert_int_equal(tg_config_load_string(&c, "t.yaml", yaml, sizeof yaml - 1, &eb), 0);
    assert_true(c.budget_fail_closed);
    assert_int_equal(c.budget_max_counters, 500);
    assert_int_equal(c.budget_default_max_output, 1024);
    assert_int_equal(c.budget_bytes_per_token, 1);
    assert_int_equal(c.n_budget_model_output, 2);
    assert_string_equal(c.budget_model_output[0].model, "claude-opus-*");
    assert_int_equal(c.budget_model_output[0].tokens, 32000);
    assert_string_equal(c.budget_model_output[1].model, "gpt-5*");
    assert_int_equal(c.budget_model_output[1].tokens, 128000);
    assert_int_equal(c.n_budget_webhooks, 1);
    assert_string_equal(c.budget_webhooks[0], "http://127.0.0.1:9/hook");
    assert_int_equal(c.n_budgets, 3);
    assert_string_equal(c.budgets[0].id, "config:1");
    assert_int_equal(c.budgets[0].scope, TG_BS_TEAM);
    assert_string_equal(c.budgets[0].value, "payments");
    assert_int_equal(c.budgets[0].period, TG_BP_MONTH);
    assert_int_equal(c.budgets[0].limit_nanos, INT64_C(5000000000000));
    assert_int_equal(c.budgets[0].soft_pct, 80);
    assert_true(c.budgets[0].block);
    assert_true(c.budgets[0].from_config);
    assert_string_equal(c.budgets[1].value, "*");
    assert_false(c.budgets[1].block);
    assert_int_equal(c.budgets[2].period, TG_BP_MINUTE);
    assert_int_equal(c.budgets[2].limit_nanos, INT64_C(50250000000));
}

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
        struct tg_config c;
        struct tg_errbuf eb;
        tg_config_defaults(&c);
        int rc =
            tg_config_load_string(&c, "t.yaml", err_cases[i].yaml, strlen(err_cases[i].yaml), &eb);
        assert_int_equal(rc, TG_ERR_INVALID);
        assert_string_equal(eb.msg, err_cases[i].message);
    }
}

static void test_flags(void **state)
{
    (void)state;
    struct tg_config c;
    struct tg_errbuf eb;
    tg_config_defaults(&c);
    assert_int_equal(tg_config_set_listen(&c, "[::1]:0", &eb), 0);
    assert_string_equal(c.listen_host, "::1");
    assert_int_equal(c.listen_port, 0);
    assert_int_equal(tg_config_set_upstream(&c, "anthropic=http://127.0.0.1:5/", &eb), 0);
    assert_string_equal(tg_config_upstream(&c, "anthropic", 9)->base_url, "http://127.0.0.1:5");
    assert_string_equal(tg_config_upstream(&c, "anthropic", 9)->type, "anthropic");
    assert_int_equal(tg_config_set_upstream(&c, "Bad=http://x", &eb), TG_ERR_INVALID);
    assert_string_equal(
        eb.msg, "--upstream 'Bad=http://x': expected NAME=BASE_URL with NAME of [a-z0-9_-]");
    assert_int_equal(tg_config_set_listen(&c, "h:70000", &eb), TG_ERR_INVALID);
    assert_string_equal(eb.msg, "listen 'h:70000': port must be 0..65535");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults), cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_errors),   cmocka_unit_test(test_budgets),
        cmocka_unit_test(test_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
