/* tests/unit/store/test_walbuf.c - the VFS that writes a transaction's log appends at
 * once, on real files: a commit reaches the log in one write and other connections see
 * it at once; a transaction past the buffer, whose pages also spill and are written
 * again, commits intact; a commit outlives a process that dies right after it; a failed
 * log write fails its commit */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/walbuf.h"

static char dir[64], path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tgwalbufXXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/t.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err);
}

static sqlite3 *open_db(bool buffered)
{
    sqlite3 *db = NULL;
    assert_non_null(tg_walbuf_vfs());
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                     buffered ? tg_walbuf_vfs() : NULL),
                     SQLITE_OK);
    exec_ok(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA "
                "wal_autocheckpoint=0");
    return db;
}

static long long query(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* rows of 500 bytes, x = first .. first + n - 1 */
static void insert(sqlite3 *db, int first, int n)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE s(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM s WHERE i < %d)"
             " INSERT INTO t SELECT i, printf('%%0500d', i) FROM s",
             first, first + n - 1);
    exec_ok(db, sql);
}

static long long wal_bytes(void)
{
    char wal[160];
    struct stat st;
    snprintf(wal, sizeof wal, "%s-wal", path);
    assert_int_equal(stat(wal, &st), 0);
    return (long long)st.st_size;
}

static void test_commit_is_one_write_and_visible_at_once(void **state)
{
    (void)state;
    sqlite3 *db = open_db(true), *reader = open_db(false);
    exec_ok(db, "CREATE TABLE t (x INTEGER PRIMARY KEY, v TEXT)");
    long long before = wal_bytes();
    uint64_t writes = tg_walbuf_log_writes();
    exec_ok(db, "BEGIN");
    insert(db, 1, 32);
    exec_ok(db, "COMMIT");
    assert_int_equal(tg_walbuf_log_writes() - writes, 1);
    assert_true((wal_bytes() - before) / (4096 + 24) >= 4); /* several frames in that write */
    assert_int_equal(query(reader, "SELECT count(*) FROM t"), 32);
    assert_int_equal(query(reader, "SELECT sum(length(v)) FROM t"), 32 * 500);
    sqlite3_close(reader);
    sqlite3_close(db);
}

static void test_large_spilling_transaction_commits_intact(void **state)
{
    (void)state;
    sqlite3 *db = open_db(true);
    exec_ok(db, "PRAGMA cache_size=8"); /* pages spill to the log mid-transaction */
    exec_ok(db, "CREATE TABLE t (x INTEGER PRIMARY KEY, v TEXT)");
    exec_ok(db, "BEGIN");
    insert(db, 1, 3000); /* ~1.6 MB: past the buffer */
    exec_ok(db, "UPDATE t SET v = printf('%0499d', x) WHERE x % 7 = 0"); /* spilled pages again */
    /* every page read back inside the transaction, the last spilled from the buffer */
    assert_int_equal(query(db, "SELECT sum(length(v)) FROM t"), 3000 * 500 - 3000 / 7);
    exec_ok(db, "COMMIT");
    sqlite3 *reader = open_db(false);
    assert_int_equal(query(reader, "SELECT count(*) FROM t"), 3000);
    assert_int_equal(query(reader, "SELECT sum(length(v)) FROM t"), 3000 * 500 - 3000 / 7);
    sqlite3_close(reader);
    sqlite3_close(db);
    reader = open_db(false); /* a new process's view: the log read back from the file */
    assert_int_equal(query(reader, "SELECT count(*) FROM t WHERE v = printf('%0500d', x)"),
                     3000 - 3000 / 7);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(reader, "PRAGMA integrity_check", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(reader);
}

static void test_commit_outlives_the_process(void **state)
{
    (void)state;
    sqlite3 *db = open_db(true);
    exec_ok(db, "CREATE TABLE t (x INTEGER PRIMARY KEY, v TEXT)");
    sqlite3_close(db);
    pid_t pid = fork();
    if (pid == 0) {
        db = open_db(true);
        exec_ok(db, "BEGIN");
        insert(db, 1, 32);
        exec_ok(db, "COMMIT");
        exec_ok(db, "BEGIN");
        insert(db, 33, 5); /* not committed: gone with the process */
        _exit(0);          /* no close: as kill -9 would leave it */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    db = open_db(false);
    assert_int_equal(query(db, "SELECT count(*) FROM t"), 32);
    sqlite3_close(db);
}

/* A log write that fails fails its commit (here the file size limit: EFBIG), and the
 * rows are not there */
static void test_failed_log_write_fails_the_commit(void **state)
{
    (void)state;
    sqlite3 *db = open_db(true);
    exec_ok(db, "CREATE TABLE t (x INTEGER PRIMARY KEY, v TEXT)");
    sqlite3_close(db);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {16 << 10, 16 << 10}; /* a 32-row commit is ~66 KB */
        db = open_db(true);
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
            _exit(2);
        int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        char sql[160];
        snprintf(sql, sizeof sql,
                 "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 32)"
                 " INSERT INTO t SELECT i, printf('%%0500d', i) FROM s");
        rc = rc != SQLITE_OK ? rc : sqlite3_exec(db, sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
            _exit(3); /* committed past the limit */
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    db = open_db(false);
    assert_int_equal(query(db, "SELECT count(*) FROM t"), 0);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_is_one_write_and_visible_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_large_spilling_transaction_commits_intact, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_commit_outlives_the_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_log_write_fails_the_commit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
