/* tests/unit/finops/ledger_fixture.h - a temporary real SQLite ledger filled with hand-made calls
 *
 * A test fills the ledger through the real writer (tg_ledger_finish), then reads it back
 * read-only as the finops commands do:
 *
 *     ledger_fixture_open(&lf, "tgreport");
 *     ledger_fixture_call(&r, "c1", "2026-11-01", 3600000, 500);  ... set fields ...
 *     ledger_fixture_finish(lf.l, &r, true, 2056000);
 *     sqlite3 *db = ledger_fixture_seal(&lf);  ... run the report ...
 *     ledger_fixture_remove(&lf, db); */
#ifndef TG_TEST_LEDGER_FIXTURE_H
#define TG_TEST_LEDGER_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/record.h"
#include "store/ledger.h"
#include "store/sqlite_store.h"

struct ledger_fixture {
    char dir[64], path[128]; /* path: the ledger file, inside dir */
    struct tg_ledger *l;     /* the writer, between open and seal */
};

/* Copies v into the record's field when v is not NULL (an absent value stays ""). */
#define LEDGER_FIXTURE_SET(r, field, v)                                                            \
    do {                                                                                           \
        if ((v) != NULL)                                                                           \
            snprintf((r).field, sizeof(r).field, "%s", (v));                                       \
    } while (0)

/* Makes /tmp/<prefix>XXXXXX and opens a new ledger in it for writing (f->l). */
static inline void ledger_fixture_open(struct ledger_fixture *f, const char *prefix)
{
    struct tg_errbuf eb;
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/%sXXXXXX", prefix);
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/ledger.db", f->dir);
    assert_int_equal(tg_ledger_open(f->path, &f->l, &eb), 0);
}

/* Zeroes *r and starts it as a forwarded call: call_id id, started offset_ms after start
 * (a date or timestamp tg_parse_time reads), ended duration_ms later, outcome "ok",
 * attempt 1. */
static inline void ledger_fixture_call(struct tg_call_record *r, const char *id, const char *start,
                                       int64_t offset_ms, int64_t duration_ms)
{
    memset(r, 0, sizeof *r);
    snprintf(r->call_id, sizeof r->call_id, "%s", id);
    assert_int_equal(tg_parse_time(start, &r->started_at_ms), 0);
    r->started_at_ms += offset_ms;
    r->ended_at_ms = r->started_at_ms + duration_ms;
    snprintf(r->outcome, sizeof r->outcome, "ok");
    r->attempt = 1;
}

/* Prices r at cost nanos, all of it input cost (or leaves it unpriced) and appends it. */
static inline void ledger_fixture_finish(struct tg_ledger *l, struct tg_call_record *r,
                                         bool is_priced, int64_t cost)
{
    r->is_priced = is_priced;
    r->cost_nanos = r->input_cost_nanos = cost;
    tg_ledger_finish(l, r, NULL, NULL);
}

/* Closes the writer (every row is committed) and returns the ledger opened read-only. */
static inline sqlite3 *ledger_fixture_seal(struct ledger_fixture *f)
{
    struct tg_errbuf eb;
    sqlite3 *db = NULL;
    tg_ledger_close(f->l);
    f->l = NULL;
    assert_int_equal(tg_ledger_open_readonly(f->path, &db, &eb), 0);
    return db;
}

/* Closes db and removes the fixture's directory. */
static inline void ledger_fixture_remove(struct ledger_fixture *f, sqlite3 *db)
{
    char cmd[128];
    sqlite3_close(db);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
}

#endif
