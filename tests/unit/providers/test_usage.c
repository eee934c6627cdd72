/* tests/unit/providers/test_usage.c - usage extraction from real-shaped fixtures of every API,
 * streams fed through the SSE parser split at every byte */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <string.h>

#include "core/buf.h"
#include "providers/provider.h"
#include "tests/unit/providers/fixture.h"
#include "upstream/sse.h"

struct expect {
    const char *fixture;
    const struct tg_provider *prov;
    enum tg_op op;
    bool injected; /* streams: the gateway injected include_usage */
    /* input, cached, cache write 5m, 1h, audio in, output, reasoning, audio out, rejected,
     * tool-call output, tool calls, web search, web fetch */
    int64_t in, cached, cw5, cw1h, ain, out, reas, aout, rej, tco, tools, ws, wf;
    const char *model, *id, *finish;
    int dropped;            /* streams: events the client must not see */
    bool terminal, error;   /* streams */
    const char *error_type; /* streams */
};

#define OA &tg_provider_openai
#define AN &tg_provider_anthropic

static const struct expect cases[] = {
    /* prompt 1200 includes 1024 cached (OpenAI convention = OTel rule); completion 85
     * includes 40 reasoning, 5 audio and 3 rejected prediction tokens */
    {"openai/chat_cached_reasoning_audio.json",
     OA,
     TG_OP_CHAT,
     false,
     1200,
     1024,
     100,
     0,
     30,
     85,
     40,
     5,
     3,
     0,
     0,
     0,
     0,
     "gpt-4o-audio-preview-2024-12-17",
     "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
     "stop",
     0,
     false,
     false,
     ""},
    /* two tool calls; the whole output ended in tool calls */
    {"openai/chat_tool_calls.json",
     OA,
     TG_OP_CHAT,
     false,
     82,
     0,
     0,
     0,
     0,
     41,
     0,
     0,
     0,
     41,
     2,
     0,
     0,
     "gpt-4o-2024-08-06",
     "chatcmpl-tools",
     "tool_calls",
     0,
     false,
     false,
     ""},
    {"openai/embeddings.json",
     OA,
     TG_OP_EMBEDDINGS,
     false,
     8,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     "text-embedding-3-small",
     "",
     "",
     0,
     false,
     false,
     ""},
    /* output: a reasoning item (no call), one web_search_call, one function_call */
    {"openai/responses.json",
     OA,
     TG_OP_RESPONSES,
     false,
     900,
     512,
     64,
     0,
     0,
     300,
     192,
     0,
     0,
     300,
     1,
     1,
     0,
     "gpt-5-2026-01-01",
     "resp_1",
     "completed",
     0,
     false,
     false,
     ""},
    {"openai/chat_stream_usage.sse",
     OA,
     TG_OP_CHAT,
     true,
     1200,
     1024,
     0,
     0,
     0,
     85,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     "gpt-4o-2024-08-06",
     "chatcmpl-abc",
     "stop",
     1,
     true,
     false,
     ""},
    {"openai/chat_stream_usage.sse",
     OA,
     TG_OP_CHAT,
     false,
     1200,
     1024,
     0,
     0,
     0,
     85,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     "gpt-4o-2024-08-06",
     "chatcmpl-abc",
     "stop",
     0,
     true,
     false,
     ""},
    /* CRLF line ends; tool call 0 arrives in three fragments, tool call 1 in one */
    {"openai/chat_stream_tool_calls.sse",
     OA,
     TG_OP_CHAT,
     true,
     90,
     0,
     0,
     0,
     0,
     33,
     0,
     0,
     0,
     33,
     2,
     0,
     0,
     "gpt-4o-2024-08-06",
     "chatcmpl-abc",
     "tool_calls",
     1,
     true,
     false,
     ""},
    {"openai/responses_stream.sse",
     OA,
     TG_OP_RESPONSES,
     false,
     900,
     512,
     64,
     0,
     0,
     300,
     192,
     0,
     0,
     0,
     0,
     0,
     0,
     "gpt-5-2026-01-01",
     "resp_1",
     "completed",
     0,
     true,
     false,
     ""},
    /* Anthropic input excludes cache: 12 + 4096 read + 3072 written = 7180 */
    {"anthropic/message_cache_5m_1h_websearch.json",
     AN,
     TG_OP_MESSAGES,
     false,
     7180,
     4096,
     2048,
     1024,
     0,
     310,
     120,
     0,
     0,
     0,
     0,
     2,
     1,
     "claude-sonnet-4-5-20250929",
     "msg_01XFDUDYJgAACzvnptvVoYEL",
     "end_turn",
     0,
     false,
     false,
     ""},
    {"anthropic/message_tool_use.json",
     AN,
     TG_OP_MESSAGES,
     false,
     400,
     0,
     0,
     0,
     0,
     77,
     0,
     0,
     0,
     77,
     2,
     0,
     0,
     "claude-haiku-4-5-20251001",
     "msg_tool",
     "tool_use",
     0,
     false,
     false,
     ""},
    /* message_start output 1, then cumulative deltas 150 and 310: the last wins (never
     * 1+150+310); 12 + 2048 cache write = 2060 input */
    {"anthropic/stream_cumulative.sse",
     AN,
     TG_OP_MESSAGES,
     false,
     2060,
     0,
     2048,
     0,
     0,
     310,
     0,
     0,
     0,
     0,
     0,
     1,
     0,
     "claude-sonnet-4-5-20250929",
     "msg_01",
     "end_turn",
     0,
     true,
     false,
     ""},
    {"anthropic/stream_error.sse",
     AN,
     TG_OP_MESSAGES,
     false,
     40,
     0,
     0,
     0,
     0,
     1,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     "claude-sonnet-4-5-20250929",
     "msg_02",
     "",
     0,
     false,
     true,
     "overloaded_error"},
};

