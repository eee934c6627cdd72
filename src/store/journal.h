/* store/journal.h - a producer thread's crash journal of final ledger rows: a ring in a
 * memory-mapped file, so a response can complete before the SQLite commit of its row */
#ifndef TG_STORE_JOURNAL_H
#define TG_STORE_JOURNAL_H

#include "core/err.h"
#include "core/record.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_JOURNAL_DEFAULT_BYTES (2u << 20)

struct tg_journal;

/** Where a record is in its journal: read back with tg_journal_read, and handed to
 *  tg_journal_committed once the record's row is in the store. */
struct tg_journal_mark {
    uint64_t pos;  /* bytes appended before, this record included (never wraps) */
    uint64_t word; /* the header word that says the same in the file */
    uint64_t at;   /* the record's offset in the ring */
};

/** Creates a new journal beside the ledger, `<ledger_path>.journal.<N>` with the first
 *  free N, holding an exclusive lock on it while open; ring_bytes of records (a
 *  multiple of 8, at most 128 MB). Main thread; the journal then belongs to one
 *  producer thread. */
int tg_journal_create(const char *ledger_path, size_t ring_bytes, struct tg_journal **out,
                      struct tg_errbuf *eb);

/** Copies rec into the journal: it survives kill -9 of the process from the moment this
 *  returns 0 (the OS page cache holds it), with *mark filled. TG_ERR_AGAIN when the ring
 *  has no room (the store is behind). Owner thread only; no system call. */
int tg_journal_append(struct tg_journal *j, const struct tg_call_record *rec,
                      struct tg_journal_mark *mark);

/** True when more than half the ring holds records not yet committed (the store is
 *  behind). Owner thread. */
bool tg_journal_half_full(const struct tg_journal *j);

/** The record appended under mark, into rec: false when the ring does not hold it intact
 *  (never while it is not yet committed: its room is not reused before). Any thread that
 *  got the mark from the owner under a lock. */
bool tg_journal_read(const struct tg_journal *j, const struct tg_journal_mark *mark,
                     struct tg_call_record *rec);

/** Every record up to mark is in the store: its room may be reused. Marks arrive in
 *  append order. The ledger's writer thread. */
void tg_journal_committed(struct tg_journal *j, const struct tg_journal_mark *mark);

/** Unmaps, removes the file when every record is committed (else keeps it for the next
 *  start to replay, with a warning) and frees. NULL ok. */
void tg_journal_destroy(struct tg_journal *j);

/** Receives each record a dead process left uncommitted, in append order; then, once
 *  per journal file, rec == NULL: return 0 when those rows are durable in the store (the
 *  file is then removed), non-zero to keep the file. */
typedef int (*tg_journal_replay_cb)(void *ud, const struct tg_call_record *rec);

/** Replays the journals beside ledger_path that no live process holds. A file written
 *  by a build with another record layout is renamed `<file>.unreadable` and reported in
 *  the log, never deleted. *records counts the records replayed. */
int tg_journal_recover(const char *ledger_path, tg_journal_replay_cb cb, void *ud, long *records,
                       struct tg_errbuf *eb);

#endif
