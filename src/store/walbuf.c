/* store/walbuf.c - a SQLite VFS over the default one that writes a transaction's
 * write-ahead-log appends with one system call
 *
 * SQLite writes each WAL frame with two pwrite calls, its 24-byte header and then the
 * page, so a 32-row commit of the calls table (~16 pages) made ~32 system calls, each an
 * ext4 buffered write that touches two pages of the page cache (a frame is 4120 bytes):
 * most of the ledger writer's system time, a fifth of its CPU. This VFS, which only the
 * store's own connections use, keeps the appends to a WAL file in a buffer and writes
 * them at once:
 * - after the page of a commit frame (one whose header has a non-zero database size):
 *   that write's error is the commit's, so a failed write fails the commit;
 * - before anything else reaches the file: a write elsewhere, a read, a sync, a
 *   truncate, a size query, a file control, the close;
 * - when the buffer would pass BUF_MAX (a 32-row commit is ~66 KB);
 * - in the database's xShmBarrier, which SQLite calls before it publishes frames to
 *   other connections (a safety net: the rules above leave nothing there);
 * - before any change to the database's shared-memory locks: a transaction that rolls
 *   back leaves its spilled pages in the buffer, and they must reach the file (past the
 *   log's end, harmless) before the write lock goes to another connection, which
 *   writes its own frames there.
 * The errors of the last two, which they cannot return, fail the next write or sync of
 * the file.
 * A commit that returns has its frames in the OS page cache as before, so the durability
 * of synchronous=NORMAL is unchanged, and other connections (the checkpointer, reports)
 * only read frames that are published. */
#include "store/walbuf.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FRAME_HDR 24 /* a WAL frame's header; bytes 4-7: database size, 0 = not a commit */
#define BUF_MAX   (124u << 10) /* the default VFS writes at most 128 KB - 1 in one call */

struct wfile {
    sqlite3_file base;  /* pMethods: &methods */
    sqlite3_file *real; /* the default VFS's file, right after this struct */
    struct wfile *wal;  /* a database: its WAL while that is open */
    struct wfile *db;   /* a WAL: its database */
    bool is_wal;
    bool commit_next; /* the last append was a commit frame's header: its page comes next */
    int err;          /* a flush that could not report its error failed: the next use does */
    unsigned char *buf;
    size_t len, cap;
    sqlite3_int64 off; /* the file offset of buf[0] */
};

_Static_assert(sizeof(struct wfile) % 8 == 0, "the real file follows, 8-aligned");

static sqlite3_vfs *parent;
static uint64_t log_writes; /* writes made to WAL files, for tests */
static sqlite3_vfs vfs;
static const sqlite3_io_methods methods;

static sqlite3_file *real(sqlite3_file *f)
{
    return ((struct wfile *)f)->real;
}

static int flush(struct wfile *f)
{
    if (f->len == 0)
        return SQLITE_OK;
    int rc = f->real->pMethods->xWrite(f->real, f->buf, (int)f->len, f->off);
    f->len = 0;
    __atomic_add_fetch(&log_writes, 1, __ATOMIC_RELAXED);
    return rc;
}

/* For the callers that cannot return an error (xShmBarrier, xShmLock's unlocks): the
 * next write, sync, truncate or size query of the file reports it. */
static void flush_or_remember(struct wfile *f)
{
    if (f == NULL || f->len == 0)
        return;
    int rc = flush(f);
    if (rc != SQLITE_OK && f->err == SQLITE_OK)
        f->err = rc;
}

/* The buffer flushed, and any error a flush could not report: before the file is used. */
static int settle(struct wfile *f)
{
    int rc = f->err != SQLITE_OK ? f->err : flush(f);
    f->err = SQLITE_OK;
    return rc;
}

static int w_close(sqlite3_file *file)
{
    struct wfile *f = (struct wfile *)file;
    int rc = f->is_wal ? settle(f) : SQLITE_OK;
    if (f->db != NULL)
        f->db->wal = NULL;
    if (f->wal != NULL)
        f->wal->db = NULL;
    free(f->buf);
    f->buf = NULL;
    int rc2 = f->real->pMethods->xClose(f->real);
    return rc != SQLITE_OK ? rc : rc2;
}

