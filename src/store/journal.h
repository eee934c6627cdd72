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

#define TG_JOURNAL_SLOT_RUNS 64

/** A record read back from a journal, and which of its words the read set, so the next
 *  read into the slot clears only those (a record is mostly zeros: 1 KB of 7.7 set).
 *  Zero-initialized, or n_runs above TG_JOURNAL_SLOT_RUNS, before its first read. */
struct tg_journal_slot {
    struct tg_call_record rec;
    uint32_t n_runs;                       /* > TG_JOURNAL_SLOT_RUNS: anything may be set */
    uint16_t run[TG_JOURNAL_SLOT_RUNS][2]; /* first word, words */
};

/** The record appended under mark, into slot->rec: false when the ring does not hold it
 *  intact (never while it is not yet committed: its room is not reused before). Any
 *  thread that got the mark from the owner under a lock. */
bool tg_journal_read(const struct tg_journal *j, const struct tg_journal_mark *mark,
                     struct tg_journal_slot *slot);

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
