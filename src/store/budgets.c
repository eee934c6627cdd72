/* store/budgets.c - budget definitions and budget spend in the ledger database
 *
 * Budgets set from the CLI live in the `budgets` table (migration 2); the gateway polls
 * it once a second, so a change takes effect within a second. Spend is never kept
 * anywhere but the ledger: at start-up, and when a budget first appears, its counters
 * are rebuilt from the `calls` table's budget_charge_nanos, so a restart never resets a
 * budget. Column names in SQL come from a fixed table (tg_budget_scope_column), never
 * from user input. */
#include "store/budgets.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/uuid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int db_err(sqlite3 *db, struct tg_errbuf *eb)
{
    return tg_errf(eb, TG_ERR_IO, "budgets: %s", sqlite3_errmsg(db));
}

int tg_budgets_set(sqlite3 *db, struct tg_budget_def *d, int64_t now_ms, struct tg_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    char id[40];
    char hex[17];
    tg_random_hex(hex, 8);
    snprintf(id, sizeof id, "bg_%s", hex);
    const char *sql =
        "INSERT INTO budgets(budget_id,scope,value,period,limit_nanos,soft_pct,action,"
        "created_at_ms,updated_at_ms) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?8) "
        "ON CONFLICT(scope,value,period) DO UPDATE SET limit_nanos=excluded.limit_nanos,"
        " soft_pct=excluded.soft_pct, action=excluded.action, updated_at_ms=excluded.updated_at_ms "
        "RETURNING budget_id, created_at_ms";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_err(db, eb);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, tg_budget_scope_name(d->scope), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, d->value, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, tg_budget_period_name(d->period), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, d->limit_nanos);
    sqlite3_bind_int(st, 6, d->soft_pct);
    sqlite3_bind_text(st, 7, d->block ? "block" : "warn", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, now_ms);
    int rc = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(d->id, sizeof d->id, "%s", (const char *)sqlite3_column_text(st, 0));
        d->created_at_ms = sqlite3_column_int64(st, 1);
    } else {
        rc = db_err(db, eb);
    }
    sqlite3_finalize(st);
    return rc;
}

int tg_budgets_delete(sqlite3 *db, const char *id, struct tg_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "DELETE FROM budgets WHERE budget_id=?1", -1, &st, NULL) !=
        SQLITE_OK)
        return db_err(db, eb);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_err(db, eb);
    sqlite3_finalize(st);
    if (rc == 0 && sqlite3_changes(db) == 0)
        rc = tg_errf(eb, TG_ERR_NOTFOUND,
                     strncmp(id, "config:", 7) == 0
                         ? "budget %s comes from the config file: change it there"
                         : "no budget %s (see `tollgate budgets list`)",
                     id);
    return rc;
}

int tg_budgets_load(sqlite3 *db, const struct tg_budget_def *cfg, int n_cfg,
                    struct tg_budget_def **out, int *n, struct tg_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int cap = n_cfg + 8, cnt = n_cfg, rc = 0;
    struct tg_budget_def *v = tg_malloc(sizeof *v * (size_t)cap);
    if (n_cfg > 0)
        memcpy(v, cfg, sizeof *v * (size_t)n_cfg);
    if (sqlite3_prepare_v2(db,
                           "SELECT budget_id,scope,value,period,limit_nanos,soft_pct,action,"
                           "created_at_ms FROM budgets ORDER BY created_at_ms, budget_id",
                           -1, &st, NULL) != SQLITE_OK) {
        free(v);
        return db_err(db, eb);
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct tg_budget_def d;
        char scope[200];
        memset(&d, 0, sizeof d);
        snprintf(d.id, sizeof d.id, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(scope, sizeof scope, "%s:%s", (const char *)sqlite3_column_text(st, 1),
                 (const char *)sqlite3_column_text(st, 2));
        if (tg_budget_parse_scope(scope, &d, eb) != 0 ||
            tg_budget_parse_period((const char *)sqlite3_column_text(st, 3), &d.period, eb) != 0)
            continue; /* written by a newer tollgate: skipped rather than misread */
        d.limit_nanos = sqlite3_column_int64(st, 4);
        d.soft_pct = sqlite3_column_int(st, 5);
        d.block = strcmp((const char *)sqlite3_column_text(st, 6), "block") == 0;
        d.created_at_ms = sqlite3_column_int64(st, 7);
        if (cnt == cap) {
            cap *= 2;
            v = tg_realloc(v, sizeof *v * (size_t)cap);
        }
        v[cnt++] = d;
    }
    rc = rc == SQLITE_DONE ? 0 : db_err(db, eb);
    sqlite3_finalize(st);
    if (rc != 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}

int tg_budgets_fingerprint(sqlite3 *db, char *out, unsigned outlen, struct tg_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT count(*), coalesce(max(updated_at_ms),0),"
                           " coalesce(sum(limit_nanos),0) FROM budgets",
                           -1, &st, NULL) != SQLITE_OK)
        return db_err(db, eb);
    int rc = 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, outlen, "%lld/%lld/%lld", (long long)sqlite3_column_int64(st, 0),
                 (long long)sqlite3_column_int64(st, 1), (long long)sqlite3_column_int64(st, 2));
    else
        rc = db_err(db, eb);
    sqlite3_finalize(st);
    return rc;
}

