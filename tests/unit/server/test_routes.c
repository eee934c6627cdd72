/* tests/unit/server/test_routes.c - path and method -> upstream, family, operation */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "server/routes.h"

struct route_case {
    const char *method, *path;
    enum tg_route_result result;
    const char *upstream, *endpoint;
    enum tg_op op;
};

static const struct route_case cases[] = {
    {"POST", "/v1/chat/completions", TG_ROUTE_OK, "openai", "/v1/chat/completions", TG_OP_CHAT},
    {"POST", "/v1/completions", TG_ROUTE_OK, "openai", "/v1/completions", TG_OP_COMPLETION},
    {"POST", "/v1/embeddings", TG_ROUTE_OK, "openai", "/v1/embeddings", TG_OP_EMBEDDINGS},
    {"POST", "/v1/responses", TG_ROUTE_OK, "openai", "/v1/responses", TG_OP_RESPONSES},
    {"GET", "/v1/models", TG_ROUTE_OK, "openai", "/v1/models", TG_OP_MODELS},
    {"POST", "/v1/messages", TG_ROUTE_OK, "anthropic", "/v1/messages", TG_OP_MESSAGES},
    {"POST", "/openai/v1/chat/completions", TG_ROUTE_OK, "openai", "/v1/chat/completions",
     TG_OP_CHAT},
    {"POST", "/anthropic/v1/messages", TG_ROUTE_OK, "anthropic", "/v1/messages", TG_OP_MESSAGES},
    {"POST", "/groq/v1/chat/completions", TG_ROUTE_OK, "groq", "/v1/chat/completions", TG_OP_CHAT},
    /* an openai-type upstream does not speak the Messages API */
    {"POST", "/groq/v1/messages", TG_ROUTE_NOT_FOUND, NULL, NULL, TG_OP_CHAT},
    {"POST", "/anthropic/v1/chat/completions", TG_ROUTE_NOT_FOUND, NULL, NULL, TG_OP_CHAT},
    {"POST", "/nope/v1/chat/completions", TG_ROUTE_NOT_FOUND, NULL, NULL, TG_OP_CHAT},
    {"POST", "/v1/chat/completions/x", TG_ROUTE_NOT_FOUND, NULL, NULL, TG_OP_CHAT},
    {"POST", "/v2/chat/completions", TG_ROUTE_NOT_FOUND, NULL, NULL, TG_OP_CHAT},
    {"GET", "/v1/chat/completions", TG_ROUTE_BAD_METHOD, NULL, NULL, TG_OP_CHAT},
    {"POST", "/v1/models", TG_ROUTE_BAD_METHOD, NULL, NULL, TG_OP_CHAT},
    {"POST", "/", TG_ROUTE_NOT_FOUND, NULL, NULL, TG_OP_CHAT},
    {"POST", "", TG_ROUTE_NOT_FOUND, NULL, NULL, TG_OP_CHAT},
};

static void test_table(void **state)
{
    (void)state;
    struct tg_config cfg;
    struct tg_errbuf eb;
    tg_config_defaults(&cfg);
    assert_int_equal(tg_config_set_upstream(&cfg, "groq=http://127.0.0.1:9", &eb), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct route_case *k = &cases[i];
        struct tg_route r;
        memset(&r, 0, sizeof r);
        enum tg_route_result got =
            tg_route_match(&cfg, k->method, strlen(k->method), k->path, strlen(k->path), &r);
        if (got != k->result)
            fail_msg("%s %s: got %d want %d", k->method, k->path, got, k->result);
        if (got != TG_ROUTE_OK)
            continue;
        assert_string_equal(r.upstream->name, k->upstream);
        assert_string_equal(r.endpoint, k->endpoint);
        assert_int_equal(r.op, k->op);
        assert_ptr_equal(r.provider,
                         k->op == TG_OP_MESSAGES ? &tg_provider_anthropic : &tg_provider_openai);
    }
}

static void test_dialect(void **state)
{
    (void)state;
    assert_ptr_equal(tg_route_dialect_for("/anthropic/v9", 12), &tg_provider_anthropic);
    assert_ptr_equal(tg_route_dialect_for("/x/v1/messages", 14), &tg_provider_anthropic);
    assert_ptr_equal(tg_route_dialect_for("/v1/nothing", 11), &tg_provider_openai);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_dialect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
