/* store/ledger.h - the durable ledger: a queue drained by one writer thread into the store
 * (SQLite, WAL). Workers never block on it. */
#ifndef TG_STORE_LEDGER_H
#define TG_STORE_LEDGER_H

#include "core/err.h"
#include "core/record.h"
#include "store/journal.h"

#include <stdbool.h>

struct tg_ledger;

/** Called on the writer thread once the record passed to tg_ledger_finish is committed
 *  (or failed to commit: ok = 0). Must only hand off to the caller's thread (post to its
 *  loop); it must not block. */
typedef void (*tg_ledger_done_cb)(void *ud, int ok);

/** Opens (creating if needed) the SQLite ledger at path, applies migrations, starts the
 *  writer thread. Returns 0 or an error with eb filled. Main thread. */
int tg_ledger_open(const char *path, struct tg_ledger **out, struct tg_errbuf *eb);

/** Queues an `incomplete` row for a call in progress (copy taken; the gateway does it
 *  for calls still running after 50 ms). Never blocks beyond a mutex; any thread. If the
 *  call later finishes, the finish row replaces it; if the process dies first, the row
 *  stays `incomplete`. */
void tg_ledger_begin(struct tg_ledger *l, const struct tg_call_record *rec);

/** Queues the final row for a call (copy taken); done(ud, ok) runs on the writer thread
 *  after the transaction holding it commits. done may be NULL. Any thread. */
void tg_ledger_finish(struct tg_ledger *l, const struct tg_call_record *rec, tg_ledger_done_cb done,
                      void *ud);

/** The writer thread does its batches under SCHED_IDLE while it keeps up, on the cores'
 *  idle time, when the process may give it back normal priority (root or CAP_SYS_NICE);
 *  at SCHED_OTHER while a journal is half full or someone waits for a commit. This keeps
 *  it at normal priority all the time (config ledger_writer_idle: false). Any thread. */
void tg_ledger_writer_normal(struct tg_ledger *l);

/** Whether the writer's batches run SCHED_IDLE while it keeps up (see above). Any
 *  thread. */
bool tg_ledger_writer_idles(struct tg_ledger *l);

/** Creates a crash journal (store/journal.h) for one producer thread to pass to
 *  tg_ledger_finish_journaled. The ledger owns it and removes it in tg_ledger_close, once
 *  everything is committed. Main thread, before that producer starts. */
int tg_ledger_add_journal(struct tg_ledger *l, struct tg_journal **out, struct tg_errbuf *eb);

/** Queues the final row after copying it into the producer's journal j: returns true when
 *  the row is durable on return (it survives kill -9; done is never called) and will be in
 *  the store within a few milliseconds. Returns false when the journal had no room (the
 *  store is behind): the row is queued as by tg_ledger_finish and done runs after its
 *  commit. j's owner thread. */
bool tg_ledger_finish_journaled(struct tg_ledger *l, struct tg_journal *j,
                                const struct tg_call_record *rec, tg_ledger_done_cb done, void *ud);

/** Waits (at most timeout_ms) until every row queued before the call is committed, so
 *  a report sees every call answered so far. Returns 0, or TG_ERR_AGAIN on timeout. Any
 *  thread but the writer's. */
int tg_ledger_flush(struct tg_ledger *l, long timeout_ms);

/** Number of records queued and not yet committed. Any thread. */
long tg_ledger_queue_depth(struct tg_ledger *l);

/** Size in bytes of the ledger's write-ahead log (the `-wal` file; 0 when there is none):
 *  bounded under steady load, growing only while a long read holds it. Any thread. */
int64_t tg_ledger_wal_bytes(struct tg_ledger *l);

/** Commits everything queued, stops the writer thread, closes the store. NULL ok. */
void tg_ledger_close(struct tg_ledger *l);

#endif
