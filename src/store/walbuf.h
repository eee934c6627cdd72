/* store/walbuf.h - a SQLite VFS that writes a transaction's write-ahead-log appends with
 * one system call (store/walbuf.c) */
#ifndef TG_STORE_WALBUF_H
#define TG_STORE_WALBUF_H

#include <sqlite3.h>
#include <stdint.h>

#define TG_WALBUF_VFS "tollgate-walbuf"

/** Registers the VFS (once, not as the default) and returns its name for
 *  sqlite3_open_v2; NULL when the default VFS cannot carry it (open with the default). */
const char *tg_walbuf_vfs(void);

/** Writes the VFS has made to write-ahead logs so far, in this process. */
uint64_t tg_walbuf_log_writes(void);

#endif
