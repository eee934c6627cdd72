/* tests/unit/telemetry/test_otel.c - OTLP/JSON encoding of a call's spans: exact text,
 * valid JSON, the SERVER/CLIENT pair, error status, a refused call's single span */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/record.h"
#include "telemetry/otel.h"

#define TG_STR(f, s) snprintf((f), sizeof(f), "%s", (s))

static struct tg_call_record record(void)
{
    struct tg_call_record r;
    memset(&r, 0, sizeof r);
    TG_STR(r.call_id, "019a0000-0000-7000-8000-000000000001");
    TG_STR(r.request_id, "req-1");
    TG_STR(r.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    TG_STR(r.span_id, "5fb397be34d26b51");
    TG_STR(r.parent_span_id, "00f067aa0ba902b7");
    TG_STR(r.provider, "openai");
    TG_STR(r.operation, "chat");
    TG_STR(r.endpoint, "/v1/chat/completions");
    TG_STR(r.request_model, "gpt-4o");
    TG_STR(r.outcome, "ok");
    TG_STR(r.team, "payments");
    TG_STR(r.cost_center, "CC-1");
    TG_STR(r.workflow_id, "run-7");
    TG_STR(r.actor_type, "agent");
    r.status_code = 200;
    r.attempt = 1;
    r.usage.has_usage = true;
    r.usage.input_tokens = 1200;
    r.usage.cached_input_tokens = 1024;
    r.usage.cache_write_1h_tokens = 10;
    r.usage.output_tokens = 85;
    r.usage.reasoning_tokens = 40;
    TG_STR(r.usage.response_model, "gpt-4o-2024-08-06");
    TG_STR(r.usage.response_id, "chatcmpl-abc");
    TG_STR(r.usage.finish_reason, "stop");
    r.is_priced = true;
    r.cost_nanos = 2056000;
    TG_STR(r.price_ref, "card.csv:3:exact");
    return r;
}

static struct tg_span_input input(const struct tg_call_record *r)
{
    struct tg_span_input in = {
        .rec = r,
        .client_span_id = "1111111111111111",
        .tracestate = "vendor=x",
        .trace_flags = 1,
        .parent_is_remote = true,
        .start_ns = INT64_C(1767225600000000000),
        .end_ns = INT64_C(1767225601250000000),
        .upstream_start_ns = INT64_C(1767225600000100000),
        .upstream_end_ns = INT64_C(1767225601249000000),
        .genai_provider = "openai",
        .server_address = "api.openai.com",
        .server_port = 443,
        .request_max_tokens = 100,
    };
    return in;
}

#define GENAI                                                                                      \
    "{\"key\":\"gen_ai.operation.name\",\"value\":{\"stringValue\":\"chat\"}},"                    \
    "{\"key\":\"gen_ai.provider.name\",\"value\":{\"stringValue\":\"openai\"}},"                   \
    "{\"key\":\"gen_ai.request.model\",\"value\":{\"stringValue\":\"gpt-4o\"}},"                   \
    "{\"key\":\"gen_ai.request.max_tokens\",\"value\":{\"intValue\":\"100\"}},"                    \
    "{\"key\":\"gen_ai.response.model\",\"value\":{\"stringValue\":\"gpt-4o-2024-08-06\"}},"       \
    "{\"key\":\"gen_ai.response.id\",\"value\":{\"stringValue\":\"chatcmpl-abc\"}},"               \
    "{\"key\":\"gen_ai.response.finish_reasons\",\"value\":{\"arrayValue\":{\"values\":[{"         \
    "\"stringValue\":\"stop\"}]}}},"                                                               \
    "{\"key\":\"gen_ai.usage.input_tokens\",\"value\":{\"intValue\":\"1200\"}},"                   \
    "{\"key\":\"gen_ai.usage.output_tokens\",\"value\":{\"intValue\":\"85\"}},"                    \
    "{\"key\":\"gen_ai.usage.cache_read.input_tokens\",\"value\":{\"intValue\":\"1024\"}},"        \
    "{\"key\":\"gen_ai.usage.cache_creation.input_tokens\",\"value\":{\"intValue\":\"10\"}},"      \
    "{\"key\":\"gen_ai.usage.reasoning.output_tokens\",\"value\":{\"intValue\":\"40\"}},"          \
    "{\"key\":\"openai.api.type\",\"value\":{\"stringValue\":\"chat_completions\"}},"              \
    "{\"key\":\"http.response.status_code\",\"value\":{\"intValue\":\"200\"}}"
#define TOLLGATE                                                                                   \
    "{\"key\":\"tollgate.call_id\",\"value\":{\"stringValue\":\"019a0000-0000-7000-8000-"          \
    "000000000001\"}},"                                                                            \
    "{\"key\":\"tollgate.request_id\",\"value\":{\"stringValue\":\"req-1\"}},"                     \
    "{\"key\":\"tollgate.outcome\",\"value\":{\"stringValue\":\"ok\"}},"                           \
    "{\"key\":\"tollgate.team\",\"value\":{\"stringValue\":\"payments\"}},"                        \
    "{\"key\":\"tollgate.cost_center\",\"value\":{\"stringValue\":\"CC-1\"}},"                     \
    "{\"key\":\"tollgate.workflow_id\",\"value\":{\"stringValue\":\"run-7\"}},"                    \
    "{\"key\":\"tollgate.actor_type\",\"value\":{\"stringValue\":\"agent\"}},"                     \
    "{\"key\":\"tollgate.cost_usd\",\"value\":{\"stringValue\":\"0.002056\"}},"                    \
    "{\"key\":\"tollgate.cost_nanos\",\"value\":{\"intValue\":\"2056000\"}},"                      \
    "{\"key\":\"tollgate.price_ref\",\"value\":{\"stringValue\":\"card.csv:3:exact\"}}"

static void test_pair(void **state)
{
    (void)state;
    struct tg_call_record r = record();
    struct tg_span_input in = input(&r);
    struct tg_buf b = {0};
    assert_int_equal(tg_otel_encode(&in, &b), 2);
    static const char want[] =
        "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"5fb397be34d26b51\","
        "\"traceState\":\"vendor=x\",\"parentSpanId\":\"00f067aa0ba902b7\",\"flags\":769,"
        "\"name\":\"chat gpt-4o\",\"kind\":2,\"startTimeUnixNano\":\"1767225600000000000\","
        "\"endTimeUnixNano\":\"1767225601250000000\",\"attributes\":[" GENAI ","
        "{\"key\":\"http.request.method\",\"value\":{\"stringValue\":\"POST\"}},"
        "{\"key\":\"http.route\",\"value\":{\"stringValue\":\"/v1/chat/completions\"}}," TOLLGATE
        "],\"status\":{\"code\":0}},"
        "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"1111111111111111\","
        "\"traceState\":\"vendor=x\",\"parentSpanId\":\"5fb397be34d26b51\",\"flags\":257,"
        "\"name\":\"chat gpt-4o\",\"kind\":3,\"startTimeUnixNano\":\"1767225600000100000\","
        "\"endTimeUnixNano\":\"1767225601249000000\",\"attributes\":[" GENAI ","
        "{\"key\":\"server.address\",\"value\":{\"stringValue\":\"api.openai.com\"}},"
        "{\"key\":\"server.port\",\"value\":{\"intValue\":\"443\"}}," TOLLGATE
        "],\"status\":{\"code\":0}}";
    assert_string_equal(b.base, want);

    struct tg_buf req = {0};
    tg_otel_wrap("tollgate", b.base, b.len, &req);
    cJSON *j = cJSON_Parse(req.base);
    assert_non_null(j);
    cJSON *spans = cJSON_GetObjectItem(
        cJSON_GetArrayItem(
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "resourceSpans"), 0),
                                "scopeSpans"),
            0),
        "spans");
    assert_int_equal(cJSON_GetArraySize(spans), 2);
    assert_non_null(strstr(req.base, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
                                     "\"service.name\",\"value\":{\"stringValue\":\"tollgate\"}}"));
    cJSON_Delete(j);
    tg_buf_free(&req);
    tg_buf_free(&b);
}

