/* store/ledger.c - the durable ledger: a queue drained by one writer thread into SQLite
 *
 * DESIGN. Producers (workers) copy a record into the queue under a mutex; they never
 * touch SQLite. A final row is first copied into the producer's crash journal
 * (store/journal.h, a memcpy into a shared file mapping), which makes it survive kill -9
 * at once: the worker completes its response without waiting for the writer. The
 * writer takes the whole queue at once and writes it in ONE transaction (at most
 * BATCH_MAX rows, in INSERTs of up to TG_STORE_ROWS_MAX rows each), commits, then marks
 * the journals' tails and runs the done callbacks of rows that were not journaled (a
 * full journal, or a caller without one), so "done" always means "durable". Journaled
 * rows are gathered for up to LINGER_NS (or BATCH_SOON rows) before a commit: one commit
 * per batch. Under load the writer keeps its own deadlines and producers seldom wake it;
 * a producer signals only the first row after the writer went idle (a deadline passed
 * with nothing queued), the BATCH_SOON-th row queued, or a row whose caller waits. Begin
 * rows ('incomplete', INSERT OR IGNORE) are written in queue order, so a call's final
 * row always replaces its begin row; the worker queues a begin row only for a call still
 * running after 50 ms (server/proxy.c), so a fast call writes one row. When a commit
 * fails the batch is kept and retried after a back-off; spend is never dropped silently.
 * At open, rows that a dead process left in its journals are replayed; tg_ledger_close
 * drains everything and removes the journals. SQLite runs in WAL mode with
 * synchronous=NORMAL: a committed transaction is in the OS page cache and survives
 * kill -9 of the process (not a power loss), as a journaled row does.
 *
 * Since a journaled row is durable before its commit, the commit can wait for a core
 * nobody else wants: the writer does a batch's work (reading rows back, SQLite, the
 * commit) under SCHED_IDLE while it keeps up, when the process may give it SCHED_OTHER
 * back (probed at open). It holds the queue's mutex only at SCHED_OTHER: preempted with
 * it held at SCHED_IDLE, it would leave a producer waiting until a core fell idle. A
 * producer boosts it (SCHED_OTHER for its batches too) when its append leaves the
 * journal half full, or when a caller waits for a commit; a batch that leaves fewer
 * than BATCH_SOON rows queued ends the boost. At normal priority it took cores the
 * worker was waiting for (BENCHMARKS.md). */
#include "store/ledger.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define BATCH_MAX  4096
#define BATCH_SOON 32 /* journaled rows queued: commit without lingering (two 16-row INSERTs) */
/* Journaled rows wait at most this long for a commit, and at most BATCH_SOON of them
 * gather. A commit costs ~25k instructions besides its rows and a row costs less in a
 * long INSERT, so a batch should be large; but a long batch holds a core at a time: on
 * two cores at c=32, 5 ms batches (~125 rows) left the machine 25% idle and the worker
 * starved (22k req/s against 25-30k with 1 ms ones), and doubled the p99 at c=1. With a
 * batch capped at BATCH_SOON rows (~0.3 ms of the writer's time) the linger decides only
 * at low rates, where it gathers the rows: at c=1 (~6k req/s) ~24 rows a batch instead
 * of 6, and the writer's CPU a row fell from 18-31 to 15-21 us. BENCHMARKS.md. */
#define LINGER_NS 4000000ll

/* A queued row. A journaled one is read back from its journal by the writer, so the queue
 * holds no copy of its 6.9 KB record: a writer that falls behind holds the journal's
 * 2 MB, not a copy of every row in it. */
struct entry {
    struct tg_call_record *rec; /* a copy (tg_malloc), or NULL when journaled */
    bool is_final;
    tg_ledger_done_cb done;
    void *ud;
    struct tg_journal *j; /* journaled: mark this journal's tail after the commit */
    struct tg_journal_mark mark;
};