static int w_read(sqlite3_file *file, void *p, int n, sqlite3_int64 off)
{
    struct wfile *f = (struct wfile *)file;
    if (f->is_wal && f->len > 0) {
        int rc = flush(f);
        if (rc != SQLITE_OK)
            return rc;
    }
    return f->real->pMethods->xRead(f->real, p, n, off);
}

static int w_write(sqlite3_file *file, const void *p, int n, sqlite3_int64 off)
{
    struct wfile *f = (struct wfile *)file;
    if (!f->is_wal)
        return f->real->pMethods->xWrite(f->real, p, n, off);
    int rc = f->err;
    f->err = SQLITE_OK;
    if (rc == SQLITE_OK && f->len > 0 &&
        (off != f->off + (sqlite3_int64)f->len || f->len + (size_t)n > BUF_MAX))
        rc = flush(f);
    if (rc != SQLITE_OK)
        return rc;
    size_t need = f->len + (size_t)n;
    if (need > f->cap && need <= BUF_MAX) {
        size_t cap = f->cap > 0 ? f->cap : 64u << 10;
        while (cap < need)
            cap *= 2;
        unsigned char *b = realloc(f->buf, cap);
        if (b != NULL) {
            f->buf = b;
            f->cap = cap;
        }
    }
    if (need > f->cap) { /* too big for the buffer, or no memory for it: after what is */
        f->commit_next = false;
        rc = flush(f);
        __atomic_add_fetch(&log_writes, 1, __ATOMIC_RELAXED);
        return rc != SQLITE_OK ? rc : f->real->pMethods->xWrite(f->real, p, n, off);
    }
    if (f->len == 0)
        f->off = off;
    memcpy(f->buf + f->len, p, (size_t)n);
    f->len = need;
    if (f->commit_next) {
        f->commit_next = false;
        return flush(f);
    }
    const unsigned char *h = p;
    f->commit_next = n == FRAME_HDR && (h[4] | h[5] | h[6] | h[7]) != 0;
    return SQLITE_OK;
}

static int w_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    struct wfile *f = (struct wfile *)file;
    int rc = f->is_wal ? settle(f) : SQLITE_OK;
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int w_sync(sqlite3_file *file, int flags)
{
    struct wfile *f = (struct wfile *)file;
    int rc = f->is_wal ? settle(f) : SQLITE_OK;
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int w_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    struct wfile *f = (struct wfile *)file;
    int rc = f->is_wal ? settle(f) : SQLITE_OK;
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int w_file_control(sqlite3_file *file, int op, void *arg)
{
    struct wfile *f = (struct wfile *)file;
    int rc = f->is_wal ? settle(f) : SQLITE_OK;
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static void w_shm_barrier(sqlite3_file *file)
{
    flush_or_remember(((struct wfile *)file)->wal);
    real(file)->pMethods->xShmBarrier(real(file));
}

static int w_lock(sqlite3_file *f, int l)
{
    return real(f)->pMethods->xLock(real(f), l);
}

static int w_unlock(sqlite3_file *f, int l)
{
    return real(f)->pMethods->xUnlock(real(f), l);
}

static int w_check_reserved(sqlite3_file *f, int *out)
{
    return real(f)->pMethods->xCheckReservedLock(real(f), out);
}

static int w_sector_size(sqlite3_file *f)
{
    return real(f)->pMethods->xSectorSize(real(f));
}

static int w_device_characteristics(sqlite3_file *f)
{
    return real(f)->pMethods->xDeviceCharacteristics(real(f));
}

static int w_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return real(f)->pMethods->xShmMap(real(f), pg, pgsz, extend, pp);
}

/* Before any change to the database's locks, so no append outlives the write lock it
 * was made under: a rolled-back transaction's spilled pages, buffered and past the log's
 * end, must not land later on frames another connection has written there since. */
static int w_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    flush_or_remember(((struct wfile *)file)->wal);
    return real(file)->pMethods->xShmLock(real(file), offset, n, flags);
}

