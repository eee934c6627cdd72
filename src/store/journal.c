/* store/journal.c - crash journal of final ledger rows: a ring in a memory-mapped file
 *
 * DESIGN. The ledger's contract is that a client holding a complete response has a row
 * that survives kill -9 of the gateway. Waiting for the SQLite commit on the writer
 * thread puts two thread wake-ups and a transaction on every response; instead a worker
 * copies the final row into its own journal, a MAP_SHARED file, and completes the
 * response at once: stores into a shared file mapping are in the OS page cache the
 * moment they are made, so they outlive the process exactly as a SQLite WAL commit
 * with synchronous=NORMAL does (neither survives a power loss). Appending is a memcpy,
 * no system call. The writer thread commits the row as before and then marks the
 * journal's tail, which frees the room; at start-up, tg_ledger_open replays whatever a
 * dead process left between tail and head (replaying a committed row again is
 * harmless: final rows are INSERT OR REPLACE).
 *
 * File: a 4 KB header, then a ring of records. Each record is [magic | payload words]
 * [sequence] payload [checksum]; the payload is the struct tg_call_record with runs of
 * zero words squeezed out (its fixed-size text fields are mostly empty: ~1 KB of 7.7),
 * the words of a text past its NUL counted as zeros.
 * A record never straddles the end of the ring: a WRAP word (or < 16 bytes left) sends
 * the reader to offset 0. Head and tail are (sequence, offset) packed in one 64-bit
 * word each, so each is stored in one write; recovery reads from the tail while each
 * record has the next sequence number and a valid checksum: stale records of an earlier
 * lap, and a record torn by the crash, end it. The header's record size and layout
 * number reject a journal written by a different build (renamed, never deleted).
 * One producer thread appends, the writer thread marks the tail: head and tail are
 * each written by one thread and read with atomics by the other. An exclusive flock
 * says the journal's process is alive; recovery only takes unlocked files. */
#include "store/journal.h"

#include "core/alloc.h"
#include "core/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC       0x31304c4e524a4754ull /* "TGJRNL01" */
#define LAYOUT      2u                    /* bump with any change to struct tg_call_record */
#define HDR_BYTES   4096u
#define REC_MAGIC   0x54475231u /* "TGR1" */
#define WRAP_MAGIC  0x54475257u /* "TGRW" */
#define MIN_RECORD  16u         /* header words: less than this left in the ring wraps */
#define SEQ_BITS    40
#define MAX_RING    (128u << 20) /* offsets/8 fit in 24 bits */
#define REC_WORDS   (sizeof(struct tg_call_record) / 8)
#define MAX_PAYLOAD (REC_WORDS + REC_WORDS / 2 + 2)

_Static_assert(sizeof(struct tg_call_record) % 8 == 0, "records are copied as 64-bit words");
_Static_assert(REC_WORDS < 65536, "a slot's runs are 16-bit word offsets");

struct file_hdr {
    uint64_t magic;
    uint32_t record_size;
    uint32_t layout;
    uint64_t ring_bytes;
    uint64_t head; /* packed (sequence, offset) of the next record to append */
    uint64_t tail; /* packed (sequence, offset) of the first record not yet committed */
};

struct tg_journal {
    char path[4096];
    int fd;
    unsigned char *map;
    size_t map_bytes;
    struct file_hdr *hdr;
    uint64_t *ring;
    size_t cap; /* ring bytes */
    /* owner thread */
    uint64_t seq, off, head_pos;
    uint64_t scratch[MAX_PAYLOAD];
    /* written by the writer thread */
    uint64_t tail_pos;
};

static uint64_t pack(uint64_t seq, uint64_t off)
{
    return (seq & ((1ull << SEQ_BITS) - 1)) << 24 | off >> 3;
}

/* Four independent lanes: one chain of multiplies was a fifth of an append. */
static uint64_t checksum(uint64_t seq, const uint64_t *w, size_t n)
{
    const uint64_t p = 0x100000001b3ull;
    uint64_t h0 = 0xcbf29ce484222325ull ^ seq, h1 = 0x84222325cbf29ce4ull, h2 = ~h0, h3 = ~h1;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        h0 = (h0 ^ w[i]) * p;
        h1 = (h1 ^ w[i + 1]) * p;
        h2 = (h2 ^ w[i + 2]) * p;
        h3 = (h3 ^ w[i + 3]) * p;
    }
    for (; i < n; i++)
        h0 = (h0 ^ w[i]) * p;
    uint64_t h = (((h0 ^ h1 >> 7) * p ^ h2 >> 13) * p ^ h3 >> 19) * 0x9e3779b97f4a7c15ull;
    return h ^ h >> 29;
}