static void test_error_and_refusal(void **state)
{
    (void)state;
    struct tg_call_record r = record();
    TG_STR(r.outcome, "refused");
    TG_STR(r.error_type, "budget_exceeded");
    TG_STR(r.parent_span_id, "");
    TG_STR(r.request_model, "");
    r.attempt = 0;
    r.is_priced = false;
    r.status_code = 429;
    struct tg_span_input in = input(&r);
    in.client_span_id = ""; /* never forwarded */
    in.parent_is_remote = false;
    in.tracestate = "";
    in.trace_flags = 3;
    in.request_max_tokens = -1;
    memset(&r.usage, 0, sizeof r.usage);
    struct tg_buf b = {0};
    assert_int_equal(tg_otel_encode(&in, &b), 1);
    static const char want[] =
        "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"5fb397be34d26b51\","
        "\"flags\":259,\"name\":\"chat\",\"kind\":2,\"startTimeUnixNano\":\"1767225600000000000\","
        "\"endTimeUnixNano\":\"1767225601250000000\",\"attributes\":["
        "{\"key\":\"gen_ai.operation.name\",\"value\":{\"stringValue\":\"chat\"}},"
        "{\"key\":\"gen_ai.provider.name\",\"value\":{\"stringValue\":\"openai\"}},"
        "{\"key\":\"openai.api.type\",\"value\":{\"stringValue\":\"chat_completions\"}},"
        "{\"key\":\"error.type\",\"value\":{\"stringValue\":\"budget_exceeded\"}},"
        "{\"key\":\"http.response.status_code\",\"value\":{\"intValue\":\"429\"}},"
        "{\"key\":\"http.request.method\",\"value\":{\"stringValue\":\"POST\"}},"
        "{\"key\":\"http.route\",\"value\":{\"stringValue\":\"/v1/chat/completions\"}},"
        "{\"key\":\"tollgate.call_id\",\"value\":{\"stringValue\":\"019a0000-0000-7000-8000-"
        "000000000001\"}},"
        "{\"key\":\"tollgate.request_id\",\"value\":{\"stringValue\":\"req-1\"}},"
        "{\"key\":\"tollgate.outcome\",\"value\":{\"stringValue\":\"refused\"}},"
        "{\"key\":\"tollgate.team\",\"value\":{\"stringValue\":\"payments\"}},"
        "{\"key\":\"tollgate.cost_center\",\"value\":{\"stringValue\":\"CC-1\"}},"
        "{\"key\":\"tollgate.workflow_id\",\"value\":{\"stringValue\":\"run-7\"}},"
        "{\"key\":\"tollgate.actor_type\",\"value\":{\"stringValue\":\"agent\"}}"
        "],\"status\":{\"code\":2,\"message\":\"budget_exceeded\"}}";
    assert_string_equal(b.base, want);
    tg_buf_free(&b);
}

static void test_provider_names(void **state)
{
    (void)state;
    assert_string_equal(tg_otel_provider_name("anthropic", "anthropic"), "anthropic");
    assert_string_equal(tg_otel_provider_name("groq", "openai"), "groq");
    assert_string_equal(tg_otel_provider_name("mistral_ai", "openai"), "mistral_ai");
    assert_string_equal(tg_otel_provider_name("vllm-local", "openai"), "openai");
    assert_string_equal(tg_otel_provider_name("claude-proxy", "anthropic"), "anthropic");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pair),
        cmocka_unit_test(test_error_and_refusal),
        cmocka_unit_test(test_provider_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