static int w_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return real(f)->pMethods->xShmUnmap(real(f), delete_flag);
}

static int w_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    return real(f)->pMethods->xFetch(real(f), off, n, pp);
}

static int w_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return real(f)->pMethods->xUnfetch(real(f), off, p);
}

static const sqlite3_io_methods methods = {
    3,
    w_close,
    w_read,
    w_write,
    w_truncate,
    w_sync,
    w_file_size,
    w_lock,
    w_unlock,
    w_check_reserved,
    w_file_control,
    w_sector_size,
    w_device_characteristics,
    w_shm_map,
    w_shm_lock,
    w_shm_barrier,
    w_shm_unmap,
    w_fetch,
    w_unfetch,
};

static int v_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *file, int flags,
                  int *out_flags)
{
    (void)v;
    struct wfile *f = (struct wfile *)file;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)(f + 1);
    f->real->pMethods = NULL;
    int rc = parent->xOpen(parent, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        if (f->real->pMethods != NULL)
            f->real->pMethods->xClose(f->real);
        return rc; /* base.pMethods stays NULL: SQLite does not close it */
    }
    if (f->real->pMethods->iVersion < 3) { /* no shm, no fetch to pass on: not buffered */
        f->real->pMethods->xClose(f->real);
        return SQLITE_CANTOPEN;
    }
    f->base.pMethods = &methods;
    if ((flags & SQLITE_OPEN_WAL) != 0 && name != NULL) {
        f->is_wal = true;
        struct wfile *db = (struct wfile *)(void *)sqlite3_database_file_object(name);
        if (db != NULL && db->base.pMethods == &methods) {
            f->db = db;
            db->wal = f;
        }
    }
    return SQLITE_OK;
}

/* The rest is the default VFS's. */
static int v_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
    (void)v;
    return parent->xDelete(parent, name, sync_dir);
}

static int v_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    return parent->xAccess(parent, name, flags, out);
}

static int v_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    return parent->xFullPathname(parent, name, n, out);
}

static void *v_dlopen(sqlite3_vfs *v, const char *name)
{
    (void)v;
    return parent->xDlOpen(parent, name);
}

static void v_dlerror(sqlite3_vfs *v, int n, char *msg)
{
    (void)v;
    parent->xDlError(parent, n, msg);
}

static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    (void)v;
    return parent->xDlSym(parent, h, sym);
}

static void v_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    parent->xDlClose(parent, h);
}

static int v_randomness(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return parent->xRandomness(parent, n, out);
}

static int v_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return parent->xSleep(parent, us);
}

static int v_current_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return parent->xCurrentTime(parent, out);
}

static int v_last_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return parent->xGetLastError(parent, n, out);
}

static int v_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return parent->xCurrentTimeInt64(parent, out);
}

static void do_register(void)
{
    parent = sqlite3_vfs_find(NULL);
    if (parent == NULL || parent->iVersion < 2)
        return;
    vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct wfile) + parent->szOsFile,
        .mxPathname = parent->mxPathname,
        .zName = TG_WALBUF_VFS,
        .xOpen = v_open,
        .xDelete = v_delete,
        .xAccess = v_access,
        .xFullPathname = v_full_pathname,
        .xDlOpen = v_dlopen,
        .xDlError = v_dlerror,
        .xDlSym = v_dlsym,
        .xDlClose = v_dlclose,
        .xRandomness = v_randomness,
        .xSleep = v_sleep,
        .xCurrentTime = v_current_time,
        .xGetLastError = v_last_error,
        .xCurrentTimeInt64 = v_current_time64,
    };
    if (sqlite3_vfs_register(&vfs, 0) != SQLITE_OK)
        parent = NULL;
}

const char *tg_walbuf_vfs(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, do_register);
    return parent != NULL ? TG_WALBUF_VFS : NULL;
}

uint64_t tg_walbuf_log_writes(void)
{
    return __atomic_load_n(&log_writes, __ATOMIC_RELAXED);
}
