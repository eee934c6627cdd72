/* tests/unit/accounting/test_tracectx.c - traceparent valid/invalid (W3C conformance cases),
 * continuation, baggage grammar, decoding and limits */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "accounting/tracectx.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define PID "00f067aa0ba902b7"

struct tp_case {
    const char *value;
    bool valid;
    const char *trace_id;
    uint8_t flags;
};

static const struct tp_case tp_cases[] = {
    {"00-" TID "-" PID "-01", true, TID, 0x01},
    {"00-" TID "-" PID "-00", true, TID, 0x00},
    {"00-" TID "-" PID "-03", true, TID, 0x03},
    {"00-" TID "-" PID "-ff", true, TID, 0x03}, /* unknown flag bits are not propagated */
    {" \t00-" TID "-" PID "-01\t ", true, TID, 0x01},
    {"cc-" TID "-" PID "-01-what-the-future-will-be-like", true, TID, 0x01},
    {"cc-" TID "-" PID "-01", true, TID, 0x01},
    {"00-" TID "-" PID "-01.", false, NULL, 0},
    {"00-" TID "-" PID "-01-what-the-future-will-be-like", false, NULL, 0},
    {"cc-" TID "-" PID "-01.what", false, NULL, 0},
    {"ff-" TID "-" PID "-01", false, NULL, 0},
    {"00-00000000000000000000000000000000-" PID "-01", false, NULL, 0},
    {"00-" TID "-0000000000000000-01", false, NULL, 0},
    {"00-4BF92F3577B34DA6A3CE929D0E0E4736-" PID "-01", false, NULL, 0},
    {"00-" TID "-00F067AA0BA902B7-01", false, NULL, 0},
    {"00-" TID "-" PID "-0G", false, NULL, 0},
    {"00-" TID "-" PID, false, NULL, 0},
    {"0-" TID "-" PID "-01", false, NULL, 0},
    {"00_" TID "-" PID "-01", false, NULL, 0},
    {"00-" TID "0-" PID "-01", false, NULL, 0},
    {"", false, NULL, 0},
};

static void test_traceparent(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof tp_cases / sizeof tp_cases[0]; i++) {
        struct tg_traceparent tp;
        bool ok = tg_trace_parse(tp_cases[i].value, strlen(tp_cases[i].value), &tp);
        if (ok != tp_cases[i].valid)
            fail_msg("'%s': valid=%d, want %d", tp_cases[i].value, ok, tp_cases[i].valid);
        if (ok) {
            assert_string_equal(tp.trace_id, tp_cases[i].trace_id);
            assert_string_equal(tp.span_id, PID);
            assert_int_equal(tp.flags, tp_cases[i].flags);
        }
    }
}

static void test_continue_and_restart(void **state)
{
    (void)state;
    uint8_t rnd[24];
    for (int i = 0; i < 24; i++)
        rnd[i] = (uint8_t)(0x10 + i);
    struct tg_traceparent tp;
    struct tg_trace_ctx ctx;
    char out[56];
    assert_true(tg_trace_parse("00-" TID "-" PID "-01", 55, &tp));
    tg_trace_continue(&tp, true, rnd, &ctx);
    assert_true(ctx.continued);
    assert_string_equal(ctx.trace_id, TID);
    assert_string_equal(ctx.parent_span_id, PID);
    assert_string_equal(ctx.span_id, "2021222324252627"); /* random bytes 16..23 */
    tg_trace_format(ctx.trace_id, ctx.span_id, ctx.flags, out);
    assert_string_equal(out, "00-" TID "-2021222324252627-01");

    tg_trace_continue(NULL, false, rnd, &ctx);
    assert_false(ctx.continued);
    assert_string_equal(ctx.trace_id,
                        "111112131415161718191a1b1c1d1e1f"); /* first byte forced odd: never zero */
    assert_string_equal(ctx.parent_span_id, "");
    assert_int_equal(ctx.flags, 0x03); /* sampled + random trace id */
    memset(rnd, 0, sizeof rnd);
    tg_trace_continue(NULL, false, rnd, &ctx);
    assert_string_equal(ctx.span_id, "0100000000000000"); /* an all-zero span id cannot happen */
}