struct tg_ledger {
    char *path;
    struct tg_sqlite_store *store;
    pthread_t thread, ckpt_thread;
    pthread_mutex_t mu;
    pthread_cond_t cv, ckpt_cv, flushed_cv;
    sqlite3 *ckpt_db;
    struct entry *q; /* queued by producers */
    size_t qlen, qcap;
    bool stopping;
    bool urgent;              /* a queued row's caller waits for its commit */
    bool writer_idle;         /* the writer waits for a signal, not for a deadline */
    bool idle_ok;             /* the writer may run SCHED_IDLE: it can be given back SCHED_OTHER */
    bool boosted;             /* ... but its batches run SCHED_OTHER now (behind, or waited for) */
    bool ckpt_tail;           /* the checkpointer did a round: the writer backfills the rest */
    long depth;               /* queued + being written, for metrics */
    uint64_t pushed, written; /* rows queued, rows taken and committed (queue order) */
    struct tg_journal **journals;
    int n_journals;
    struct tg_journal_slot scratch[TG_STORE_ROWS_MAX]; /* the writer's: journaled rows read back */
};

static bool set_policy(pthread_t t, int policy)
{
    struct sched_param p = {0};
    return pthread_setschedparam(t, policy, &p) == 0;
}

/* Someone depends on the writer's progress now: a full or half-full journal, a caller
 * waiting for a commit, a flush, the shutdown. Under l->mu; boosted is read by the
 * writer without it, after it went SCHED_IDLE (writer_main). Should the process lose
 * the right to give the policy back, the writer stops going idle. */
static void boost(struct tg_ledger *l)
{
    if (l->idle_ok && !l->boosted) {
        __atomic_store_n(&l->boosted, true, __ATOMIC_SEQ_CST);
        if (!set_policy(l->thread, SCHED_OTHER)) {
            l->idle_ok = false;
            tg_warn("event=ledger_writer_priority error=\"cannot leave SCHED_IDLE\"");
        }
    }
}

static void push(struct tg_ledger *l, const struct tg_call_record *rec, bool is_final,
                 tg_ledger_done_cb done, void *ud, struct tg_journal *j,
                 const struct tg_journal_mark *mark, bool behind)
{
    pthread_mutex_lock(&l->mu);
    if (behind || done != NULL)
        boost(l);
    if (l->qlen == l->qcap) {
        l->qcap = l->qcap ? l->qcap * 2 : 256;
        l->q = tg_realloc(l->q, l->qcap * sizeof *l->q);
    }
    struct entry *e = &l->q[l->qlen++];
    l->pushed++;
    e->rec = NULL;
    if (j == NULL) {
        e->rec = tg_malloc(sizeof *rec);
        memcpy(e->rec, rec, sizeof *rec);
    }
    e->is_final = is_final;
    e->done = done;
    e->ud = ud;
    e->j = j;
    if (j != NULL)
        e->mark = *mark;
    l->depth++;
    if (done != NULL)
        l->urgent = true;
    /* the writer is either idle (asleep with an empty queue), or will take this row with
     * the ones before it at its next deadline: only the first row after it went idle (or
     * a waited-for one) needs a wake-up, a futex call on the way to the response. It is
     * signalled after the unlock: woken while the mutex is still held, it would block on
     * the mutex at once, and the unlock would cost a second futex call to wake it again. */
    bool wake = (l->qlen == 1 && l->writer_idle) || done != NULL || l->qlen == BATCH_SOON;
    pthread_mutex_unlock(&l->mu);
    if (wake)
        pthread_cond_signal(&l->cv);
}

void tg_ledger_begin(struct tg_ledger *l, const struct tg_call_record *rec)
{
    push(l, rec, false, NULL, NULL, NULL, NULL, false);
}

void tg_ledger_finish(struct tg_ledger *l, const struct tg_call_record *rec, tg_ledger_done_cb done,
                      void *ud)
{
    push(l, rec, true, done, ud, NULL, NULL, false);
}

bool tg_ledger_finish_journaled(struct tg_ledger *l, struct tg_journal *j,
                                const struct tg_call_record *rec, tg_ledger_done_cb done, void *ud)
{
    struct tg_journal_mark mark;
    if (j == NULL || tg_journal_append(j, rec, &mark) != 0) {
        push(l, rec, true, done, ud, NULL, NULL, true);
        return false;
    }
    push(l, rec, true, NULL, NULL, j, &mark, tg_journal_half_full(j));
    return true;
}

void tg_ledger_writer_normal(struct tg_ledger *l)
{
    pthread_mutex_lock(&l->mu);
    boost(l); /* for good: the writer no longer goes SCHED_IDLE */
    l->idle_ok = false;
    pthread_mutex_unlock(&l->mu);
}

