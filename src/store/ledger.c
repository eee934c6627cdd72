/* store/ledger.c - the durable ledger: a queue drained by one writer thread into SQLite
 *
 * DESIGN. Producers (workers) copy a record into the queue under a mutex and signal the
 * writer; they never touch SQLite. The writer takes the whole queue at once and writes
 * it in ONE transaction (at most BATCH_MAX rows), commits, and only then runs the done
 * callbacks of the finish rows in it, so "done" always means "durable". Order: a begin
 * row and the finish row of the same call are written in queue order, and a begin row
 * whose finish is in the same batch is skipped (coalescing), so a finish is never
 * overwritten by its begin. When a commit fails the batch is kept and retried after a
 * back-off; spend is never dropped silently. tg_ledger_close drains everything.
 * SQLite runs in WAL mode with synchronous=NORMAL: a committed transaction is in the OS
 * page cache and survives kill -9 of the process (not a power loss). */
#include "store/ledger.h"

#include "core/alloc.h"
#include "core/log.h"
#include "store/sqlite_store.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_MAX 4096

struct entry {
    struct tg_call_record rec;
    bool is_final;
    tg_ledger_done_cb done;
    void *ud;
};

struct tg_ledger {
    struct tg_sqlite_store *store;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
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
    struct entry *e = &l->q[l->qlen++];
    memcpy(&e->rec, rec, sizeof *rec);
    e->is_final = is_final;
    e->done = done;
    e->ud = ud;
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

/* True when a finish row for the same call follows entry i in the batch. */
static bool superseded(const struct entry *b, size_t n, size_t i)
{
    for (size_t j = i + 1; j < n; j++)
        if (b[j].is_final && strcmp(b[j].rec.call_id, b[i].rec.call_id) == 0)
            return true;
    return false;
}

static int write_batch(struct tg_ledger *l, const struct entry *b, size_t n)
{
    struct tg_errbuf eb;
    int rc = tg_sqlite_store_begin(l->store, &eb);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        /* a begin row whose finish is in this batch is never written (coalescing); the
         * scan is bounded: begin rows are few relative to the batch's finish rows only
         * when calls are short, and then the finish is near */
        if (!b[i].is_final && superseded(b, n < i + 64 ? n : i + 64, i))
            continue;
        rc = tg_sqlite_store_put(l->store, &b[i].rec, b[i].is_final, &eb);
    }
    if (rc == 0)
        rc = tg_sqlite_store_commit(l->store, &eb);
    if (rc != 0) {
        tg_sqlite_store_rollback(l->store);
        tg_error("event=ledger_write_failed rows=%zu error=\"%s\"", n, eb.msg);
    }
    return rc;
}

static void *writer_main(void *arg)
{
    struct tg_ledger *l = arg;
    struct entry *batch = NULL;
    size_t bcap = 0;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        while (l->qlen == 0 && !l->stopping)
            pthread_cond_wait(&l->cv, &l->mu);
        if (l->qlen == 0 && l->stopping) {
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

        int attempt = 0;
        while (write_batch(l, batch, n) != 0) {
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
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    pthread_create(&l->thread, NULL, writer_main, l);
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
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    tg_sqlite_store_close(l->store);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->q);
    free(l);
}
