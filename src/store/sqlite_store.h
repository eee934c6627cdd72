/* store/sqlite_store.h - the SQLite backend of the ledger (one connection, one thread) */
#ifndef TG_STORE_SQLITE_STORE_H
#define TG_STORE_SQLITE_STORE_H

#include "core/err.h"
#include "core/record.h"

#include <sqlite3.h>
#include <stdbool.h>

struct tg_sqlite_store;

/* The WHERE clause of a query over the UTC days ?1..?2 (YYYY-MM-DD, both included). It
 * ranges over the started_at index: `day` has no index of its own (migration 3 dropped
 * it, one B-tree less on every insert), and `day BETWEEN ?1 AND ?2` would read the
 * whole table. started_at is ISO 8601 text, so a day's rows sort between the day and the
 * next day's date. */
#define TG_LEDGER_DAYS "started_at >= ?1 AND started_at < date(?2, '+1 day')"

/** Opens or creates the ledger at path (WAL, synchronous=NORMAL) and applies every
 *  pending migration in one transaction. The store belongs to the thread that uses it. */
int tg_sqlite_store_open(const char *path, struct tg_sqlite_store **out, struct tg_errbuf *eb);
int tg_sqlite_store_begin(struct tg_sqlite_store *s, struct tg_errbuf *eb);
/* The most rows one INSERT statement writes */
#define TG_STORE_ROWS_MAX 16

/** Writes one row: a begin row (outcome forced to 'incomplete', ignored when the call's
 *  row exists) or a final row (inserted or replacing the begin row). */
int tg_sqlite_store_put(struct tg_sqlite_store *s, const struct tg_call_record *r, bool is_final,
                        struct tg_errbuf *eb);
/** Writes n rows of one kind, in order, as tg_sqlite_store_put would one by one, in
 *  statements of up to TG_STORE_ROWS_MAX rows. A failure leaves some of them written:
 *  the caller rolls the transaction back. */
int tg_sqlite_store_put_rows(struct tg_sqlite_store *s, const struct tg_call_record *const *rows,
                             size_t n, bool is_final, struct tg_errbuf *eb);
int tg_sqlite_store_commit(struct tg_sqlite_store *s, struct tg_errbuf *eb);
void tg_sqlite_store_rollback(struct tg_sqlite_store *s);
/** A PASSIVE checkpoint on the writer's own connection, between its transactions: with
 *  no write in between, it backfills the whole log, so the writer's next transaction
 *  starts the log over from its beginning (store/ledger.c). */
void tg_sqlite_store_checkpoint(struct tg_sqlite_store *s);
void tg_sqlite_store_close(struct tg_sqlite_store *s);

/** Applies the migrations to an open connection (used by the store and by tools that
 *  open the ledger themselves). Returns the schema version in *version. */
int tg_ledger_migrate(sqlite3 *db, int *version, struct tg_errbuf *eb);

/** Opens an existing, migrated ledger read-only for reports; a clear error when the file
 *  does not exist or is not a tollgate ledger. */
int tg_ledger_open_readonly(const char *path, sqlite3 **db, struct tg_errbuf *eb);

#endif