bool tg_ledger_writer_idles(struct tg_ledger *l)
{
    pthread_mutex_lock(&l->mu);
    bool on = l->idle_ok;
    pthread_mutex_unlock(&l->mu);
    return on;
}

int tg_ledger_add_journal(struct tg_ledger *l, struct tg_journal **out, struct tg_errbuf *eb)
{
    int rc = tg_journal_create(l->path, TG_JOURNAL_DEFAULT_BYTES, out, eb);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&l->mu);
    l->journals = tg_realloc(l->journals, (size_t)(l->n_journals + 1) * sizeof *l->journals);
    l->journals[l->n_journals++] = *out;
    pthread_mutex_unlock(&l->mu);
    return 0;
}

int tg_ledger_flush(struct tg_ledger *l, long timeout_ms)
{
    struct timespec ts;
    tg_abstime_after_ms(timeout_ms, &ts);
    int rc = 0;
    pthread_mutex_lock(&l->mu);
    uint64_t target = l->pushed;
    if (l->written < target) {
        boost(l);
        l->urgent = true;
        pthread_cond_signal(&l->cv);
    }
    while (l->written < target && rc == 0)
        rc = pthread_cond_timedwait(&l->flushed_cv, &l->mu, &ts);
    bool ok = l->written >= target;
    pthread_mutex_unlock(&l->mu);
    return ok ? 0 : TG_ERR_AGAIN;
}

long tg_ledger_queue_depth(struct tg_ledger *l)
{
    pthread_mutex_lock(&l->mu);
    long d = l->depth;
    pthread_mutex_unlock(&l->mu);
    return d;
}

