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
#include "tests/unit/store/tmp_dir.h"

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

#define TABLE "CREATE TABLE t (x INTEGER PRIMARY KEY, v TEXT)"

/* The statement that inserts rows of 500 bytes, x = first .. first + n - 1 */
static void insert_sql(char *sql, size_t size, int first, int n)
{
    snprintf(sql, size,
             "WITH RECURSIVE s(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM s WHERE i < %d)"
             " INSERT INTO t SELECT i, printf('%%0500d', i) FROM s",
             first, first + n - 1);
}

static void insert(sqlite3 *db, int first, int n)
{
    char sql[160];
    insert_sql(sql, sizeof sql, first, n);
    exec_ok(db, sql);
}

/* Creates the table, then runs child in a process of its own, which must exit 0. */
static void in_child(int (*child)(void))
{
    sqlite3 *db = open_db(true);
    exec_ok(db, TABLE);
    sqlite3_close(db);
    pid_t pid = fork();
    if (pid == 0)
        _exit(child());
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
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
    exec_ok(db, TABLE);
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
    exec_ok(db, TABLE);
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

/* A transaction whose spilled pages were still buffered rolls back; another connection
 * then writes its own frames where those would have gone and commits. Nothing of the
 * rolled-back transaction may reach the log after that: the other's rows read back
 * whole, from the first connection too. */
static void test_rolled_back_appends_never_land_over_later_ones(void **state)
{
    (void)state;
    sqlite3 *a = open_db(true), *b = open_db(false);
    exec_ok(a, TABLE);
    /* the pages in the database file, so the rollback reads nothing back from the log */
    exec_ok(a, "PRAGMA cache_size=8; PRAGMA wal_checkpoint(TRUNCATE)");
    exec_ok(a, "BEGIN");
    insert(a, 1, 60); /* ~30 KB: spilled into the buffer, not past it */
    exec_ok(a, "ROLLBACK");
    exec_ok(b, "BEGIN");
    insert(b, 1001, 60);
    exec_ok(b, "COMMIT");
    assert_int_equal(query(a, "SELECT count(*) FROM t WHERE v = printf('%0500d', x)"), 60);
    assert_int_equal(query(b, "SELECT count(*) FROM t WHERE v = printf('%0500d', x)"), 60);
    sqlite3_close(a);
    sqlite3_close(b);
    sqlite3 *c = open_db(false);
    assert_int_equal(query(c, "SELECT count(*) FROM t WHERE x > 1000"), 60);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(c, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(c);
}

static int commit_then_die(void)
{
    sqlite3 *db = open_db(true);
    exec_ok(db, "BEGIN");
    insert(db, 1, 32);
    exec_ok(db, "COMMIT");
    exec_ok(db, "BEGIN");
    insert(db, 33, 5); /* not committed: gone with the process */
    return 0;          /* no close: as kill -9 would leave it */
}

static void test_commit_outlives_the_process(void **state)
{
    (void)state;
    in_child(commit_then_die);
    sqlite3 *db = open_db(false);
    assert_int_equal(query(db, "SELECT count(*) FROM t"), 32);
    sqlite3_close(db);
}

static int commit_past_the_size_limit(void)
{
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {16 << 10, 16 << 10}; /* a 32-row commit is ~66 KB */
    sqlite3 *db = open_db(true);
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
        return 2;
    char sql[160];
    insert_sql(sql, sizeof sql, 1, 32);
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK &&
        sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK &&
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 3; /* committed past the limit */
    return 0;
}

/* A log write that fails fails its commit (here the file size limit: EFBIG), and the
 * rows are not there */
static void test_failed_log_write_fails_the_commit(void **state)
{
    (void)state;
    in_child(commit_past_the_size_limit);
    sqlite3 *db = open_db(false);
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
        cmocka_unit_test_setup_teardown(test_rolled_back_appends_never_land_over_later_ones, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_commit_outlives_the_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_log_write_fails_the_commit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
