/* store/sqlite_store.c - the `calls` table in SQLite: migrations and the row writer
 *
 * The table's shape is a public interface (docs/LEDGER.md) and changes only by adding a
 * migration to the list below; applied versions are kept in schema_migrations. */
#include "store/sqlite_store.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "store/walbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A batch's rows go in as few INSERT statements as it takes, of TG_STORE_ROWS_MAX, 4 or
 * 1 rows each: a statement's own work (cursors opened and closed, its registers freed,
 * the reset) is ~6k instructions of a row's ~32k when each row is its own. Callgrind, in
 * 20-row transactions: 37.1k a row one by one, 30.4k as 16+4; statements of 2 and 8
 * rows as well gained nothing more. */
static const int stmt_rows[] = {TG_STORE_ROWS_MAX, 4, 1};
#define N_SIZES ((int)(sizeof stmt_rows / sizeof stmt_rows[0]))

/* What one parameter of an INSERT holds, as the last row bound there left it. Parameters
 * stay bound from one run of a statement to the next (no sqlite3_clear_bindings) and a
 * value is bound only when it differs: most of a batch's values repeat from row to row
 * (provider, endpoint, model, status, prices, the zero counts), and a bind and its share
 * of clearing cost ~150 instructions (a row binds ~45 values). A short text is bound
 * SQLITE_STATIC from the parameter's own copy, so it can be compared with the next
 * row's; a longer one from the row itself, and always bound again: that binding outlives
 * the row (freed or reused after the commit), but no run reads it, as every run binds
 * each of its parameters first. */
enum { P_NULL, P_INT, P_TEXT, P_LONG };
#define PARAM_TEXT 47 /* a UUID, a timestamp, a model name fit */

struct param {
    int64_t v; /* P_INT */
    unsigned char kind, len;
    char t[PARAM_TEXT + 1]; /* P_TEXT: the text bound, NUL-terminated */
};

struct tg_sqlite_store {
    sqlite3 *db;
    sqlite3_stmt *ins[2][N_SIZES]; /* [is_final][size]: INSERT OR IGNORE / OR REPLACE */
    struct param *par[2][N_SIZES]; /* each statement's parameters, in bind order */
    sqlite3_stmt *begin, *commit;
};

static const char *const migrations[] = {
    /* 1: the calls table of DESIGN.md's ledger contract */
    "CREATE TABLE calls ("
    " call_id TEXT PRIMARY KEY, request_id TEXT, trace_id TEXT, span_id TEXT, parent_span_id TEXT,"
    " started_at TEXT NOT NULL, ended_at TEXT, day TEXT NOT NULL, duration_ms INTEGER,"
    " ttft_ms INTEGER, upstream_ms INTEGER,"
    " provider TEXT, operation TEXT, endpoint TEXT,"
    " request_model TEXT, response_model TEXT, response_id TEXT, provider_request_id TEXT,"
    " status_code INTEGER, outcome TEXT NOT NULL, error_type TEXT, finish_reason TEXT, "
    "service_tier TEXT,"
    " is_stream INTEGER NOT NULL DEFAULT 0, attempt INTEGER NOT NULL DEFAULT 0,"
    " request_bytes INTEGER, response_bytes INTEGER,"
    " input_tokens INTEGER NOT NULL DEFAULT 0, cached_input_tokens INTEGER NOT NULL DEFAULT 0,"
    " cache_write_5m_tokens INTEGER NOT NULL DEFAULT 0, cache_write_1h_tokens INTEGER NOT NULL "
    "DEFAULT 0,"
    " output_tokens INTEGER NOT NULL DEFAULT 0, reasoning_tokens INTEGER NOT NULL DEFAULT 0,"
    " tool_call_output_tokens INTEGER NOT NULL DEFAULT 0, audio_input_tokens INTEGER NOT NULL "
    "DEFAULT 0,"
    " audio_output_tokens INTEGER NOT NULL DEFAULT 0, rejected_prediction_tokens INTEGER NOT NULL "
    "DEFAULT 0,"
    " web_search_requests INTEGER NOT NULL DEFAULT 0, web_fetch_requests INTEGER NOT NULL DEFAULT "
    "0,"
    " tool_calls INTEGER NOT NULL DEFAULT 0, usage_estimated INTEGER NOT NULL DEFAULT 0,"
    " cost_nanos INTEGER, input_cost_nanos INTEGER, cached_input_cost_nanos INTEGER,"
    " cache_write_cost_nanos INTEGER, output_cost_nanos INTEGER, other_cost_nanos INTEGER,"
    " list_cost_nanos INTEGER, cache_savings_nanos INTEGER, price_ref TEXT,"
    " tenant_id TEXT, team TEXT, cost_center TEXT, feature_id TEXT, workflow_id TEXT, actor_id "
    "TEXT,"
    " actor_type TEXT, environment TEXT, service TEXT, conversation_id TEXT,"
    " tags TEXT, attribution_sources TEXT, key_id TEXT, budget_scope TEXT, budget_decision TEXT);"
    /* every index is paid for on the hot insert path: only the time ones, which every
     * report and export ranges over; add others with a migration when a query needs one */
    "CREATE INDEX calls_started_at ON calls(started_at);"
    "CREATE INDEX calls_day ON calls(day);",
    /* 2: budgets (docs/BUDGETS.md): what each call counts against budgets, the budgets set
     * from the CLI or the admin API, and the running gateway's live counters */
    "ALTER TABLE calls ADD COLUMN budget_charge_nanos INTEGER;"
    "CREATE TABLE budgets (budget_id TEXT PRIMARY KEY, scope TEXT NOT NULL, value TEXT NOT NULL,"
    " period TEXT NOT NULL, limit_nanos INTEGER NOT NULL, soft_pct INTEGER NOT NULL DEFAULT 0,"
    " action TEXT NOT NULL, created_at_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL,"
    " UNIQUE(scope, value, period));"
    "CREATE TABLE budget_state (id INTEGER PRIMARY KEY CHECK (id = 1),"
    " updated_at_ms INTEGER NOT NULL, counters TEXT NOT NULL);",
    /* 3: one index less on the insert path (5.5k instructions of ~40k a row): day ranges
     * are started_at ranges (TG_LEDGER_DAYS) */
    "DROP INDEX calls_day;",
};