int tg_budgets_rebuild(sqlite3 *db, struct tg_budget_store *store, const struct tg_budget_def *defs,
                       int n, int64_t now_ms, struct tg_errbuf *eb)
{
    for (int i = 0; i < n; i++) {
        const struct tg_budget_def *d = &defs[i];
        const char *col = tg_budget_scope_column(d->scope);
        bool minute = d->period == TG_BP_MINUTE, each = strcmp(d->value, "*") == 0;
        int64_t start, end;
        char from[25], sql[512];
        tg_budget_period_bounds(d->period, now_ms, &start, &end);
        tg_iso8601_ms(start, from);
        char where[160];
        snprintf(where, sizeof where, "%s%s%s%s",
                 d->period == TG_BP_TOTAL ? "" : " AND started_at >= ?1", each ? "" : " AND ",
                 each ? "" : col, each ? "" : " = ?2");
        /* minute windows are rebuilt by second: the ISO text up to the seconds */
        snprintf(sql, sizeof sql,
                 "SELECT %s, %s, sum(budget_charge_nanos) FROM calls"
                 " WHERE budget_charge_nanos IS NOT NULL AND %s IS NOT NULL%s GROUP BY 1, 2",
                 col, minute ? "substr(started_at,1,19)||'Z'" : "''", col, where);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
            return db_err(db, eb);
        if (d->period != TG_BP_TOTAL)
            sqlite3_bind_text(st, 1, from, -1, SQLITE_TRANSIENT);
        if (!each)
            sqlite3_bind_text(st, 2, d->value, -1, SQLITE_TRANSIENT);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *value = (const char *)sqlite3_column_text(st, 0);
            int64_t at = start;
            if (minute && tg_parse_time((const char *)sqlite3_column_text(st, 1), &at) != 0)
                continue;
            store->ops->seed(store, d->id, value, at, sqlite3_column_int64(st, 2), now_ms);
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return db_err(db, eb);
    }
    return 0;
}

int tg_budgets_save_state(sqlite3 *db, const char *json, int64_t now_ms, struct tg_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO budget_state VALUES(1, ?1, ?2)", -1, &st,
                           NULL) != SQLITE_OK)
        return db_err(db, eb);
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_err(db, eb);
    sqlite3_finalize(st);
    return rc;
}

int tg_budgets_load_state(sqlite3 *db, int64_t now_ms, int64_t max_age_ms, struct tg_buf *json,
                          struct tg_errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT updated_at_ms, counters FROM budget_state WHERE id=1", -1,
                           &st, NULL) != SQLITE_OK)
        return db_err(db, eb);
    int rc = TG_ERR_NOTFOUND;
    if (sqlite3_step(st) == SQLITE_ROW && now_ms - sqlite3_column_int64(st, 0) <= max_age_ms) {
        tg_buf_appends(json, (const char *)sqlite3_column_text(st, 1));
        rc = 0;
    }
    sqlite3_finalize(st);
    if (rc != 0)
        tg_errf(eb, rc, "budgets: no live snapshot");
    return rc;
}