int64_t tg_ledger_wal_bytes(struct tg_ledger *l)
{
    char wal[4096];
    struct stat st;
    snprintf(wal, sizeof wal, "%s-wal", l->path);
    return stat(wal, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* The entry's record: its copy, or read back from its journal into *slot (valid until
 * the slot is reused). NULL when the journal no longer holds it, which its room not
 * being reused before the commit rules out; logged all the same. Writer thread. */
static const struct tg_call_record *entry_record(const struct entry *e,
                                                 struct tg_journal_slot *slot)
{
    if (e->rec != NULL)
        return e->rec;
    if (tg_journal_read(e->j, &e->mark, slot))
        return &slot->rec;
    tg_error("event=ledger_row_lost reason=journal_unreadable");
    return NULL;
}

/* Writes the batch in queue order (a call's begin row before its final row) in one
 * transaction, each run of rows of one kind in multi-row statements. */
static int write_batch(struct tg_ledger *l, const struct entry *b, size_t n)
{
    struct tg_errbuf eb;
    const struct tg_call_record *rows[TG_STORE_ROWS_MAX];
    int rc = tg_sqlite_store_begin(l->store, &eb);
    for (size_t i = 0; rc == 0 && i < n;) {
        bool is_final = b[i].is_final;
        size_t m = 0;
        for (; i < n && m < TG_STORE_ROWS_MAX && b[i].is_final == is_final; i++) {
            const struct tg_call_record *r = entry_record(&b[i], &l->scratch[m]);
            if (r != NULL)
                rows[m++] = r;
        }
        rc = tg_sqlite_store_put_rows(l->store, rows, m, is_final, &eb);
    }
    if (rc == 0)
        rc = tg_sqlite_store_commit(l->store, &eb);
    if (rc != 0) {
        tg_sqlite_store_rollback(l->store);
        tg_error("event=ledger_write_failed rows=%zu error=\"%s\"", n, eb.msg);
    }
    return rc;
}

/* deadline_ns on tg_mono_ns's clock, CLOCK_MONOTONIC, as l->cv is set up to wait on */
static void wait_until(struct tg_ledger *l, int64_t deadline_ns)
{
    struct timespec ts = {deadline_ns / 1000000000, deadline_ns % 1000000000};
    pthread_cond_timedwait(&l->cv, &l->mu, &ts);
}

static void *writer_main(void *arg)
{
    struct tg_ledger *l = arg;
    pthread_setname_np(pthread_self(), "tg-ledger"); /* for top -H */
    struct entry *batch = NULL;
    size_t bcap = 0;
    /* Under load rows keep coming: after a batch the writer waits LINGER_NS (or for
     * BATCH_SOON rows) for the next one whether or not a row is queued yet, so producers
     * need not wake it. A wait that ends with nothing queued makes it idle until a
     * producer signals. */
    int64_t linger_until = 0;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        while (!l->stopping && !l->urgent && l->qlen < BATCH_SOON) {
            int64_t now = tg_mono_ns();
            if (l->qlen == 0 && linger_until == 0) {
                l->writer_idle = true;
                pthread_cond_wait(&l->cv, &l->mu);
                l->writer_idle = false;
                continue;
            }
            if (linger_until == 0)
                linger_until = now + LINGER_NS; /* the first row after idling */
            if (linger_until <= now) {
                if (l->qlen > 0)
                    break;
                linger_until = 0;
                continue;
            }
            wait_until(l, linger_until);
        }
        if (l->qlen == 0 && l->stopping) {
            pthread_mutex_unlock(&l->mu);
            break;
        }
        size_t n = l->qlen < BATCH_MAX ? l->qlen : BATCH_MAX;
        if (n == l->qlen) { /* the usual case: take the whole queue, no copy */
            struct entry *t = batch;
            size_t tcap = bcap;
            batch = l->q;
            bcap = l->qcap;
            l->q = t;
            l->qcap = tcap;
        } else {
            if (n > bcap) {
                bcap = n;
                batch = tg_realloc(batch, bcap * sizeof *batch);
            }
            memcpy(batch, l->q, n * sizeof *batch);
            memmove(l->q, l->q + n, (l->qlen - n) * sizeof *l->q);
        }
        l->qlen -= n;
        l->urgent = false;
        bool tail = l->ckpt_tail;
        l->ckpt_tail = false;
        linger_until = tg_mono_ns() + LINGER_NS; /* the next batch's deadline */
        for (size_t i = 0; i < l->qlen && !l->urgent; i++)
            l->urgent = l->q[i].done != NULL;
        /* the batch's work on the cores' idle time; the mutex is only ever held at
         * SCHED_OTHER, so a producer never waits for a writer that cannot get a core */
        bool on_idle = l->idle_ok && !l->boosted;
        pthread_mutex_unlock(&l->mu);
        if (on_idle) {
            set_policy(pthread_self(), SCHED_IDLE);
            if (__atomic_load_n(&l->boosted, __ATOMIC_SEQ_CST)) /* boosted meanwhile */
                set_policy(pthread_self(), SCHED_OTHER);
        }

        if (tail) /* between two of its own transactions: nothing is written meanwhile */
            tg_sqlite_store_checkpoint(l->store);
        int attempt = 0;
        while (write_batch(l, batch, n) != 0) {
            /* keep the batch: back off and retry; spend is never dropped */
            struct timespec ts = {0, 100000000L << (attempt < 3 ? attempt : 3)};
            nanosleep(&ts, NULL);
            if (++attempt == 50) {
                for (size_t i = 0; i < n; i++) {
                    const struct tg_call_record *r = entry_record(&batch[i], &l->scratch[0]);
                    if (batch[i].is_final && r != NULL)
                        tg_error("event=ledger_row_lost call_id=%s provider=%s model=%s "
                                 "input_tokens=%lld output_tokens=%lld outcome=%s",
                                 r->call_id, r->provider, r->usage.response_model,
                                 (long long)r->usage.input_tokens,
                                 (long long)r->usage.output_tokens, r->outcome);
                }
                break;
            }
        }
        bool ok = attempt < 50;
        for (size_t i = 0; i < n; i++) {
            if (ok && batch[i].j != NULL)
                tg_journal_committed(batch[i].j, &batch[i].mark);
            if (batch[i].is_final && batch[i].done != NULL)
                batch[i].done(batch[i].ud, ok);
            free(batch[i].rec);
        }
        if (on_idle)
            set_policy(pthread_self(), SCHED_OTHER);
        pthread_mutex_lock(&l->mu);
        l->depth -= (long)n;
        l->written += n;
        pthread_cond_broadcast(&l->flushed_cv);
        if (l->idle_ok && l->boosted && !l->urgent && !l->stopping && l->qlen < BATCH_SOON)
            __atomic_store_n(&l->boosted, false, __ATOMIC_SEQ_CST); /* caught up */
        pthread_mutex_unlock(&l->mu);
    }
    free(batch);
    return NULL;
}

