/* store/ledger.c - the durable ledger: a queue drained by one writer thread into SQLite
 *
 * DESIGN. Producers (workers) copy a record into the queue under a mutex and signal the
 * writer; they never touch SQLite. The writer takes the whole queue at once and writes
 * it in ONE transaction (at most BATCH_MAX rows), commits, and only then runs the done
 * callbacks of the finish rows in it, so "done" always means "durable". Begin rows
 * ('incomplete') are held for HOLD_MS first: a call that finishes sooner writes only its
 * final row, and a begin whose finish has arrived is never written, so a finish is never
 * overwritten by its begin. A call that dies within HOLD_MS of starting therefore leaves
 * no row; one that dies later leaves its 'incomplete' row. When a commit fails the batch is kept
 * and retried after a back-off; spend is never dropped silently. tg_ledger_close drains everything.
 * SQLite runs in WAL mode with synchronous=NORMAL: a committed transaction is in the OS
 * page cache and survives kill -9 of the process (not a power loss). */
#include "store/ledger.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_MAX   4096
#define SPIN_ROUNDS 4000 /* about 50-100 us of pause instructions */
#define HOLD_MS     50   /* a begin row is written once its call has run this long */

struct entry {
    struct tg_call_record rec;
    bool is_final;
    tg_ledger_done_cb done;
    void *ud;
};

struct tg_ledger {
    struct tg_sqlite_store *store;
    pthread_t thread, ckpt_thread;
    pthread_mutex_t mu;
    pthread_cond_t cv, ckpt_cv;
    sqlite3 *ckpt_db;
    struct entry *q; /* queued by producers */
    size_t qlen, qcap;
    bool stopping;
    long depth; /* queued + being written, for metrics */
};

static void push(struct tg_ledger *l, const struct tg_call_record *rec, bool is_final,
                 tg_ledger_done_cb done, void *ud)
{
    pthread_mutex_lock(&l->mu);
    if (l->qlen == l->qcap) {
        l->qcap = l->qcap ? l->qcap * 2 : 256;
        l->q = tg_realloc(l->q, l->qcap * sizeof *l->q);
    }
    struct entry *e = &l->q[l->qlen];
    memcpy(&e->rec, rec, sizeof *rec);
    e->is_final = is_final;
    e->done = done;
    e->ud = ud;
    __atomic_store_n(&l->qlen, l->qlen + 1,
                     __ATOMIC_RELEASE); /* read unlocked by the spinning writer */
    l->depth++;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

void tg_ledger_begin(struct tg_ledger *l, const struct tg_call_record *rec)
{
    push(l, rec, false, NULL, NULL);
}

void tg_ledger_finish(struct tg_ledger *l, const struct tg_call_record *rec, tg_ledger_done_cb done,
                      void *ud)
{
    push(l, rec, true, done, ud);
}

long tg_ledger_queue_depth(struct tg_ledger *l)
{
    pthread_mutex_lock(&l->mu);
    long d = l->depth;
    pthread_mutex_unlock(&l->mu);
    return d;
}

/* Begin rows wait here until they are HOLD_MS old: a call that finishes sooner never
 * writes one (its finish row is the only write), which halves the rows of fast calls. */
struct held {
    struct entry *v;
    int64_t *since_ms;
    size_t n, cap;
};

static int64_t mono_ms(void)
{
    return tg_mono_ns() / 1000000;
}

static void held_add(struct held *h, const struct entry *e, int64_t now)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = tg_realloc(h->v, h->cap * sizeof *h->v);
        h->since_ms = tg_realloc(h->since_ms, h->cap * sizeof *h->since_ms);
    }
    h->v[h->n] = *e;
    h->since_ms[h->n++] = now;
}

static void held_remove(struct held *h, size_t i)
{
    h->v[i] = h->v[h->n - 1];
    h->since_ms[i] = h->since_ms[h->n - 1];
    h->n--;
}

/* Drops the held begin row of call_id, if any (its finish has arrived). */
static void held_drop(struct held *h, const char *call_id)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->v[i].rec.call_id, call_id) == 0) {
            held_remove(h, i);
            return;
        }
}

/* Writes the batch's finish rows and the held begin rows that are due (all when
 * flush_all), in one transaction. */
static int write_batch(struct tg_ledger *l, const struct entry *b, size_t n, struct held *h,
                       bool flush_all)
{
    struct tg_errbuf eb;
    int64_t now = mono_ms();
    int rc = tg_sqlite_store_begin(l->store, &eb);
    for (size_t i = 0; rc == 0 && i < h->n; i++)
        if (flush_all || now - h->since_ms[i] >= HOLD_MS)
            rc = tg_sqlite_store_put(l->store, &h->v[i].rec, false, &eb);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (b[i].is_final)
            rc = tg_sqlite_store_put(l->store, &b[i].rec, true, &eb);
    if (rc == 0)
        rc = tg_sqlite_store_commit(l->store, &eb);
    if (rc != 0) {
        tg_sqlite_store_rollback(l->store);
        tg_error("event=ledger_write_failed rows=%zu error=\"%s\"", n, eb.msg);
        return rc;
    }
    for (size_t i = 0; i < h->n;) /* written begin rows leave the hold */
        if (flush_all || now - h->since_ms[i] >= HOLD_MS)
            held_remove(h, i);
        else
            i++;
    return 0;
}