/* Zero-run encoding: [zeros << 32 | literals] then the literal words, repeated. The
 * zeros are the words of each text field wholly past its NUL: most of a record, counted
 * without being read (the decoded field holds the same text). The words between are
 * copied as they are, zero or not: looking at each one cost more than it saved. */
static size_t encode(const struct tg_call_record *rec, uint64_t *out)
{
    const uint64_t *w = (const uint64_t *)(const void *)rec; /* 8-aligned: it has int64s */
    const char *bytes = (const char *)rec;
    size_t n = 0, ctl = 0, i = 0, zeros = 0, run_zeros = 0;
    bool open = false; /* out[ctl] is the open run's control word */
    for (int t = 0; t <= tg_record_n_texts; t++) {
        size_t dead = REC_WORDS, end = REC_WORDS; /* [dead, end): the words skipped */
        if (t < tg_record_n_texts) {
            const struct tg_record_text *f = &tg_record_texts[t];
            const char *p = bytes + f->off;
            size_t len = p[0] == '\0' ? 0 : strnlen(p, f->size);
            dead = (f->off + len + 7) / 8;
            end = (size_t)(f->off + f->size) / 8;
            if (dead >= end)
                continue;
        }
        if (dead > i) {
            if (!open || zeros > 0) {
                if (open)
                    out[ctl] = (uint64_t)run_zeros << 32 | (n - ctl - 1);
                ctl = n++;
                run_zeros = zeros;
                zeros = 0;
                open = true;
            }
            memcpy(out + n, w + i, (dead - i) * 8);
            n += dead - i;
        }
        zeros += end - dead;
        i = end;
    }
    if (open)
        out[ctl] = (uint64_t)run_zeros << 32 | (n - ctl - 1);
    if (zeros > 0)
        out[n++] = (uint64_t)zeros << 32;
    return n;
}

/* Into slot->rec, clearing first only what the slot's last read set. On false the
 * record's contents are garbage, and no caller uses them. */
static bool decode(const uint64_t *in, size_t n, struct tg_journal_slot *slot)
{
    uint64_t *w = (uint64_t *)(void *)&slot->rec; /* 8-aligned: it has int64s */
    if (slot->n_runs > TG_JOURNAL_SLOT_RUNS)
        memset(w, 0, sizeof slot->rec);
    else
        for (uint32_t k = 0; k < slot->n_runs; k++)
            memset(w + slot->run[k][0], 0, slot->run[k][1] * 8u);
    slot->n_runs = 0;
    size_t i = 0, r = 0;
    while (r < n) {
        uint64_t z = in[r] >> 32, k = in[r] & 0xffffffffu;
        r++;
        if (z > REC_WORDS - i || k > REC_WORDS - i - z || k > n - r) {
            slot->n_runs = TG_JOURNAL_SLOT_RUNS + 1;
            return false;
        }
        i += z;
        if (k > 0) {
            memcpy(w + i, in + r, k * 8);
            if (slot->n_runs < TG_JOURNAL_SLOT_RUNS) {
                slot->run[slot->n_runs][0] = (uint16_t)i;
                slot->run[slot->n_runs][1] = (uint16_t)k;
            }
            slot->n_runs++;
        }
        i += k;
        r += k;
    }
    if (i != REC_WORDS) {
        slot->n_runs = TG_JOURNAL_SLOT_RUNS + 1;
        return false;
    }
    tg_record_sanitize(&slot->rec); /* bytes from a file: terminated text, 0/1 flags */
    return true;
}

static void split_path(const char *ledger_path, char *dir, size_t dn, const char **base)
{
    const char *slash = strrchr(ledger_path, '/');
    if (slash == NULL) {
        snprintf(dir, dn, ".");
        *base = ledger_path;
    } else {
        snprintf(dir, dn, "%.*s", slash == ledger_path ? 1 : (int)(slash - ledger_path),
                 ledger_path);
        *base = slash + 1;
    }
}

