/* tests/unit/upstream/test_sse.c - the SSE grammar (WHATWG event stream), byte ranges, limits */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "upstream/sse.h"

/* Events rendered as "event|data|id|start-end;" so a case is one line of expectations. */
static int collect(void *ud, const struct tg_sse_event *ev)
{
    tg_buf_appendf(ud, "%.*s|%.*s|%.*s|%llu-%llu;", (int)ev->event_len, ev->event,
                   (int)ev->data_len, ev->data, (int)ev->id_len, ev->id,
                   (unsigned long long)ev->raw_start, (unsigned long long)ev->raw_end);
    return 0;
}

struct sse_case {
    const char *name, *input, *want;
    int partial;
};

static const struct sse_case cases[] = {
    {"lf", "data: a\n\n", "|a||0-9;", 0},
    {"crlf", "data: a\r\n\r\n", "|a||0-11;", 0},
    {"cr", "data: a\r\r", "|a||0-9;", 0},
    {"event and id", "event: ping\nid: 7\ndata: {}\n\n", "ping|{}|7|0-28;", 0},
    {"multi-line data joined by LF", "data: a\ndata: b\ndata\n\n", "|a\nb\n||0-22;", 0},
    {"one leading space stripped only", "data:  two\n\ndata:none\n\n", "| two||0-12;|none||12-23;",
     0},
    {"comments belong to the next event's bytes", ": hi\n\ndata: x\n\n", "|||0-6;|x||6-15;", 0},
    {"unknown fields and retry ignored", "retry: 10\nfoo: bar\ndata: x\n\n", "|x||0-28;", 0},
    {"event name resets after dispatch", "event: a\ndata: 1\n\ndata: 2\n\n", "a|1||0-18;|2||18-27;",
     0},
    {"id persists across events", "id: 9\ndata: 1\n\ndata: 2\n\n", "|1|9|0-15;|2|9|15-24;", 0},
    {"id with NUL ignored", "id: a\0b\ndata: 1\n\n", "|1||0-17;", 0},
    {"BOM skipped but counted",
     "\xEF\xBB\xBF"
     "data: x\n\n",
     "|x||0-12;", 0},
    {"field without colon is a name", "data\n\n", "|||0-6;", 0},
    {"unterminated event is partial", "data: a\n\ndata: b\n", "|a||0-9;", 1},
    {"mixed line ends", "data: a\r\ndata: b\rdata: c\n\r\n", "|a\nb\nc||0-27;", 0},
};

static void test_cases_every_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct sse_case *k = &cases[i];
        size_t n = strlen(k->input);
        if (strcmp(k->name, "id with NUL ignored") == 0)
            n = 17;
        for (size_t cut = 0; cut <= n; cut++) {
            struct tg_sse_parser p;
            struct tg_buf got = {0};
            tg_sse_init(&p, 4096);
            assert_int_equal(tg_sse_feed(&p, k->input, cut, collect, &got), 0);
            assert_int_equal(tg_sse_feed(&p, k->input + cut, n - cut, collect, &got), 0);
            assert_int_equal(tg_sse_finish(&p, collect, &got), 0);
            if (strcmp(got.base ? got.base : "", k->want) != 0)
                fail_msg("%s (split %zu): got '%s' want '%s'", k->name, cut,
                         got.base ? got.base : "", k->want);
            assert_int_equal(tg_sse_has_partial(&p), k->partial);
            tg_buf_free(&got);
            tg_sse_free(&p);
        }
    }
}

static void test_limit(void **state)
{
    (void)state;
    struct tg_sse_parser p;
    struct tg_buf got = {0};
    char big[300];
    memset(big, 'x', sizeof big);
    tg_sse_init(&p, 256);
    assert_int_equal(tg_sse_feed(&p, "data: ", 6, collect, &got), 0);
    assert_int_equal(tg_sse_feed(&p, big, sizeof big, collect, &got), TG_ERR_LIMIT);
    tg_sse_free(&p);
    tg_buf_free(&got);
}

static int stop_after_one(void *ud, const struct tg_sse_event *ev)
{
    (void)ev;
    ++*(int *)ud;
    return 42;
}

static void test_callback_stops(void **state)
{
    (void)state;
    struct tg_sse_parser p;
    int calls = 0;
    tg_sse_init(&p, 256);
    assert_int_equal(tg_sse_feed(&p, "data: 1\n\ndata: 2\n\n", 18, stop_after_one, &calls), 42);
    assert_int_equal(calls, 1);
    tg_sse_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases_every_split),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_callback_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
