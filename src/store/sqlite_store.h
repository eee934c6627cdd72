/* store/sqlite_store.h - the SQLite backend of the ledger (one connection, one thread) */
#ifndef TG_STORE_SQLITE_STORE_H
#define TG_STORE_SQLITE_STORE_H

#include "core/err.h"
#include "core/record.h"

#include <sqlite3.h>
#include <stdbool.h>

struct tg_sqlite_store;

/** Opens or creates the ledger at path (WAL, synchronous=NORMAL) and applies every
 *  pending migration in one transaction. The store belongs to the thread that uses it. */
int tg_sqlite_store_open(const char *path, struct tg_sqlite_store **out, struct tg_errbuf *eb);
int tg_sqlite_store_begin(struct tg_sqlite_store *s, struct tg_errbuf *eb);
/** Writes one row: a begin row (outcome forced to 'incomplete', ignored when the call's
 *  row exists) or a final row (inserted or replacing the begin row). */
int tg_sqlite_store_put(struct tg_sqlite_store *s, const struct tg_call_record *r, bool is_final,
                        struct tg_errbuf *eb);
int tg_sqlite_store_commit(struct tg_sqlite_store *s, struct tg_errbuf *eb);
void tg_sqlite_store_rollback(struct tg_sqlite_store *s);
void tg_sqlite_store_close(struct tg_sqlite_store *s);

/** Applies the migrations to an open connection (used by the store and by tools that
 *  open the ledger themselves). Returns the schema version in *version. */
int tg_ledger_migrate(sqlite3 *db, int *version, struct tg_errbuf *eb);

/** Opens an existing, migrated ledger read-only for reports; a clear error when the file
 *  does not exist or is not a tollgate ledger. */
int tg_ledger_open_readonly(const char *path, sqlite3 **db, struct tg_errbuf *eb);

#endif