static void *writer_main(void *arg)
{
    struct tg_ledger *l = arg;
    struct entry *batch = NULL;
    struct held h = {0};
    size_t bcap = 0;
    for (;;) {
        /* Spin a little before sleeping: on a quiet gateway, waking a sleeping thread
         * costs more than the commit itself (a VM exit), and every response waits on it. */
        for (int spin = 0; spin < SPIN_ROUNDS && __atomic_load_n(&l->qlen, __ATOMIC_ACQUIRE) == 0;
             spin++)
            __builtin_ia32_pause();
        pthread_mutex_lock(&l->mu);
        while (l->qlen == 0 && !l->stopping) {
            if (h.n == 0) {
                pthread_cond_wait(&l->cv, &l->mu);
                continue;
            }
            int64_t oldest = h.since_ms[0];
            for (size_t i = 1; i < h.n; i++)
                if (h.since_ms[i] < oldest)
                    oldest = h.since_ms[i];
            int64_t wait = oldest + HOLD_MS - mono_ms();
            if (wait <= 0)
                break;
            struct timespec ts;
            tg_abstime_after_ms((long)wait, &ts);
            if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) != 0)
                break;
        }
        bool stopping = l->stopping;
        if (l->qlen == 0 && stopping && h.n == 0) {
            pthread_mutex_unlock(&l->mu);
            break;
        }
        size_t n = l->qlen < BATCH_MAX ? l->qlen : BATCH_MAX;
        if (n > bcap) {
            bcap = n;
            batch = tg_realloc(batch, bcap * sizeof *batch);
        }
        memcpy(batch, l->q, n * sizeof *batch);
        memmove(l->q, l->q + n, (l->qlen - n) * sizeof *l->q);
        l->qlen -= n;
        pthread_mutex_unlock(&l->mu);

        /* queue order: a begin always precedes its finish */
        int64_t now = mono_ms();
        for (size_t i = 0; i < n; i++) {
            if (!batch[i].is_final) {
                held_add(&h, &batch[i], now);
            } else {
                held_drop(&h, batch[i].rec.call_id);
            }
        }
        int attempt = 0;
        while (write_batch(l, batch, n, &h, stopping) != 0) {
            /* keep the batch: back off and retry; spend is never dropped */
            struct timespec ts = {0, 100000000L << (attempt < 3 ? attempt : 3)};
            nanosleep(&ts, NULL);
            if (++attempt == 50) {
                for (size_t i = 0; i < n; i++)
                    if (batch[i].is_final)
                        tg_error("event=ledger_row_lost call_id=%s provider=%s model=%s "
                                 "input_tokens=%lld output_tokens=%lld outcome=%s",
                                 batch[i].rec.call_id, batch[i].rec.provider,
                                 batch[i].rec.usage.response_model,
                                 (long long)batch[i].rec.usage.input_tokens,
                                 (long long)batch[i].rec.usage.output_tokens, batch[i].rec.outcome);
                break;
            }
        }
        bool ok = attempt < 50;
        for (size_t i = 0; i < n; i++)
            if (batch[i].is_final && batch[i].done != NULL)
                batch[i].done(batch[i].ud, ok);
        pthread_mutex_lock(&l->mu);
        l->depth -= (long)n;
        pthread_mutex_unlock(&l->mu);
    }
    free(batch);
    free(h.v);
    free(h.since_ms);
    return NULL;
}

/* WAL checkpoints copy the log into the database file and fsync it; done on the writer
 * they stall commits (and every response waiting on one) for milliseconds. A separate
 * connection checkpoints PASSIVEly — never blocking the writer — every 250 ms. */
static void *checkpointer_main(void *arg)
{
    struct tg_ledger *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stopping) {
        struct timespec ts;
        tg_abstime_after_ms(250, &ts);
        pthread_cond_timedwait(&l->ckpt_cv, &l->mu, &ts);
        if (l->stopping)
            break;
        pthread_mutex_unlock(&l->mu);
        sqlite3_wal_checkpoint_v2(l->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int tg_ledger_open(const char *path, struct tg_ledger **out, struct tg_errbuf *eb)
{
    struct tg_ledger *l = tg_calloc(1, sizeof *l);
    int rc = tg_sqlite_store_open(path, &l->store, eb);
    if (rc != 0) {
        free(l);
        return rc;
    }
    if (sqlite3_open_v2(path, &l->ckpt_db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        rc = tg_errf(eb, TG_ERR_IO, "ledger %s: %s", path, sqlite3_errmsg(l->ckpt_db));
        sqlite3_close(l->ckpt_db);
        tg_sqlite_store_close(l->store);
        free(l);
        return rc;
    }
    sqlite3_busy_timeout(l->ckpt_db, 1000);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    pthread_cond_init(&l->ckpt_cv, NULL);
    pthread_create(&l->thread, NULL, writer_main, l);
    pthread_create(&l->ckpt_thread, NULL, checkpointer_main, l);
    *out = l;
    return 0;
}

void tg_ledger_close(struct tg_ledger *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    pthread_cond_signal(&l->cv);
    pthread_cond_signal(&l->ckpt_cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    pthread_join(l->ckpt_thread, NULL);
    sqlite3_close(l->ckpt_db);
    tg_sqlite_store_close(l->store);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    pthread_cond_destroy(&l->ckpt_cv);
    free(l->q);
    free(l);
}