#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

/* Columns in bind order; the INSERT statements are generated from this list. */
static const char *const columns[] = {"call_id",
                                      "request_id",
                                      "trace_id",
                                      "span_id",
                                      "parent_span_id",
                                      "started_at",
                                      "ended_at",
                                      "day",
                                      "duration_ms",
                                      "ttft_ms",
                                      "upstream_ms",
                                      "provider",
                                      "operation",
                                      "endpoint",
                                      "request_model",
                                      "response_model",
                                      "response_id",
                                      "provider_request_id",
                                      "status_code",
                                      "outcome",
                                      "error_type",
                                      "finish_reason",
                                      "service_tier",
                                      "is_stream",
                                      "attempt",
                                      "request_bytes",
                                      "response_bytes",
                                      "input_tokens",
                                      "cached_input_tokens",
                                      "cache_write_5m_tokens",
                                      "cache_write_1h_tokens",
                                      "output_tokens",
                                      "reasoning_tokens",
                                      "tool_call_output_tokens",
                                      "audio_input_tokens",
                                      "audio_output_tokens",
                                      "rejected_prediction_tokens",
                                      "web_search_requests",
                                      "web_fetch_requests",
                                      "tool_calls",
                                      "usage_estimated",
                                      "cost_nanos",
                                      "input_cost_nanos",
                                      "cached_input_cost_nanos",
                                      "cache_write_cost_nanos",
                                      "output_cost_nanos",
                                      "other_cost_nanos",
                                      "list_cost_nanos",
                                      "cache_savings_nanos",
                                      "price_ref",
                                      "tenant_id",
                                      "team",
                                      "cost_center",
                                      "feature_id",
                                      "workflow_id",
                                      "actor_id",
                                      "actor_type",
                                      "environment",
                                      "service",
                                      "conversation_id",
                                      "tags",
                                      "attribution_sources",
                                      "key_id",
                                      "budget_scope",
                                      "budget_decision",
                                      "budget_charge_nanos"};

#define N_COLUMNS ((int)(sizeof columns / sizeof columns[0]))

static int exec(sqlite3 *db, const char *sql, struct tg_errbuf *eb)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        int rc = tg_errf(eb, TG_ERR_IO, "ledger: %s", err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        return rc;
    }
    return 0;
}

