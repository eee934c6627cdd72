/* tests/unit/store/test_ledger.c - the ledger on a real SQLite file: schema, begin/finish, exact
 * columns, commit callbacks, concurrency */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/record.h"
#include "store/ledger.h"
#include "store/sqlite_store.h"
#include "tests/unit/store/tmp_dir.h"

static void fill(struct tg_call_record *r, const char *id)
{
    memset(r, 0, sizeof *r);
    snprintf(r->call_id, sizeof r->call_id, "%s", id);
    snprintf(r->request_id, sizeof r->request_id, "req-1");
    r->started_at_ms = 1780035252345; /* 2026-05-29T06:14:12.345Z */
    r->ended_at_ms = 1780035253000;
    r->ttft_ms = 120;
    r->upstream_ms = 600;
    snprintf(r->provider, sizeof r->provider, "openai");
    snprintf(r->operation, sizeof r->operation, "chat");
    snprintf(r->endpoint, sizeof r->endpoint, "/v1/chat/completions");
    snprintf(r->request_model, sizeof r->request_model, "gpt-4o");
    snprintf(r->usage.response_model, sizeof r->usage.response_model, "gpt-4o-2024-08-06");
    snprintf(r->outcome, sizeof r->outcome, "ok");
    r->status_code = 200;
    r->attempt = 1;
    r->usage.input_tokens = 1200;
    r->usage.cached_input_tokens = 1024;
    r->usage.cache_write_5m_tokens = 7;
    r->usage.cache_write_1h_tokens = 8;
    r->usage.output_tokens = 85;
    r->usage.reasoning_tokens = 40;
    r->usage.tool_call_output_tokens = 9;
    r->usage.audio_input_tokens = 3;
    r->usage.audio_output_tokens = 4;
    r->usage.rejected_prediction_tokens = 2;
    r->usage.web_search_requests = 5;
    r->usage.web_fetch_requests = 6;
    r->usage.tool_calls = 2;
    snprintf(r->team, sizeof r->team, "payments");
    snprintf(r->tags, sizeof r->tags, "{\"k\":\"v\"}");
}

static sqlite3 *reader(void)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    return db;
}

static int64_t scalar_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The row as "col=value;" text, NULL shown as NULL, for exact comparisons. */
static void row_text(sqlite3 *db, const char *id, const char *cols, char *out, size_t n)
{
    char sql[1024];
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof sql, "SELECT %s FROM calls WHERE call_id='%s'", cols, id);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < sqlite3_column_count(st); i++) {
        const unsigned char *v = sqlite3_column_text(st, i);
        used += (size_t)snprintf(out + used, n - used, "%s=%s;", sqlite3_column_name(st, i),
                                 v ? (const char *)v : "NULL");
    }
    sqlite3_finalize(st);
}

static void test_schema_and_begin_only(void **state)
{
    (void)state;
    struct tg_ledger *l = NULL;
    struct tg_errbuf eb;
    struct tg_call_record r;
    assert_int_equal(tg_ledger_open(path, &l, &eb), 0);
    fill(&r, "c-begin");
    tg_ledger_begin(l, &r);
    tg_ledger_close(l);
    /* reopening applies no migration twice */
    assert_int_equal(tg_ledger_open(path, &l, &eb), 0);
    tg_ledger_close(l);
    sqlite3 *db = reader();
    assert_int_equal(scalar_int(db, "SELECT count(*) FROM schema_migrations"), 3);
    assert_int_equal(scalar_int(db, "SELECT max(version) FROM schema_migrations"), 3);
    /* what every insert pays for: the rowid table, call_id's unique index, started_at's */
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT group_concat(name, ',') FROM (SELECT name FROM "
                                        "sqlite_master WHERE tbl_name = 'calls' ORDER BY name)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0),
                        "calls,calls_started_at,sqlite_autoindex_calls_1");
    sqlite3_finalize(st);
    char got[1024];
    row_text(db, "c-begin", "outcome,ended_at,duration_ms,started_at,day", got, sizeof got);
    assert_string_equal(got, "outcome=incomplete;ended_at=NULL;duration_ms=NULL;started_at=2026-05-"
                             "29T06:14:12.345Z;day=2026-05-29;");
    sqlite3_close(db);
}

