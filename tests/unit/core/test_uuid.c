/* tests/unit/core/test_uuid.c - UUIDv7 layout (RFC 9562 §5.7) and the random pool */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/uuid.h"

static void test_uuid7_layout(void **state)
{
    (void)state;
    char u[37];
    tg_uuid7(1780035252345, u); /* 0x019e725e7079 */
    assert_int_equal(strlen(u), 36);
    assert_memory_equal(u, "019e725e-7079-7", 15); /* 48-bit ms, then version 7 */
    assert_true(strchr("89ab", u[19]) != NULL);    /* variant 10 */
    assert_true(u[8] == '-' && u[13] == '-' && u[18] == '-' && u[23] == '-');
    for (int i = 0; i < 36; i++)
        assert_true(strchr("0123456789abcdef-", u[i]) != NULL);
    char v[37];
    tg_uuid7(1780035252345, v);
    assert_string_not_equal(u, v); /* 74 random bits */
}

static void test_random_bytes_never_repeat_across_pool_refills(void **state)
{
    (void)state;
    /* 600 draws of 16 bytes cross the 512-byte pool many times; no two are equal and
     * none is all zero (each byte is handed out once, then cleared) */
    static unsigned char seen[600][16];
    const unsigned char zero[16] = {0};
    for (int i = 0; i < 600; i++) {
        tg_random_bytes(seen[i], 16);
        assert_memory_not_equal(seen[i], zero, 16);
        for (int k = 0; k < i; k++)
            assert_memory_not_equal(seen[i], seen[k], 16);
    }
    unsigned char big[2048]; /* larger than the pool: straight from the kernel */
    memset(big, 0, sizeof big);
    tg_random_bytes(big, sizeof big);
    assert_memory_not_equal(big + 1024, zero, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid7_layout),
        cmocka_unit_test(test_random_bytes_never_repeat_across_pool_refills),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
