/* tests/unit/store/test_keys.c - virtual keys: hashing, create/list/revoke on a real SQLite file,
 * snapshot lookup, model globs */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/keys.h"

static void test_hash(void **state)
{
    (void)state;
    char hex[65];
    /* SHA-256("abc"), FIPS 180-2 appendix B.1 */
    tg_keys_hash("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_model_globs(void **state)
{
    (void)state;
    assert_true(tg_keys_model_allowed("", "anything"));
    assert_true(tg_keys_model_allowed("gpt-4o*,claude-*", "gpt-4o-mini"));
    assert_true(tg_keys_model_allowed("gpt-4o*, claude-*", "claude-sonnet-4-5"));
    assert_false(tg_keys_model_allowed("gpt-4o*,claude-*", "o3-mini"));
    assert_false(tg_keys_model_allowed("gpt-4o", "gpt-4o-mini"));
    assert_true(tg_keys_model_allowed("gpt-4o", "gpt-4o"));
}

static void test_lifecycle(void **state)
{
    (void)state;
    char dir[] = "/tmp/tgkeysXXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/ledger.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    struct tg_errbuf eb;
    struct tg_vkey k;
    memset(&k, 0, sizeof k);
    snprintf(k.team, sizeof k.team, "payments");
    snprintf(k.cost_center, sizeof k.cost_center, "CC-100");
    snprintf(k.models, sizeof k.models, "gpt-4o*");
    char key[64];
    assert_int_equal(tg_keys_create(db, &k, 1767225600000, key, sizeof key, &eb), 0);
    assert_int_equal(strlen(key), 44); /* tgk_ + 40 hex */
    assert_memory_equal(key, "tgk_", 4);
    assert_memory_equal(k.prefix, key, 12);
    assert_int_equal(strlen(k.key_id), 19);

    /* the plaintext is nowhere in the database file */
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT count(*) FROM virtual_keys WHERE hash=? AND prefix=?", -1,
                           &st, NULL),
        SQLITE_OK);
    char h[65];
    tg_keys_hash(key, strlen(key), h);
    sqlite3_bind_text(st, 1, h, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k.prefix, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);

    struct tg_keyset *ks = NULL;
    assert_int_equal(tg_keyset_load(db, &ks, &eb), 0);
    const struct tg_vkey *found = tg_keyset_find(ks, h);
    assert_non_null(found);
    assert_string_equal(found->team, "payments");
    assert_string_equal(found->cost_center, "CC-100");
    assert_string_equal(found->models, "gpt-4o*");
    assert_int_equal(found->created_at_ms, 1767225600000);
    assert_int_equal(found->revoked_at_ms, 0);
    char other[65];
    tg_keys_hash("tgk_wrong", 9, other);
    assert_null(tg_keyset_find(ks, other));
    tg_keyset_destroy(ks);

    assert_int_equal(tg_keys_revoke(db, k.key_id, 1767225601000, &eb), 0);
    assert_int_equal(tg_keys_revoke(db, k.key_id, 1767225602000, &eb), TG_ERR_NOTFOUND);
    char want[96];
    snprintf(want, sizeof want, "no active key with id '%s'", k.key_id);
    assert_string_equal(eb.msg, want);
    struct tg_vkey *all = NULL;
    int n = 0;
    assert_int_equal(tg_keys_list(db, &all, &n, &eb), 0);
    assert_int_equal(n, 1);
    assert_int_equal(all[0].revoked_at_ms, 1767225601000);
    free(all);
    sqlite3_close(db);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_model_globs),
        cmocka_unit_test(test_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