int tg_journal_create(const char *ledger_path, size_t ring_bytes, struct tg_journal **out,
                      struct tg_errbuf *eb)
{
    if (ring_bytes % 8 != 0 || ring_bytes < 64 * 1024 || ring_bytes > MAX_RING)
        return tg_errf(eb, TG_ERR_INVALID, "journal: ring of %zu bytes (64 KB to 128 MB, x8)",
                       ring_bytes);
    struct tg_journal *j = tg_calloc(1, sizeof *j);
    j->fd = -1;
    int rc = 0;
    for (int n = 0; j->fd < 0; n++) {
        if (n == 1024) {
            rc = tg_errf(eb, TG_ERR_IO, "journal %s.journal.*: no free name", ledger_path);
            goto out;
        }
        snprintf(j->path, sizeof j->path, "%s.journal.%d", ledger_path, n);
        j->fd = open(j->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (j->fd < 0 && errno != EEXIST) {
            rc = tg_errf(eb, TG_ERR_IO, "journal %s: %s", j->path, strerror(errno));
            goto out;
        }
        if (j->fd >= 0 && flock(j->fd, LOCK_EX | LOCK_NB) != 0) {
            close(j->fd); /* a recovering process looks at it: it will remove it */
            j->fd = -1;
        }
    }
    j->cap = ring_bytes;
    j->map_bytes = HDR_BYTES + ring_bytes;
    int e = posix_fallocate(j->fd, 0, (off_t)j->map_bytes);
    if (e != 0) {
        rc = tg_errf(eb, TG_ERR_IO, "journal %s: %s", j->path, strerror(e));
        goto out;
    }
    j->map = mmap(NULL, j->map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, j->fd, 0);
    if (j->map == MAP_FAILED) {
        j->map = NULL;
        rc = tg_errf(eb, TG_ERR_IO, "journal %s: mmap: %s", j->path, strerror(errno));
        goto out;
    }
    j->hdr = (struct file_hdr *)j->map;
    j->ring = (uint64_t *)(j->map + HDR_BYTES);
    j->hdr->record_size = sizeof(struct tg_call_record);
    j->hdr->layout = LAYOUT;
    j->hdr->ring_bytes = ring_bytes;
    j->hdr->head = j->hdr->tail = pack(0, 0);
    __atomic_store_n(&j->hdr->magic, MAGIC, __ATOMIC_RELEASE);
out:
    if (rc != 0) {
        if (j->fd >= 0)
            unlink(j->path);
        tg_journal_destroy(j);
        return rc;
    }
    *out = j;
    return 0;
}

int tg_journal_append(struct tg_journal *j, const struct tg_call_record *rec,
                      struct tg_journal_mark *mark)
{
    size_t nw = encode(rec, j->scratch);
    uint64_t need = 16 + nw * 8 + 8, off = j->off, waste = 0;
    if (j->cap - off < need) {
        waste = j->cap - off;
        off = 0;
    }
    uint64_t tail = __atomic_load_n(&j->tail_pos, __ATOMIC_ACQUIRE);
    if (j->head_pos + waste + need - tail > j->cap)
        return TG_ERR_AGAIN;
    if (waste >= 8)
        j->ring[j->off / 8] = (uint64_t)WRAP_MAGIC << 32;
    uint64_t *r = j->ring + off / 8;
    r[1] = j->seq;
    memcpy(r + 2, j->scratch, nw * 8);
    r[2 + nw] = checksum(j->seq, j->scratch, nw);
    __atomic_store_n(&r[0], (uint64_t)REC_MAGIC << 32 | nw, __ATOMIC_RELEASE);
    j->seq++;
    j->off = off + need;
    j->head_pos += waste + need;
    mark->pos = j->head_pos;
    mark->word = pack(j->seq, j->off);
    mark->at = off;
    __atomic_store_n(&j->hdr->head, mark->word, __ATOMIC_RELEASE);
    return 0;
}

bool tg_journal_half_full(const struct tg_journal *j)
{
    return j->head_pos - __atomic_load_n(&j->tail_pos, __ATOMIC_ACQUIRE) > j->cap / 2;
}

/* The intact record at byte offset off of a ring of cap bytes, decoded into rec: its
 * length in bytes, or 0 when none starts there (an older lap, torn, or not a record).
 * The checksum is what tells a torn or stale record after a crash; a live process's
 * record under its mark is whole by construction (its room is not reused before its
 * commit), so reading it back skips that pass over the payload (verify false). */
static uint64_t record_at(const uint64_t *ring, uint64_t cap, uint64_t off, bool verify,
                          struct tg_journal_slot *slot)
{
    if (off % 8 != 0 || off > cap || cap - off < 24)
        return 0;
    const uint64_t *r = ring + off / 8;
    uint64_t h = __atomic_load_n(&r[0], __ATOMIC_ACQUIRE), nw = h & 0xffffffffu;
    if (h >> 32 != REC_MAGIC || nw > MAX_PAYLOAD || 24 + nw * 8 > cap - off ||
        (verify && r[2 + nw] != checksum(r[1], r + 2, nw)) || !decode(r + 2, nw, slot))
        return 0;
    return 24 + nw * 8;
}

bool tg_journal_read(const struct tg_journal *j, const struct tg_journal_mark *mark,
                     struct tg_journal_slot *slot)
{
    return record_at(j->ring, j->cap, mark->at, false, slot) != 0;
}

void tg_journal_committed(struct tg_journal *j, const struct tg_journal_mark *mark)
{
    __atomic_store_n(&j->hdr->tail, mark->word, __ATOMIC_RELEASE);
    __atomic_store_n(&j->tail_pos, mark->pos, __ATOMIC_RELEASE);
}

void tg_journal_destroy(struct tg_journal *j)
{
    if (j == NULL)
        return;
    if (j->map != NULL) {
        bool drained = __atomic_load_n(&j->hdr->head, __ATOMIC_ACQUIRE) ==
                       __atomic_load_n(&j->hdr->tail, __ATOMIC_ACQUIRE);
        munmap(j->map, j->map_bytes);
        if (drained)
            unlink(j->path); /* before close: the lock holds until the name is gone */
        else
            tg_warn("event=journal_kept file=%s note=\"rows the ledger could not commit; the "
                    "next start replays them\"",
                    j->path);
    }
    if (j->fd >= 0)
        close(j->fd);
    free(j);
}

/* Replays one locked journal file; returns the records replayed, or -1 to keep it. */
static long replay_file(const char path[4096], int fd, tg_journal_replay_cb cb, void *ud)
{
    struct stat st;
    struct file_hdr h;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < HDR_BYTES ||
        pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h || h.magic != MAGIC)
        return 0; /* created and never written: nothing in it */
    if (h.record_size != sizeof(struct tg_call_record) || h.layout != LAYOUT ||
        h.ring_bytes % 8 != 0 || h.ring_bytes > MAX_RING ||
        (uint64_t)st.st_size < HDR_BYTES + h.ring_bytes) {
        char to[4096 + 16];
        snprintf(to, sizeof to, "%s.unreadable", path);
        rename(path, to);
        tg_error("event=journal_unreadable file=%s record_size=%u layout=%u expected_size=%zu "
                 "expected_layout=%u note=\"written by another build: rows in it are not in the "
                 "ledger\"",
                 to, h.record_size, h.layout, sizeof(struct tg_call_record), LAYOUT);
        return -1;
    }
    size_t map_bytes = HDR_BYTES + h.ring_bytes;
    unsigned char *map = mmap(NULL, map_bytes, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        tg_error("event=journal_unreadable file=%s error=\"mmap: %s\"", path, strerror(errno));
        return -1;
    }
    const uint64_t *ring = (const uint64_t *)(map + HDR_BYTES);
    uint64_t cap = h.ring_bytes, seq = h.tail >> 24, off = (h.tail & 0xffffffu) << 3;
    long n = 0;
    struct tg_journal_slot slot;
    slot.n_runs = TG_JOURNAL_SLOT_RUNS + 1; /* uninitialized: cleared whole by the first read */
    for (uint64_t seen = 0; seen < cap;) {
        if (off >= cap || cap - off < MIN_RECORD || ring[off / 8] >> 32 == WRAP_MAGIC) {
            seen += off < cap ? cap - off : 0;
            off = 0;
            continue;
        }
        uint64_t len = (ring[off / 8 + 1] & ((1ull << SEQ_BITS) - 1)) == seq
                           ? record_at(ring, cap, off, true, &slot)
                           : 0;
        if (len == 0)
            break; /* an older lap, or torn by the crash: the end */
        if (cb(ud, &slot.rec) != 0) {
            n = -1;
            break;
        }
        n++;
        seq = (seq + 1) & ((1ull << SEQ_BITS) - 1);
        off += len;
        seen += len;
    }
    munmap(map, map_bytes);
    if (n >= 0 && cb(ud, NULL) != 0)
        n = -1;
    return n;
}