static const char *get(const struct tg_baggage *b, const char *k)
{
    const char *v = tg_baggage_get(b, k);
    return v ? v : "(none)";
}

static void test_baggage(void **state)
{
    (void)state;
    struct tg_baggage b;
    memset(&b, 0, sizeof b);
    static const char h1[] =
        "team=payments, cost_center = CC%2D100 ;ttl=30;flag , name=Am%C3%A9lie,bad key=x,"
        "tenant_id=acme;p,emoji=%F0%9F%98%80,broken=%FF%41,eq=a=b,noval=";
    tg_baggage_parse(h1, sizeof h1 - 1, &b);
    assert_string_equal(get(&b, "team"), "payments");
    assert_string_equal(get(&b, "cost_center"), "CC-100");
    assert_string_equal(get(&b, "name"), "Am\xC3\xA9lie");
    assert_string_equal(get(&b, "tenant_id"), "acme");
    assert_string_equal(get(&b, "emoji"), "\xF0\x9F\x98\x80");
    assert_string_equal(get(&b, "broken"), "\xEF\xBF\xBD"
                                           "A"); /* invalid UTF-8 -> U+FFFD */
    assert_string_equal(get(&b, "eq"), "a=b");   /* split on the first '=' */
    assert_string_equal(get(&b, "noval"), "");
    assert_string_equal(get(&b, "bad key"), "(none)");
    assert_int_equal(b.dropped, 1);
    assert_int_equal(b.n, 8);
    /* a second header combines; the first occurrence of a key wins */
    tg_baggage_parse("team=other,workflow_id=run-7", 28, &b);
    assert_string_equal(get(&b, "team"), "payments");
    assert_string_equal(get(&b, "workflow_id"), "run-7");
    /* malformed members: dropped, the rest kept */
    struct tg_baggage c;
    memset(&c, 0, sizeof c);
    tg_baggage_parse("=x,k,k2=v\"q,ok=1,  ,k3=v v", 26, &c);
    assert_int_equal(c.n, 1);
    assert_string_equal(get(&c, "ok"), "1");
    assert_int_equal(c.dropped, 4);
    /* a NUL byte is not a token character (found by fuzz_baggage) */
    memset(&c, 0, sizeof c);
    tg_baggage_parse("\0kv=2,ok=1", 10, &c);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.dropped, 1);
}

static void test_baggage_limits(void **state)
{
    (void)state;
    char h[TG_BAGGAGE_MAX_BYTES * 2];
    size_t n = 0;
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(h + n, sizeof h - n, "%sk%d=v%d", i ? "," : "", i, i);
    struct tg_baggage b;
    memset(&b, 0, sizeof b);
    tg_baggage_parse(h, n, &b);
    assert_int_equal(b.n, 64); /* the spec's propagation floor */
    assert_int_equal(b.dropped, 6);
    assert_string_equal(get(&b, "k63"), "v63");
    /* over 8192 bytes: cut at a member boundary, never a partial member */
    n = 0;
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(h + n, sizeof h - n, "%sk%d=%0250d", i ? "," : "", i, i);
    memset(&b, 0, sizeof b);
    tg_baggage_parse(h, n, &b);
    assert_true(n > TG_BAGGAGE_MAX_BYTES);
    assert_int_equal(b.n, 32); /* k0..k31 end before byte 8192 */
    assert_int_equal(strlen(get(&b, "k31")), 250);
    assert_string_equal(get(&b, "k32"), "(none)");
    assert_int_equal(b.dropped, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traceparent),
        cmocka_unit_test(test_continue_and_restart),
        cmocka_unit_test(test_baggage),
        cmocka_unit_test(test_baggage_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
