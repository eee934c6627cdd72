/* tests/unit/core/test_clock.c - ISO 8601 formatting of epoch milliseconds (the ledger's
 * started_at / ended_at text) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clock.h"

static void test_iso8601_ms(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {1780035252345, "2026-05-29T06:14:12.345Z"},
        {-1, "1969-12-31T23:59:59.999Z"},
        {951868799999, "2000-02-29T23:59:59.999Z"}, /* a leap day */
        {253402300799999, "9999-12-31T23:59:59.999Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[25];
        tg_iso8601_ms(cases[i].ms, out);
        assert_string_equal(out, cases[i].want);
        int64_t back = 0;
        assert_int_equal(tg_parse_time(out, &back), 0);
        assert_int_equal(back, cases[i].ms);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso8601_ms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
