/* tests/fuzz/fuzz_journal_roundtrip.c - whatever bytes a record holds, the journal gives
 * it back: read live by its mark and replayed after its process died, each into one
 * reused slot, every text is the same up to its NUL (terminated in its field) and every
 * other byte the same (flags 0 or 1), in order */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/journal.h"
#include "journal_dir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECORDS 16

static struct tg_call_record want[MAX_RECORDS];
static int replayed;

/* got against the record appended, made safe as a read makes it */
static void check(const struct tg_call_record *got, const struct tg_call_record *appended)
{
    static struct tg_call_record exp;
    exp = *appended;
    tg_record_sanitize(&exp);
    const char *g = (const char *)got, *e = (const char *)&exp;
    size_t at = 0;
    for (int t = 0; t <= tg_record_n_texts; t++) {
        size_t off = t < tg_record_n_texts ? tg_record_texts[t].off : sizeof exp;
        if (memcmp(g + at, e + at, off - at) != 0) /* the bytes between texts */
            abort();
        if (t == tg_record_n_texts)
            break;
        if (strcmp(g + off, e + off) != 0)
            abort();
        at = off + tg_record_texts[t].size;
    }
}

static int on_replay(void *ud, const struct tg_call_record *rec)
{
    int n = *(const int *)ud;
    if (rec == NULL)
        return 0;
    if (replayed >= n)
        abort();
    check(rec, &want[replayed++]);
    return 0;
}

/* The input is up to MAX_RECORDS records' bytes, one after the other (the last padded
 * with zeros). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    journal_dir_once();
    const size_t rs = sizeof(struct tg_call_record);
    int n = (int)((size + rs - 1) / rs);
    if (n > MAX_RECORDS)
        n = MAX_RECORDS;
    for (int i = 0; i < n; i++) {
        size_t from = (size_t)i * rs, k = size - from < rs ? size - from : rs;
        memset(&want[i], 0, rs);
        memcpy(&want[i], data + from, k);
    }
    struct tg_journal *j = NULL;
    struct tg_errbuf eb;
    if (tg_journal_create(ledger, 64u << 10, &j, &eb) != 0)
        abort();
    struct tg_journal_mark marks[MAX_RECORDS];
    int appended = 0;
    while (appended < n && tg_journal_append(j, &want[appended], &marks[appended]) == 0)
        appended++;
    static struct tg_journal_slot slot;
    for (int i = 0; i < appended; i++) {
        if (!tg_journal_read(j, &marks[i], &slot))
            abort();
        check(&slot.rec, &want[i]);
    }
    tg_journal_destroy(j); /* nothing committed: the file stays, as a dead process leaves it */
    long got = 0;
    replayed = 0;
    if (appended > 0 && (tg_journal_recover(ledger, on_replay, &appended, &got, &eb) != 0 ||
                         got != appended || replayed != appended))
        abort();
    unlink(file);
    return 0;
}
