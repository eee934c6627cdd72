/* tests/fuzz/fuzz_journal.c - crash-journal recovery on arbitrary files: no crash, no
 * out-of-bounds read, every replayed record's text fields terminated */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/journal.h"
#include "journal_dir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR  4096u
#define RING (64u * 1024)

static int check(void *ud, const struct tg_call_record *rec)
{
    (void)ud;
    if (rec != NULL &&
        (memchr(rec->call_id, 0, sizeof rec->call_id) == NULL ||
         memchr(rec->tags, 0, sizeof rec->tags) == NULL ||
         memchr(rec->usage.response_model, 0, sizeof rec->usage.response_model) == NULL))
        abort();
    return 0;
}

/* The input is the journal file; its header is made to match this build (magic "TGJRNL01",
 * this record size, layout 2, a 64 KB ring) so the records, head and tail are what vary. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    journal_dir_once();
    static uint8_t buf[HDR + RING];
    memset(buf, 0, sizeof buf);
    memcpy(buf, data, size < sizeof buf ? size : sizeof buf);
    const uint64_t magic = 0x31304c4e524a4754ull, ring = RING;
    const uint32_t rsize = sizeof(struct tg_call_record), layout = 2;
    memcpy(buf, &magic, 8);
    memcpy(buf + 8, &rsize, 4);
    memcpy(buf + 12, &layout, 4);
    memcpy(buf + 16, &ring, 8);
    FILE *f = fopen(file, "wb");
    if (f == NULL || fwrite(buf, 1, sizeof buf, f) != sizeof buf)
        abort();
    fclose(f);
    long n = 0;
    struct tg_errbuf eb;
    if (tg_journal_recover(ledger, check, NULL, &n, &eb) != 0 || n < 0 || n > (long)(RING / 24))
        abort();
    unlink(file); /* replayed files are removed; this makes sure for the next input */
    return 0;
}