/* WAL checkpoints copy the log into the database file and fsync it; done on the writer
 * they stall commits (and every response waiting on one) for milliseconds. A separate
 * connection checkpoints PASSIVEly — never blocking the writer — every 250 ms. Under
 * load the writer commits all through that round, so the log is never wholly backfilled
 * when a write begins, and only then does SQLite start the log over: it would grow
 * without end (50 MB/s at 29k rows/s). So after each round the writer backfills the
 * frames it wrote meanwhile itself, before its next transaction, which then starts the
 * log over. */
static void *checkpointer_main(void *arg)
{
    struct tg_ledger *l = arg;
    pthread_setname_np(pthread_self(), "tg-checkpoint");
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
        l->ckpt_tail = true;
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Recovery: the rows of one dead process's journal, in one transaction. */
struct replay {
    struct tg_sqlite_store *store;
    bool in_txn;
};

static int replay_row(void *ud, const struct tg_call_record *rec)
{
    struct replay *r = ud;
    struct tg_errbuf eb;
    int rc = 0;
    if (rec != NULL) {
        if (!r->in_txn)
            rc = tg_sqlite_store_begin(r->store, &eb);
        r->in_txn = rc == 0;
        if (rc == 0)
            rc = tg_sqlite_store_put(r->store, rec, true, &eb);
    } else if (r->in_txn) {
        rc = tg_sqlite_store_commit(r->store, &eb);
        r->in_txn = false;
    }
    if (rc != 0) {
        tg_sqlite_store_rollback(r->store);
        r->in_txn = false;
        tg_error("event=journal_replay_failed error=\"%s\"", eb.msg);
    }
    return rc;
}

/* Whether this process may give a SCHED_IDLE thread back SCHED_OTHER (CAP_SYS_NICE, or
 * an RLIMIT_NICE that allows nice 0): tried on a thread of its own, which then ends. */
static void *probe_idle(void *arg)
{
    struct sched_param p = {0};
    *(bool *)arg = pthread_setschedparam(pthread_self(), SCHED_IDLE, &p) == 0 &&
                   pthread_setschedparam(pthread_self(), SCHED_OTHER, &p) == 0;
    return NULL;
}

static bool writer_may_idle(void)
{
    bool ok = false;
    pthread_t t;
    if (pthread_create(&t, NULL, probe_idle, &ok) != 0)
        return false;
    pthread_join(t, NULL);
    return ok;
}

int tg_ledger_open(const char *path, struct tg_ledger **out, struct tg_errbuf *eb)
{
    struct tg_ledger *l = tg_calloc(1, sizeof *l);
    long replayed = 0;
    int rc = tg_sqlite_store_open(path, &l->store, eb);
    if (rc != 0) {
        free(l);
        return rc;
    }
    l->path = tg_strdup(path);
    struct replay rp = {l->store, false};
    rc = tg_journal_recover(path, replay_row, &rp, &replayed, eb);
    if (rc == 0 && sqlite3_open_v2(path, &l->ckpt_db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        rc = tg_errf(eb, TG_ERR_IO, "ledger %s: %s", path, sqlite3_errmsg(l->ckpt_db));
    if (rc != 0) {
        sqlite3_close(l->ckpt_db);
        tg_sqlite_store_close(l->store);
        free(l->path);
        free(l);
        return rc;
    }
    sqlite3_busy_timeout(l->ckpt_db, 1000);
    /* a connection learns the database is in WAL mode on its first read; until then
     * sqlite3_wal_checkpoint_v2 does nothing and says it succeeded */
    sqlite3_exec(l->ckpt_db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the writer's linger deadlines */
    pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&l->ckpt_cv, NULL);
    pthread_cond_init(&l->flushed_cv, NULL);
    l->idle_ok = writer_may_idle();
    pthread_mutex_lock(&l->mu); /* a boost needs l->thread */
    pthread_create(&l->thread, NULL, writer_main, l);
    pthread_mutex_unlock(&l->mu);
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
    boost(l);
    pthread_cond_signal(&l->cv);
    pthread_cond_signal(&l->ckpt_cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    pthread_join(l->ckpt_thread, NULL);
    for (int i = 0; i < l->n_journals; i++) /* every row is committed now */
        tg_journal_destroy(l->journals[i]);
    free(l->journals);
    sqlite3_close(l->ckpt_db);
    tg_sqlite_store_close(l->store);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    pthread_cond_destroy(&l->ckpt_cv);
    pthread_cond_destroy(&l->flushed_cv);
    free(l->q);
    free(l->path);
    free(l);
}