int tg_ledger_migrate(sqlite3 *db, int *version, struct tg_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int rc = 0, have = 0;
    rc = exec(db, "BEGIN IMMEDIATE", eb);
    if (rc != 0)
        return rc;
    rc = exec(db,
              "CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, "
              "applied_at TEXT NOT NULL)",
              eb);
    if (rc != 0)
        goto out;
    if (sqlite3_prepare_v2(db, "SELECT coalesce(max(version),0) FROM schema_migrations", -1, &st,
                           NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        rc = tg_errf(eb, TG_ERR_IO, "ledger: %s", sqlite3_errmsg(db));
        goto out;
    }
    have = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (have > N_MIGRATIONS) {
        rc = tg_errf(eb, TG_ERR_INVALID,
                     "ledger: schema version %d is newer than this tollgate (%d); upgrade tollgate",
                     have, N_MIGRATIONS);
        goto out;
    }
    for (int v = have + 1; v <= N_MIGRATIONS; v++) {
        char ts[25], sql[128];
        tg_iso8601_ms(tg_now_ms(), ts);
        rc = exec(db, migrations[v - 1], eb);
        if (rc != 0)
            goto out;
        snprintf(sql, sizeof sql, "INSERT INTO schema_migrations VALUES(%d,'%s')", v, ts);
        rc = exec(db, sql, eb);
        if (rc != 0)
            goto out;
    }
    *version = N_MIGRATIONS;
out:
    sqlite3_finalize(st);
    if (rc == 0)
        rc = exec(db, "COMMIT", eb);
    else
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, struct tg_errbuf *eb)
{
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return tg_errf(eb, TG_ERR_IO, "ledger: %s", sqlite3_errmsg(db));
    return 0;
}

/* INSERT OR <verb> INTO calls(...) VALUES(?,...),... with `rows` rows of parameters */
static int prepare_insert(sqlite3 *db, const char *verb, int rows, sqlite3_stmt **st,
                          struct tg_errbuf *eb)
{
    char sql[8192]; /* the column list (~1.2 KB), then 16 rows of 62 parameters (~2 KB) */
    size_t n = (size_t)snprintf(sql, sizeof sql, "INSERT OR %s INTO calls(", verb);
    for (int i = 0; i < N_COLUMNS; i++)
        n += (size_t)snprintf(sql + n, sizeof sql - n, "%s%s", i ? "," : "", columns[i]);
    n += (size_t)snprintf(sql + n, sizeof sql - n, ") VALUES");
    for (int k = 0; k < rows; k++) {
        n += (size_t)snprintf(sql + n, sizeof sql - n, "%s(", k ? "," : "");
        for (int i = 0; i < N_COLUMNS; i++)
            n += (size_t)snprintf(sql + n, sizeof sql - n, "%s?", i ? "," : "");
        n += (size_t)snprintf(sql + n, sizeof sql - n, ")");
    }
    return prepare(db, sql, st, eb);
}

int tg_sqlite_store_open(const char *path, struct tg_sqlite_store **out, struct tg_errbuf *eb)
{
    struct tg_sqlite_store *s = tg_calloc(1, sizeof *s);
    int rc = 0, version = 0;
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        tg_walbuf_vfs()) != SQLITE_OK) {
        rc = tg_errf(eb, TG_ERR_IO, "ledger %s: %s", path, sqlite3_errmsg(s->db));
        goto out;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* checkpoints run on their own thread (store/ledger.c). The log starts over after each
     * and is cut back to 64 MB then: it outgrows that only while a long read (a report)
     * keeps it from starting over. Debian builds SQLite with secure_delete on, which
     * zeroes the room a cell leaves in a page as the b-tree moves cells about: ~550
     * instructions a row here, where nothing is deleted but a begin row that its own
     * call's final row replaces. */
    rc = exec(s->db,
              "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;"
              " PRAGMA journal_size_limit=67108864; PRAGMA secure_delete=OFF",
              eb);
    if (rc == 0)
        rc = tg_ledger_migrate(s->db, &version, eb);
    for (int f = 0; f < 2; f++)
        for (int k = 0; k < N_SIZES && rc == 0; k++) {
            rc = prepare_insert(s->db, f ? "REPLACE" : "IGNORE", stmt_rows[k], &s->ins[f][k], eb);
            /* calloc: every kind P_NULL, as a statement's parameters start */
            s->par[f][k] = tg_calloc((size_t)(stmt_rows[k] * N_COLUMNS), sizeof(struct param));
        }
    if (rc == 0)
        rc = prepare(s->db, "BEGIN", &s->begin, eb);
    if (rc == 0)
        rc = prepare(s->db, "COMMIT", &s->commit, eb);
out:
    if (rc != 0) {
        tg_sqlite_store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int step(struct tg_sqlite_store *s, sqlite3_stmt *st, struct tg_errbuf *eb)
{
    int rc = sqlite3_step(st) == SQLITE_DONE
                 ? 0
                 : tg_errf(eb, TG_ERR_IO, "ledger: %s", sqlite3_errmsg(s->db));
    sqlite3_reset(st);
    return rc;
}

int tg_sqlite_store_begin(struct tg_sqlite_store *s, struct tg_errbuf *eb)
{
    return step(s, s->begin, eb);
}

int tg_sqlite_store_commit(struct tg_sqlite_store *s, struct tg_errbuf *eb)
{
    return step(s, s->commit, eb);
}

void tg_sqlite_store_checkpoint(struct tg_sqlite_store *s)
{
    sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

void tg_sqlite_store_rollback(struct tg_sqlite_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* The parameters of one row of a statement, bound in column order (struct param). */
struct binder {
    sqlite3_stmt *st;
    struct param *p; /* the next parameter's */
    int i;           /* its index, from 1 */
};

static void null(struct binder *b)
{
    if (b->p->kind != P_NULL) {
        sqlite3_bind_null(b->st, b->i);
        b->p->kind = P_NULL;
    }
    b->p++, b->i++;
}

static void num(struct binder *b, int64_t v)
{
    struct param *p = b->p;
    if (p->kind != P_INT || p->v != v) {
        sqlite3_bind_int64(b->st, b->i, v);
        p->kind = P_INT;
        p->v = v;
    }
    b->p++, b->i++;
}

static void num_or_null(struct binder *b, bool has, int64_t v)
{
    if (has)
        num(b, v);
    else
        null(b);
}

/* An empty text is stored as NULL. */
static void text(struct binder *b, const char *v)
{
    struct param *p = b->p;
    if (v == NULL || v[0] == '\0') { /* most of a row's texts */
        null(b);
        return;
    }
    size_t n = strlen(v);
    if (n > PARAM_TEXT) { /* v stays put until the statement has run */
        sqlite3_bind_text(b->st, b->i, v, (int)n, SQLITE_STATIC);
        p->kind = P_LONG;
    } else if (p->kind != P_TEXT || p->len != n || memcmp(p->t, v, n) != 0) {
        memcpy(p->t, v, n);
        p->t[n] = '\0';
        p->len = (unsigned char)n;
        p->kind = P_TEXT;
        sqlite3_bind_text(b->st, b->i, p->t, (int)n, SQLITE_STATIC);
    }
    b->p++, b->i++;
}

/* Binds r as row k of statement st, whose parameters are par. r and the texts bound from
 * it must stay put until the statement has run; the time texts formatted here are short,
 * so they are copied into their parameters. */
static void bind_row(sqlite3_stmt *st, struct param *par, int k, const struct tg_call_record *r,
                     bool is_final)
{
    const struct tg_usage *u = &r->usage;
    struct binder b = {st, par + k * N_COLUMNS, k * N_COLUMNS + 1};
    char started[25], ended[25], day[11];
    tg_iso8601_ms(r->started_at_ms, started);
    memcpy(day, started, 10);
    day[10] = '\0';
    bool ended_known = is_final && r->ended_at_ms > 0;
    if (ended_known)
        tg_iso8601_ms(r->ended_at_ms, ended);
    text(&b, r->call_id);
    text(&b, r->request_id);
    text(&b, r->trace_id);
    text(&b, r->span_id);
    text(&b, r->parent_span_id);
    text(&b, started);
    text(&b, ended_known ? ended : NULL);
    text(&b, day);
    num_or_null(&b, ended_known, r->ended_at_ms - r->started_at_ms);
    num_or_null(&b, r->ttft_ms >= 0, r->ttft_ms);
    num_or_null(&b, r->upstream_ms >= 0, r->upstream_ms);
    text(&b, r->provider);
    text(&b, r->operation);
    text(&b, r->endpoint);
    text(&b, r->request_model);
    text(&b, u->response_model);
    text(&b, u->response_id);
    text(&b, r->provider_request_id);
    num_or_null(&b, r->status_code > 0, r->status_code);
    text(&b, is_final ? r->outcome : "incomplete");
    text(&b, r->error_type);
    text(&b, u->finish_reason);
    text(&b, u->service_tier);
    num(&b, r->is_stream);
    num(&b, r->attempt);
    num(&b, r->request_bytes);
    num(&b, r->response_bytes);
    num(&b, u->input_tokens);
    num(&b, u->cached_input_tokens);
    num(&b, u->cache_write_5m_tokens);
    num(&b, u->cache_write_1h_tokens);
    num(&b, u->output_tokens);
    num(&b, u->reasoning_tokens);
    num(&b, u->tool_call_output_tokens);
    num(&b, u->audio_input_tokens);
    num(&b, u->audio_output_tokens);
    num(&b, u->rejected_prediction_tokens);
    num(&b, u->web_search_requests);
    num(&b, u->web_fetch_requests);
    num(&b, u->tool_calls);
    num(&b, r->usage_estimated);
    bool p = r->is_priced;
    num_or_null(&b, p, r->cost_nanos);
    num_or_null(&b, p, r->input_cost_nanos);
    num_or_null(&b, p, r->cached_input_cost_nanos);
    num_or_null(&b, p, r->cache_write_cost_nanos);
    num_or_null(&b, p, r->output_cost_nanos);
    num_or_null(&b, p, r->other_cost_nanos);
    num_or_null(&b, p, r->list_cost_nanos);
    num_or_null(&b, p, r->cache_savings_nanos);
    text(&b, r->price_ref);
    text(&b, r->tenant_id);
    text(&b, r->team);
    text(&b, r->cost_center);
    text(&b, r->feature_id);
    text(&b, r->workflow_id);
    text(&b, r->actor_id);
    text(&b, r->actor_type);
    text(&b, r->environment);
    text(&b, r->service);
    text(&b, r->conversation_id);
    text(&b, r->tags);
    text(&b, r->attribution_sources);
    text(&b, r->key_id);
    text(&b, r->budget_scope);
    text(&b, r->budget_decision);
    num_or_null(&b, r->has_budget_charge, r->budget_charge_nanos);
}

int tg_sqlite_store_put_rows(struct tg_sqlite_store *s, const struct tg_call_record *const *rows,
                             size_t n, bool is_final, struct tg_errbuf *eb)
{
    size_t done = 0;
    for (int z = 0; z < N_SIZES; z++) {
        size_t m = (size_t)stmt_rows[z];
        for (; n - done >= m; done += m) {
            sqlite3_stmt *st = s->ins[is_final][z];
            for (size_t k = 0; k < m; k++)
                bind_row(st, s->par[is_final][z], (int)k, rows[done + k], is_final);
            int ok = sqlite3_step(st) == SQLITE_DONE;
            sqlite3_reset(st); /* the bindings stay, as par says */
            if (!ok)
                return tg_errf(eb, TG_ERR_IO, "ledger: insert %s (%zu rows): %s",
                               rows[done]->call_id, m, sqlite3_errmsg(s->db));
        }
    }
    return 0;
}

int tg_sqlite_store_put(struct tg_sqlite_store *s, const struct tg_call_record *r, bool is_final,
                        struct tg_errbuf *eb)
{
    return tg_sqlite_store_put_rows(s, &r, 1, is_final, eb);
}

void tg_sqlite_store_close(struct tg_sqlite_store *s)
{
    if (s == NULL)
        return;
    for (int f = 0; f < 2; f++)
        for (int k = 0; k < N_SIZES; k++) {
            sqlite3_finalize(s->ins[f][k]);
            free(s->par[f][k]);
        }
    sqlite3_finalize(s->begin);
    sqlite3_finalize(s->commit);
    sqlite3_close(s->db);
    free(s);
}

int tg_ledger_open_readonly(const char *path, sqlite3 **db, struct tg_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    *db = NULL;
    if (access(path, R_OK) != 0)
        return tg_errf(eb, TG_ERR_NOTFOUND,
                       "ledger %s: no such file (start the gateway with --ledger %s first)", path,
                       path);
    /* one thread per reader: no mutex around every sqlite3_column_* call; reports read
     * the whole range, so map the file instead of pread(2)-ing it page by page */
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        rc = tg_errf(eb, TG_ERR_IO, "ledger %s: %s", path, sqlite3_errmsg(*db));
        goto out;
    }
    sqlite3_busy_timeout(*db, 5000);
    sqlite3_exec(*db, "PRAGMA mmap_size=1073741824", NULL, NULL, NULL);
    if (sqlite3_prepare_v2(*db, "SELECT max(version) FROM schema_migrations", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) < 1)
        rc = tg_errf(eb, TG_ERR_INVALID, "ledger %s: not a tollgate ledger (no schema_migrations)",
                     path);
out:
    sqlite3_finalize(st);
    if (rc != 0) {
        sqlite3_close(*db);
        *db = NULL;
    }
    return rc;
}
