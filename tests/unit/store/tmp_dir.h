/* tests/unit/store/tmp_dir.h - each test of a store suite in a directory of its own: the
 * setup makes `dir` (under /tmp) and names `path`, a ledger file in it, which the test
 * creates; the teardown removes the directory and all in it. Include after cmocka.h. */
#ifndef TG_TEST_STORE_TMP_DIR_H
#define TG_TEST_STORE_TMP_DIR_H

#include <stdio.h>
#include <stdlib.h>

static char dir[64], path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tgstoreXXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/ledger.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

#endif