static void check_usage(const struct expect *e, const struct tg_usage *u, const char *how)
{
    const int64_t want[] = {e->in,   e->cached, e->cw5, e->cw1h,  e->ain, e->out, e->reas,
                            e->aout, e->rej,    e->tco, e->tools, e->ws,  e->wf};
    const int64_t got[] = {u->input_tokens,
                           u->cached_input_tokens,
                           u->cache_write_5m_tokens,
                           u->cache_write_1h_tokens,
                           u->audio_input_tokens,
                           u->output_tokens,
                           u->reasoning_tokens,
                           u->audio_output_tokens,
                           u->rejected_prediction_tokens,
                           u->tool_call_output_tokens,
                           u->tool_calls,
                           u->web_search_requests,
                           u->web_fetch_requests};
    static const char *names[] = {
        "input",      "cached",     "cache_write_5m", "cache_write_1h", "audio_in",
        "output",     "reasoning",  "audio_out",      "rejected",       "tool_call_output",
        "tool_calls", "web_search", "web_fetch"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (want[i] != got[i])
            fail_msg("%s (%s): %s = %lld, want %lld", e->fixture, how, names[i], (long long)got[i],
                     (long long)want[i]);
    assert_true(u->has_usage);
    assert_string_equal(u->response_model, e->model);
    assert_string_equal(u->response_id, e->id);
    assert_string_equal(u->finish_reason, e->finish);
}

struct relay {
    const struct expect *e;
    struct tg_stream_state st;
    struct tg_usage u;
    struct tg_buf forwarded; /* the bytes a client would see */
    const char *stream;      /* the whole stream, for raw ranges */
    int dropped, events;
};

static int on_event(void *ud, const struct tg_sse_event *ev)
{
    struct relay *r = ud;
    r->events++;
    if (r->e->prov->stream_event(&r->st, ev, &r->u) == TG_STREAM_DROP)
        r->dropped++;
    else
        tg_buf_append(&r->forwarded, r->stream + ev->raw_start,
                      (size_t)(ev->raw_end - ev->raw_start));
    return 0;
}

/* Feeds the stream in pieces: split at `cut` (0 = whole), or one byte at a time. */
static void run_stream(const struct expect *e, const char *s, size_t n, size_t cut, bool bytewise,
                       struct relay *r)
{
    struct tg_sse_parser p;
    memset(r, 0, sizeof *r);
    r->e = e;
    r->stream = s;
    r->st.op = e->op;
    r->st.injected_usage = e->injected;
    tg_sse_init(&p, 1 << 20);
    if (bytewise) {
        for (size_t i = 0; i < n; i++)
            assert_int_equal(tg_sse_feed(&p, s + i, 1, on_event, r), 0);
    } else {
        assert_int_equal(tg_sse_feed(&p, s, cut, on_event, r), 0);
        assert_int_equal(tg_sse_feed(&p, s + cut, n - cut, on_event, r), 0);
    }
    assert_false(tg_sse_has_partial(&p));
    tg_sse_free(&p);
}

static void test_bodies(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct expect *e = &cases[i];
        if (strstr(e->fixture, ".json") == NULL)
            continue;
        size_t n;
        char *body = fixture_load(e->fixture, &n);
        struct tg_usage u;
        memset(&u, 0, sizeof u);
        assert_int_equal(e->prov->parse_response(e->op, body, n, &u), 0);
        check_usage(e, &u, "body");
        free(body);
    }
}