int tg_journal_recover(const char *ledger_path, tg_journal_replay_cb cb, void *ud, long *records,
                       struct tg_errbuf *eb)
{
    char dir[4096], prefix[4096], path[4096];
    const char *base;
    *records = 0;
    split_path(ledger_path, dir, sizeof dir, &base);
    int plen = snprintf(prefix, sizeof prefix, "%s.journal.", base);
    DIR *d = opendir(dir);
    if (d == NULL)
        return tg_errf(eb, TG_ERR_IO, "journal: %s: %s", dir, strerror(errno));
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (strncmp(name, prefix, (size_t)plen) != 0 || name[plen] == '\0' ||
            strspn(name + plen, "0123456789") != strlen(name + plen))
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
            continue;
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) { /* its process is alive */
            close(fd);
            continue;
        }
        long n = replay_file(path, fd, cb, ud);
        if (n >= 0) {
            if (n > 0)
                tg_warn("event=journal_replayed file=%s rows=%ld", path, n);
            *records += n;
            unlink(path);
        } else if (access(path, F_OK) == 0) {
            rc = tg_errf(eb, TG_ERR_IO, "journal %s: its rows could not be written to the ledger",
                         path);
        }
        close(fd);
        if (rc != 0)
            break;
    }
    closedir(d);
    return rc;
}