/* TG_LEDGER_DAYS: the UTC days ?1..?2 both whole, by the started_at index */
static void test_day_range_is_an_index_range(void **state)
{
    (void)state;
    static const int64_t at[] = {
        1780012799999, /* 2026-05-28T23:59:59.999Z: before */
        1780012800000, /* 2026-05-29T00:00:00.000Z: first instant of ?1 */
        1780099199999, /* 2026-05-29T23:59:59.999Z */
        1780185599999, /* 2026-05-30T23:59:59.999Z: last instant of ?2 */
        1780185600000, /* 2026-05-31T00:00:00.000Z: after */
    };
    struct tg_ledger *l = NULL;
    struct tg_errbuf eb;
    struct tg_call_record r;
    assert_int_equal(tg_ledger_open(path, &l, &eb), 0);
    for (int i = 0; i < 5; i++) {
        char id[] = "c-0";
        id[2] = (char)('0' + i);
        fill(&r, id);
        r.started_at_ms = at[i];
        r.ended_at_ms = at[i] + 1;
        tg_ledger_finish(l, &r, NULL, NULL);
    }
    tg_ledger_close(l);
    sqlite3 *db = reader();
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT group_concat(call_id, ',') FROM (SELECT call_id "
                                        "FROM calls WHERE " TG_LEDGER_DAYS " ORDER BY call_id)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, "2026-05-29", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, "2026-05-30", -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "c-1,c-2,c-3");
    sqlite3_finalize(st);
    /* the same days the way `day` has them */
    assert_int_equal(
        scalar_int(db,
                   "SELECT count(*) FROM calls WHERE day BETWEEN '2026-05-29' AND '2026-05-30'"),
        3);
    assert_int_equal(sqlite3_prepare_v2(
                         db, "EXPLAIN QUERY PLAN SELECT count(*) FROM calls WHERE " TG_LEDGER_DAYS,
                         -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *plan = (const char *)sqlite3_column_text(st, 3);
    assert_non_null(strstr(plan, "INDEX calls_started_at (started_at>? AND started_at<?)"));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* How many of this process's threads are named name; *tid: one of them */
static int threads_named_tid(const char *name, int *tid)
{
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        char file[300], buf[64] = "";
        snprintf(file, sizeof file, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(file, "r");
        if (f == NULL)
            continue;
        if (fgets(buf, sizeof buf, f) != NULL && strncmp(buf, name, strlen(name)) == 0 &&
            buf[strlen(name)] == '\n') {
            n++;
            if (tid != NULL)
                *tid = atoi(e->d_name);
        }
        fclose(f);
    }
    if (d != NULL)
        closedir(d);
    return n;
}

static int threads_named(const char *name)
{
    return threads_named_tid(name, NULL);
}

/* The writer and the checkpointer are named for top -H; gone after close */
static void test_thread_names(void **state)
{
    (void)state;
    struct tg_ledger *l = NULL;
    struct tg_errbuf eb;
    assert_int_equal(tg_ledger_open(path, &l, &eb), 0);
    for (int i = 0;
         i < 200 && (threads_named("tg-ledger") == 0 || threads_named("tg-checkpoint") == 0); i++)
        usleep(5000); /* the threads name themselves as they start */
    assert_int_equal(threads_named("tg-ledger"), 1);
    assert_int_equal(threads_named("tg-checkpoint"), 1);
    tg_ledger_close(l);
    assert_int_equal(threads_named("tg-ledger"), 0);
}

static int done_calls;
static int done_visible;

static void on_done(void *ud, int ok)
{
    (void)ud;
    assert_true(ok);
    done_calls++;
    /* durable means visible to another connection right now */
    sqlite3 *db = reader();
    done_visible +=
        (int)scalar_int(db, "SELECT count(*) FROM calls WHERE call_id='c-full' AND outcome='ok'");
    sqlite3_close(db);
}

static void test_finish_replaces_begin_with_exact_columns(void **state)
{
    (void)state;
    struct tg_ledger *l = NULL;
    struct tg_errbuf eb;
    struct tg_call_record r;
    assert_int_equal(tg_ledger_open(path, &l, &eb), 0);
    fill(&r, "c-full");
    tg_ledger_begin(l, &r);
    r.is_priced = true;
    r.cost_nanos = 2075000;
    r.input_cost_nanos = 440000;
    r.cached_input_cost_nanos = 1280000;
    r.cache_write_cost_nanos = 0;
    r.output_cost_nanos = 355000;
    r.other_cost_nanos = 0;
    r.list_cost_nanos = 2075000;
    r.cache_savings_nanos = 1280000;
    snprintf(r.price_ref, sizeof r.price_ref, "default.csv:12:exact");
    done_calls = done_visible = 0;
    tg_ledger_finish(l, &r, on_done, NULL);
    fill(&r, "c-unpriced"); /* is_priced false: NULL costs, never 0 */
    tg_ledger_finish(l, &r, NULL, NULL);
    tg_ledger_close(l);
    assert_int_equal(done_calls, 1);
    assert_int_equal(done_visible, 1);

    sqlite3 *db = reader();
    assert_int_equal(scalar_int(db, "SELECT count(*) FROM calls"), 2);
    char got[4096];
    row_text(
        db, "c-full",
        "request_id,started_at,ended_at,day,duration_ms,ttft_ms,upstream_ms,provider,operation,"
        "endpoint,"
        "request_model,response_model,status_code,outcome,error_type,is_stream,attempt,input_"
        "tokens,"
        "cached_input_tokens,cache_write_5m_tokens,cache_write_1h_tokens,output_tokens,reasoning_"
        "tokens,"
        "tool_call_output_tokens,audio_input_tokens,audio_output_tokens,rejected_prediction_tokens,"
        "web_search_requests,web_fetch_requests,tool_calls,usage_estimated,cost_nanos,input_cost_"
        "nanos,"
        "cached_input_cost_nanos,cache_write_cost_nanos,output_cost_nanos,other_cost_nanos,list_"
        "cost_nanos,"
        "cache_savings_nanos,price_ref,team,cost_center,tags,attribution_sources",
        got, sizeof got);
    assert_string_equal(
        got,
        "request_id=req-1;started_at=2026-05-29T06:14:12.345Z;ended_at=2026-05-29T06:14:13.000Z;"
        "day=2026-05-29;duration_ms=655;ttft_ms=120;upstream_ms=600;provider=openai;operation=chat;"
        "endpoint=/v1/chat/completions;request_model=gpt-4o;response_model=gpt-4o-2024-08-06;"
        "status_code=200;outcome=ok;error_type=NULL;is_stream=0;attempt=1;input_tokens=1200;"
        "cached_input_tokens=1024;cache_write_5m_tokens=7;cache_write_1h_tokens=8;output_tokens=85;"
        "reasoning_tokens=40;tool_call_output_tokens=9;audio_input_tokens=3;audio_output_tokens=4;"
        "rejected_prediction_tokens=2;web_search_requests=5;web_fetch_requests=6;tool_calls=2;"
        "usage_estimated=0;cost_nanos=2075000;input_cost_nanos=440000;cached_input_cost_nanos="
        "1280000;"
        "cache_write_cost_nanos=0;output_cost_nanos=355000;other_cost_nanos=0;list_cost_nanos="
        "2075000;"
        "cache_savings_nanos=1280000;price_ref=default.csv:12:exact;team=payments;cost_center=NULL;"
        "tags={\"k\":\"v\"};attribution_sources=NULL;");
    row_text(db, "c-unpriced",
             "cost_nanos,input_cost_nanos,list_cost_nanos,cache_savings_nanos,price_ref", got,
             sizeof got);
    assert_string_equal(got, "cost_nanos=NULL;input_cost_nanos=NULL;list_cost_nanos=NULL;cache_"
                             "savings_nanos=NULL;price_ref=NULL;");
    sqlite3_close(db);
}

/* A batch's rows go in as statements of 16, 4 and 1 rows: each row lands with its own
 * values, begin rows are ignored where a row exists, and a failing row fails its whole
 * statement with the statement's first call named. */
static void test_rows_in_multirow_statements(void **state)
{
    (void)state;
    struct tg_sqlite_store *s = NULL;
    struct tg_errbuf eb;
    assert_int_equal(tg_sqlite_store_open(path, &s, &eb), 0);
    static struct tg_call_record recs[40];
    const struct tg_call_record *rows[40];
    for (int i = 0; i < 40; i++) {
        char id[37];
        snprintf(id, sizeof id, "m-%02d", i);
        fill(&recs[i], id);
        recs[i].usage.input_tokens = 1000 + i;
        recs[i].started_at_ms += i * 1000;
        rows[i] = &recs[i];
    }
    assert_int_equal(tg_sqlite_store_begin(s, &eb), 0);
    assert_int_equal(tg_sqlite_store_put_rows(s, rows, 37, true, &eb), 0); /* 16+16+4+1 */
    /* begin rows for m-30..m-39: the first seven have rows (ignored), m-37..m-39 are new */
    assert_int_equal(tg_sqlite_store_put_rows(s, rows + 30, 10, false, &eb), 0);
    assert_int_equal(tg_sqlite_store_commit(s, &eb), 0);

    sqlite3 *db = reader();
    assert_int_equal(scalar_int(db, "SELECT count(*) FROM calls"), 40);
    assert_int_equal(scalar_int(db, "SELECT count(*) FROM calls WHERE outcome='ok'"), 37);
    assert_int_equal(scalar_int(db, "SELECT count(*) FROM calls WHERE outcome='incomplete' AND "
                                    "call_id >= 'm-37' AND ended_at IS NULL"),
                     3);
    assert_int_equal(scalar_int(db, "SELECT sum(input_tokens) FROM calls"), 40 * 1000 + 780);
    char got[512];
    static const int probe[] = {0, 15, 16, 31, 32, 35, 36, 38};
    for (size_t k = 0; k < sizeof probe / sizeof probe[0]; k++) {
        int i = probe[k];
        char id[37], want[512];
        snprintf(id, sizeof id, "m-%02d", i);
        row_text(db, id, "started_at,input_tokens,team,outcome", got, sizeof got);
        snprintf(want, sizeof want,
                 "started_at=2026-05-29T06:%02d:%02d.345Z;input_tokens=%d;team=payments;"
                 "outcome=%s;",
                 14 + (12 + i) / 60, (12 + i) % 60, 1000 + i, i < 37 ? "ok" : "incomplete");
        assert_string_equal(got, want);
    }
    sqlite3_close(db);

    /* m-18 has no outcome (NOT NULL): the 4-row statement m-16..m-19 fails */
    for (int i = 0; i < 20; i++)
        snprintf(recs[i].call_id, sizeof recs[i].call_id, "f-%02d", i);
    recs[18].outcome[0] = '\0';
    assert_int_equal(tg_sqlite_store_begin(s, &eb), 0);
    assert_int_not_equal(tg_sqlite_store_put_rows(s, rows, 20, true, &eb), 0);
    assert_non_null(strstr(eb.msg, "ledger: insert f-16 (4 rows): NOT NULL constraint failed"));
    tg_sqlite_store_rollback(s);
    tg_sqlite_store_close(s);
    db = reader();
    assert_int_equal(scalar_int(db, "SELECT count(*) FROM calls WHERE call_id LIKE 'f-%'"), 0);
    sqlite3_close(db);
}

/* A statement's parameters stay bound from one run to the next and only changed values
 * are bound again (sqlite_store.c, struct param): every change of a parameter between
 * runs of the same statement slot — text to NULL and back, a text to another of the same
 * length, a long text (bound from the row) to a short one and back, a number to NULL, a
 * value repeated — lands as the row says, in both the 1-row and the 4-row statement. */
static void test_bindings_kept_between_rows(void **state)
{
    (void)state;
    struct tg_sqlite_store *s = NULL;
    struct tg_errbuf eb;
    assert_int_equal(tg_sqlite_store_open(path, &s, &eb), 0);
    static const char long_tags[] =
        "{\"team\":\"payments\",\"ticket\":\"FIN-2231\",\"region\":\"eu-west-1\"}";
    static const char long_tags2[] =
        "{\"team\":\"payments\",\"ticket\":\"FIN-2232\",\"region\":\"eu-west-1\"}";
    static struct tg_call_record r[5];
    for (int i = 0; i < 5; i++) {
        char id[37];
        snprintf(id, sizeof id, "k-%d", i);
        fill(&r[i], id);
        r[i].is_priced = true;
        r[i].cost_nanos = 500;
    }
    /* k-0: the baseline; k-1: team gone, tags long, unpriced, another error */
    snprintf(r[0].tags, sizeof r[0].tags, "{\"a\":\"b\"}");
    r[1].team[0] = '\0';
    snprintf(r[1].tags, sizeof r[1].tags, "%s", long_tags);
    r[1].is_priced = false;
    snprintf(r[1].error_type, sizeof r[1].error_type, "timeout");
    r[1].ttft_ms = -1;
    /* k-2: team back with one letter changed (same length), k-0's tags again, priced at
     * another cost; k-3 repeats k-2 but for its id, cost and input; k-4 has another long
     * text */
    snprintf(r[2].team, sizeof r[2].team, "paymentz");
    snprintf(r[2].tags, sizeof r[2].tags, "{\"a\":\"b\"}"); /* k-0's, before the long one */
    r[2].cost_nanos = 777;
    r[3] = r[2];
    snprintf(r[3].call_id, sizeof r[3].call_id, "k-3");
    r[3].cost_nanos = 778; /* a number to another */
    r[3].usage.input_tokens = 1201;
    r[4] = r[2];
    snprintf(r[4].call_id, sizeof r[4].call_id, "k-4");
    snprintf(r[4].tags, sizeof r[4].tags, "%s", long_tags2);
    const char *cols = "team,tags,cost_nanos,error_type,ttft_ms,input_tokens";
    char want[5][512];
    for (int i = 0; i < 5; i++) {
        char cost[24] = "NULL";
        if (r[i].is_priced)
            snprintf(cost, sizeof cost, "%lld", (long long)r[i].cost_nanos);
        snprintf(want[i], sizeof want[i],
                 "team=%s;tags=%s;cost_nanos=%s;error_type=%s;ttft_ms=%s;input_tokens=%lld;",
                 r[i].team[0] ? r[i].team : "NULL", r[i].tags, cost,
                 r[i].error_type[0] ? r[i].error_type : "NULL", r[i].ttft_ms < 0 ? "NULL" : "120",
                 (long long)r[i].usage.input_tokens);
    }
    /* one row a run of the 1-row statement, then the five again (k-0..k-3 in one run of the
     * 4-row statement after a first run, k-4 in the 1-row one): as final rows replacing */
    for (int round = 0; round < 2; round++) {
        assert_int_equal(tg_sqlite_store_begin(s, &eb), 0);
        if (round == 0) {
            for (int i = 0; i < 5; i++) {
                const struct tg_call_record *one = &r[i];
                assert_int_equal(tg_sqlite_store_put_rows(s, &one, 1, true, &eb), 0);
            }
        } else {
            const struct tg_call_record *rows[5] = {&r[1], &r[0], &r[3], &r[2], &r[4]};
            assert_int_equal(tg_sqlite_store_put_rows(s, rows, 4, true, &eb), 0);
            assert_int_equal(tg_sqlite_store_put_rows(s, rows, 5, true, &eb), 0);
        }
        assert_int_equal(tg_sqlite_store_commit(s, &eb), 0);
        sqlite3 *db = reader();
        assert_int_equal(scalar_int(db, "SELECT count(*) FROM calls WHERE call_id LIKE 'k-%'"), 5);
        for (int i = 0; i < 5; i++) {
            char id[16], got[512];
            snprintf(id, sizeof id, "k-%d", i);
            row_text(db, id, cols, got, sizeof got);
            assert_string_equal(got, want[i]);
        }
        sqlite3_close(db);
    }
    tg_sqlite_store_close(s);
}

struct producer {
    struct tg_ledger *l;
    int id;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    struct tg_call_record r;
    for (int i = 0; i < 5000; i++) {
        char id[37];
        snprintf(id, sizeof id, "p%d-%d", p->id, i);
        fill(&r, id);
        tg_ledger_begin(p->l, &r);
        tg_ledger_finish(p->l, &r, NULL, NULL);
    }
    return NULL;
}

static void test_concurrent_producers(void **state)
{
    (void)state;
    struct tg_ledger *l = NULL;
    struct tg_errbuf eb;
    assert_int_equal(tg_ledger_open(path, &l, &eb), 0);
    pthread_t t[4];
    struct producer p[4];
    for (int i = 0; i < 4; i++) {
        p[i].l = l;
        p[i].id = i;
        pthread_create(&t[i], NULL, produce, &p[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    tg_ledger_close(l);
    sqlite3 *db = reader();
    assert_int_equal(scalar_int(db, "SELECT count(*) FROM calls WHERE outcome='ok'"), 20000);
    assert_int_equal(scalar_int(db, "SELECT count(*) FROM calls WHERE outcome!='ok'"), 0);
    assert_int_equal(scalar_int(db, "SELECT sum(input_tokens) FROM calls"), 20000 * 1200);
    sqlite3_close(db);
}

/* The checkpoint sequence number in the write-ahead log's header: how many times the log
 * started over (https://www.sqlite.org/fileformat.html#the_write_ahead_log) */
static uint32_t wal_restarts(void)
{
    char wal[160];
    unsigned char h[16];
    snprintf(wal, sizeof wal, "%s-wal", path);
    FILE *f = fopen(wal, "rb");
    assert_non_null(f);
    assert_int_equal(fread(h, 1, sizeof h, f), sizeof h);
    fclose(f);
    return (uint32_t)h[12] << 24 | (uint32_t)h[13] << 16 | (uint32_t)h[14] << 8 | h[15];
}

/* Under steady writes the log is checkpointed and starts over: it does not grow with every
 * row written (it used to: the checkpointer's connection never knew the database was in
 * WAL mode, and a writer committing all through a checkpoint kept the log from ever
 * being wholly backfilled). */
static void test_the_log_starts_over_under_steady_writes(void **state)
{
    (void)state;
    struct tg_ledger *l = NULL;
    struct tg_journal *j = NULL;
    struct tg_errbuf eb;
    struct tg_call_record r;
    assert_int_equal(tg_ledger_open(path, &l, &eb), 0);
    assert_int_equal(tg_ledger_add_journal(l, &j, &eb), 0);
    int n = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do { /* 20 rows a millisecond for 1.2 s: about five checkpoint rounds of 250 ms */
        for (int i = 0; i < 20; i++, n++) {
            char id[37];
            snprintf(id, sizeof id, "c-steady-%d", n);
            fill(&r, id);
            if (!tg_ledger_finish_journaled(l, j, &r, NULL, NULL))
                assert_int_equal(tg_ledger_flush(l, 5000), 0); /* the journal was full */
        }
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 1200);
    assert_int_equal(tg_ledger_flush(l, 5000), 0);
    assert_true(wal_restarts() >= 2);
    struct stat st;
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", path);
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(tg_ledger_wal_bytes(l), st.st_size); /* the gauge on /metrics */
    assert_true(st.st_size > 0 && st.st_size < 64 << 20);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 256 * 1024); /* the rows reached the database file */
    sqlite3 *db = reader();
    assert_int_equal(scalar_int(db, "SELECT count(*) FROM calls WHERE call_id LIKE 'c-steady-%'"),
                     n);
    sqlite3_close(db);
    tg_ledger_close(l);
}

/* A journaled row is durable when tg_ledger_finish_journaled returns: a process killed
 * right after (before its writer commits) leaves it for the next open to replay. */
static void test_journaled_rows_survive_a_crash(void **state)
{
    (void)state;
    pid_t pid = fork();
    if (pid == 0) {
        struct tg_ledger *l = NULL;
        struct tg_journal *j = NULL;
        struct tg_errbuf eb;
        struct tg_call_record r;
        if (tg_ledger_open(path, &l, &eb) != 0 || tg_ledger_add_journal(l, &j, &eb) != 0)
            _exit(2);
        for (int i = 0; i < 3; i++) {
            char id[37];
            snprintf(id, sizeof id, "c-j%d", i);
            fill(&r, id);
            r.usage.output_tokens = 85 + i;
            if (!tg_ledger_finish_journaled(l, j, &r, NULL, NULL))
                _exit(3);
        }
        _exit(0); /* as kill -9: no close, no commit waited for */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    struct tg_ledger *l = NULL;
    struct tg_errbuf eb;
    assert_int_equal(tg_ledger_open(path, &l, &eb), 0);
    tg_ledger_close(l);
    sqlite3 *db = reader();
    assert_int_equal(scalar_int(db, "SELECT count(*) FROM calls"), 3);
    char got[1024];
    row_text(db, "c-j2", "outcome,input_tokens,output_tokens,team,tags,ended_at", got, sizeof got);
    assert_string_equal(got, "outcome=ok;input_tokens=1200;output_tokens=87;team=payments;"
                             "tags={\"k\":\"v\"};ended_at=2026-05-29T06:14:13.000Z;");
    sqlite3_close(db);
    char jpath[160];
    snprintf(jpath, sizeof jpath, "%s.journal.0", path);
    assert_int_equal(access(jpath, F_OK), -1); /* replayed once, then removed */
}

/* Reports wait for rows queued before them: flush returns once they are visible. */
static void test_flush_makes_journaled_rows_visible(void **state)
{
    (void)state;
    struct tg_ledger *l = NULL;
    struct tg_journal *j = NULL;
    struct tg_errbuf eb;
    struct tg_call_record r;
    assert_int_equal(tg_ledger_open(path, &l, &eb), 0);
    assert_int_equal(tg_ledger_add_journal(l, &j, &eb), 0);
    fill(&r, "c-flush");
    assert_true(tg_ledger_finish_journaled(l, j, &r, NULL, NULL));
    assert_int_equal(tg_ledger_flush(l, 5000), 0);
    sqlite3 *db = reader();
    assert_int_equal(scalar_int(db, "SELECT count(*) FROM calls WHERE call_id='c-flush'"), 1);
    /* the writer read the row back from the journal: the same row as a queued copy */
    snprintf(r.call_id, sizeof r.call_id, "c-copy");
    tg_ledger_finish(l, &r, NULL, NULL);
    assert_int_equal(tg_ledger_flush(l, 5000), 0);
    static const char cols[] =
        "request_id,started_at,ended_at,day,duration_ms,ttft_ms,upstream_ms,provider,operation,"
        "endpoint,request_model,response_model,status_code,outcome,attempt,input_tokens,"
        "cached_input_tokens,cache_write_5m_tokens,cache_write_1h_tokens,output_tokens,"
        "reasoning_tokens,tool_call_output_tokens,audio_input_tokens,audio_output_tokens,"
        "rejected_prediction_tokens,web_search_requests,web_fetch_requests,tool_calls,team,tags";
    char a[4096], b[4096];
    row_text(db, "c-flush", cols, a, sizeof a);
    row_text(db, "c-copy", cols, b, sizeof b);
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "team=payments;tags={\"k\":\"v\"};"));
    sqlite3_close(db);
    tg_ledger_close(l);
}

static int fallback_done;

static void on_fallback_done(void *ud, int ok)
{
    (void)ud;
    assert_true(ok);
    fallback_done++;
}

/* A store that falls behind (another connection holds the write lock) fills the journal;
 * the next row is queued to wait for its commit instead, and nothing is lost. */
static void test_full_journal_falls_back_to_waiting_for_the_commit(void **state)
{
    (void)state;
    struct tg_ledger *l = NULL;
    struct tg_journal *j = NULL;
    struct tg_errbuf eb;
    struct tg_call_record r;
    assert_int_equal(tg_ledger_open(path, &l, &eb), 0);
    assert_int_equal(tg_ledger_add_journal(l, &j, &eb), 0);
    sqlite3 *blocker = NULL;
    assert_int_equal(sqlite3_open(path, &blocker), SQLITE_OK);
    assert_int_equal(sqlite3_exec(blocker, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    int journaled = 0;
    fallback_done = 0;
    for (;; journaled++) {
        char id[37];
        snprintf(id, sizeof id, "c-full-%d", journaled);
        fill(&r, id);
        if (!tg_ledger_finish_journaled(l, j, &r, on_fallback_done, NULL))
            break;
    }
    /* ~460 bytes per record of fill()'s in a 2 MB ring */
    assert_true(journaled > 2000 && journaled < 20000);
    assert_int_equal(fallback_done, 0);
    assert_int_equal(sqlite3_exec(blocker, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(blocker);
    assert_int_equal(tg_ledger_flush(l, 10000), 0);
    assert_int_equal(fallback_done, 1); /* the waiting row's commit was reported */
    tg_ledger_close(l);
    sqlite3 *db = reader();
    assert_int_equal(scalar_int(db, "SELECT count(*) FROM calls WHERE outcome='ok'"),
                     journaled + 1);
    sqlite3_close(db);
}

/* The scheduling policy of this process's thread named name, or -1 */
static int policy_of(const char *name)
{
    int tid = 0;
    return threads_named_tid(name, &tid) > 0 ? sched_getscheduler(tid) : -1;
}

static bool policy_becomes(const char *name, int policy)
{
    for (int i = 0; i < 400 && policy_of(name) != policy; i++)
        usleep(5000);
    return policy_of(name) == policy;
}

/* Row c-idle-<i>, journaled */
static void append_row(struct tg_ledger *l, struct tg_journal *j, int i)
{
    struct tg_call_record r;
    char id[37];
    snprintf(id, sizeof id, "c-idle-%d", i);
    fill(&r, id);
    assert_true(tg_ledger_finish_journaled(l, j, &r, NULL, NULL));
}

/* Where the process may give it back normal priority, the writer does its batches under
 * SCHED_IDLE while it keeps up (and holds the queue's mutex only at SCHED_OTHER); the
 * append that leaves its journal half full gives it SCHED_OTHER at once, until a batch
 * finds it caught up; tg_ledger_writer_normal keeps it SCHED_OTHER. Elsewhere it is
 * SCHED_OTHER throughout. A lock held on the store by another connection keeps the
 * writer inside a batch, where its policy can be read. */
static void test_writer_idles_while_caught_up(void **state)
{
    (void)state;
    struct tg_ledger *l = NULL;
    struct tg_journal *j = NULL;
    struct tg_errbuf eb;
    assert_int_equal(tg_ledger_open(path, &l, &eb), 0);
    assert_int_equal(tg_ledger_add_journal(l, &j, &eb), 0);
    sqlite3 *blocker = NULL;
    assert_int_equal(sqlite3_open(path, &blocker), SQLITE_OK);
    bool idles = tg_ledger_writer_idles(l);
    assert_int_equal(sqlite3_exec(blocker, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    int n = 0;
    append_row(l, j, n++);
    assert_true(policy_becomes("tg-ledger", idles ? SCHED_IDLE : SCHED_OTHER));
    if (!idles) {
        assert_int_equal(sqlite3_exec(blocker, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(blocker);
        tg_ledger_close(l);
        skip();
    }
    while (!tg_journal_half_full(j)) {
        assert_int_equal(policy_of("tg-ledger"), SCHED_IDLE);
        append_row(l, j, n++);
    }
    assert_true(n > 1000);
    assert_int_equal(policy_of("tg-ledger"), SCHED_OTHER); /* given by that append */
    assert_int_equal(sqlite3_exec(blocker, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(tg_ledger_flush(l, 10000), 0);
    /* caught up: the next batch is on idle time again */
    assert_int_equal(sqlite3_exec(blocker, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    append_row(l, j, n++);
    assert_true(policy_becomes("tg-ledger", SCHED_IDLE));
    assert_int_equal(sqlite3_exec(blocker, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(tg_ledger_flush(l, 10000), 0);
    tg_ledger_writer_normal(l);
    assert_false(tg_ledger_writer_idles(l));
    assert_int_equal(sqlite3_exec(blocker, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    append_row(l, j, n++);
    usleep(50000);
    assert_int_equal(policy_of("tg-ledger"), SCHED_OTHER);
    assert_int_equal(sqlite3_exec(blocker, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(blocker);
    tg_ledger_close(l);
    sqlite3 *db = reader();
    assert_int_equal(scalar_int(db, "SELECT count(*) FROM calls WHERE outcome='ok'"), n);
    sqlite3_close(db);
}

static void test_readonly_open_errors(void **state)
{
    (void)state;
    sqlite3 *db = NULL;
    struct tg_errbuf eb;
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.db", dir);
    assert_int_equal(tg_ledger_open_readonly(missing, &db, &eb), TG_ERR_NOTFOUND);
    char want[400];
    snprintf(want, sizeof want,
             "ledger %s: no such file (start the gateway with --ledger %s first)", missing,
             missing);
    assert_string_equal(eb.msg, want);
    struct tg_ledger *l = NULL;
    assert_int_equal(tg_ledger_open(path, &l, &eb), 0);
    tg_ledger_close(l);
    assert_int_equal(tg_ledger_open_readonly(path, &db, &eb), 0);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_and_begin_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_day_range_is_an_index_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thread_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_idles_while_caught_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_replaces_begin_with_exact_columns, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rows_in_multirow_statements, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bindings_kept_between_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_producers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journaled_rows_survive_a_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_makes_journaled_rows_visible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_journal_falls_back_to_waiting_for_the_commit,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_log_starts_over_under_steady_writes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_readonly_open_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