static void test_streams_split_everywhere(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct expect *e = &cases[i];
        if (strstr(e->fixture, ".sse") == NULL)
            continue;
        size_t n;
        char *s = fixture_load(e->fixture, &n);
        struct relay whole;
        run_stream(e, s, n, n, false, &whole);
        check_usage(e, &whole.u, "whole");
        assert_int_equal(whole.dropped, e->dropped);
        assert_int_equal(whole.st.saw_terminal, e->terminal);
        assert_int_equal(whole.st.saw_error, e->error);
        assert_string_equal(whole.st.error_type, e->error_type);
        if (e->dropped == 0) { /* nothing dropped: the client gets the exact bytes */
            assert_int_equal(whole.forwarded.len, n);
            assert_memory_equal(whole.forwarded.base, s, n);
        } else { /* only the usage-only chunk is missing */
            assert_null(strstr(whole.forwarded.base, "\"choices\":[],"));
            assert_non_null(strstr(whole.forwarded.base, "data: [DONE]"));
        }
        for (size_t cut = 0; cut <= n; cut++) {
            struct relay r;
            run_stream(e, s, n, cut, false, &r);
            check_usage(e, &r.u, "split");
            if (r.events != whole.events || r.forwarded.len != whole.forwarded.len ||
                memcmp(r.forwarded.base, whole.forwarded.base, r.forwarded.len) != 0)
                fail_msg("%s: split at %zu changes the relayed stream", e->fixture, cut);
            tg_buf_free(&r.forwarded);
        }
        struct relay b;
        run_stream(e, s, n, 0, true, &b);
        check_usage(e, &b.u, "bytewise");
        assert_int_equal(b.forwarded.len, whole.forwarded.len);
        tg_buf_free(&b.forwarded);
        tg_buf_free(&whole.forwarded);
        free(s);
    }
}

static void test_inspect_and_inject(void **state)
{
    (void)state;
    struct tg_request_info info;
    struct tg_buf out = {0};
    struct tg_errbuf eb;
    static const char req[] =
        "{\"model\":\"gpt-4o\",\"stream\":true,\"max_completion_tokens\":256,\"messages\":[]}";
    assert_int_equal(
        tg_provider_openai.inspect_request(TG_OP_CHAT, req, sizeof req - 1, &info, &out, &eb), 0);
    assert_string_equal(info.model, "gpt-4o");
    assert_true(info.is_stream);
    assert_true(info.injected_usage);
    assert_int_equal(info.max_output_tokens, 256);
    /* spliced in after the brace: every other byte is the client's */
    assert_string_equal(
        out.base,
        "{\"stream_options\":{\"include_usage\":true},\"model\":\"gpt-4o\",\"stream\":true,"
        "\"max_completion_tokens\":256,\"messages\":[]}");
    tg_buf_reset(&out);

    /* the client's own stream_options are kept; include_usage false is turned on. The
     * body is written again whole: the messages too, which inspecting it left unbuilt */
    static const char req2[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\\n\"}],\"stream\":true,"
        "\"stream_options\":{\"include_obfuscation\":false,\"include_usage\":false}}";
    assert_int_equal(
        tg_provider_openai.inspect_request(TG_OP_CHAT, req2, sizeof req2 - 1, &info, &out, &eb), 0);
    assert_true(info.injected_usage);
    assert_string_equal(out.base, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
                                  "\"hi\\n\"}],\"stream\":true,\"stream_options\":{\"include_"
                                  "obfuscation\":false,\"include_usage\":true}}");
    tg_buf_reset(&out);

    /* asked by the client: nothing to do */
    static const char req3[] =
        "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
    assert_int_equal(
        tg_provider_openai.inspect_request(TG_OP_CHAT, req3, sizeof req3 - 1, &info, &out, &eb), 0);
    assert_false(info.injected_usage);
    assert_int_equal(out.len, 0);

    /* Responses API streams carry usage anyway; Anthropic max_tokens */
    static const char req4[] = "{\"model\":\"gpt-5\",\"stream\":true,\"max_output_tokens\":99}";
    assert_int_equal(tg_provider_openai.inspect_request(TG_OP_RESPONSES, req4, sizeof req4 - 1,
                                                        &info, &out, &eb),
                     0);
    assert_false(info.injected_usage);
    assert_int_equal(info.max_output_tokens, 99);
    static const char req5[] =
        "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,\"messages\":[]}";
    assert_int_equal(tg_provider_anthropic.inspect_request(TG_OP_MESSAGES, req5, sizeof req5 - 1,
                                                           &info, &out, &eb),
                     0);
    assert_int_equal(info.max_output_tokens, 1024);
    assert_false(info.is_stream);
    /* the limits are looked for in their order, not the body's; one that is not a number
     * is absent, a stream flag that is not true is false, the first of a key counts */
    static const char req6[] = "{\"max_output_tokens\":5,\"max_tokens\":7,\"stream\":\"yes\","
                               "\"max_completion_tokens\":\"x\",\"model\":\"a\",\"model\":\"b\"}";
    assert_int_equal(
        tg_provider_openai.inspect_request(TG_OP_CHAT, req6, sizeof req6 - 1, &info, &out, &eb), 0);
    assert_int_equal(info.max_output_tokens, 7);
    assert_false(info.is_stream);
    assert_string_equal(info.model, "a");
    static const char req7[] = "{\"model\":\"m\",\"max_tokens\":-3}";
    assert_int_equal(tg_provider_anthropic.inspect_request(TG_OP_MESSAGES, req7, sizeof req7 - 1,
                                                           &info, &out, &eb),
                     0);
    assert_int_equal(info.max_output_tokens, 0); /* present, not a count */
    static const char req8[] = "{\"model\":\"m\"}";
    assert_int_equal(tg_provider_anthropic.inspect_request(TG_OP_MESSAGES, req8, sizeof req8 - 1,
                                                           &info, &out, &eb),
                     0);
    assert_int_equal(info.max_output_tokens, -1);

    /* malformed input: precise errors */
    assert_int_equal(
        tg_provider_openai.inspect_request(TG_OP_CHAT, "{\"model\":", 9, &info, &out, &eb),
        TG_ERR_INVALID);
    assert_string_equal(eb.msg, "request body is not valid JSON");
    /* what was read before the error is not the caller's */
    static const char cut[] = "{\"model\":\"gpt-4o\",\"stream\":true,";
    snprintf(info.model, sizeof info.model, "before");
    assert_int_equal(
        tg_provider_openai.inspect_request(TG_OP_CHAT, cut, sizeof cut - 1, &info, &out, &eb),
        TG_ERR_INVALID);
    assert_string_equal(info.model, "before");
    assert_int_equal(tg_provider_anthropic.inspect_request(TG_OP_MESSAGES, cut, sizeof cut - 1,
                                                           &info, &out, &eb),
                     TG_ERR_INVALID);
    assert_string_equal(info.model, "before");
    assert_int_equal(
        tg_provider_anthropic.inspect_request(TG_OP_MESSAGES, "\"x\"", 3, &info, &out, &eb),
        TG_ERR_INVALID);
    assert_string_equal(eb.msg, "request body must be a JSON object");
    tg_buf_free(&out);
}

static void test_untrusted_counts(void **state)
{
    (void)state;
    /* negative, fractional, string and huge counts are not usage */
    static const char body[] =
        "{\"model\":\"m\",\"usage\":{\"prompt_tokens\":-5,\"completion_tokens\":1.5,"
        "\"prompt_tokens_details\":{\"cached_tokens\":\"7\"},\"total_tokens\":1e300}}";
    struct tg_usage u;
    memset(&u, 0, sizeof u);
    assert_int_equal(tg_provider_openai.parse_response(TG_OP_CHAT, body, sizeof body - 1, &u), 0);
    assert_true(u.has_usage);
    assert_int_equal(u.input_tokens, 0);
    assert_int_equal(u.output_tokens, 0);
    assert_int_equal(u.cached_input_tokens, 0);
    assert_int_equal(tg_provider_openai.parse_response(TG_OP_CHAT, "nope", 4, &u), TG_ERR_INVALID);
}

static void test_error_bodies(void **state)
{
    (void)state;
    struct tg_buf b = {0};
    tg_provider_openai.format_error(&b, "request_too_large", "body_too_large", "too \"big\"",
                                    "{\"call_id\":\"c1\"}");
    assert_string_equal(b.base, "{\"error\":{\"message\":\"too "
                                "\\\"big\\\"\",\"type\":\"invalid_request_error\",\"param\":null,"
                                "\"code\":\"body_too_large\"},\"tollgate\":{\"call_id\":\"c1\"}}");
    tg_buf_reset(&b);
    tg_provider_anthropic.format_error(&b, "timeout_error", "timeout", "slow", NULL);
    assert_string_equal(
        b.base, "{\"type\":\"error\",\"error\":{\"type\":\"timeout_error\",\"message\":\"slow\"}}");
    tg_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_streams_split_everywhere),
        cmocka_unit_test(test_inspect_and_inject),
        cmocka_unit_test(test_untrusted_counts),
        cmocka_unit_test(test_error_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
