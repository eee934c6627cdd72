/* tests/fuzz/fuzz_invoice.c - invoice CSV readers (simple and FOCUS) on arbitrary input: no
 * crash, no leak, all or nothing, every line keyed by a UTC day and a lower-case provider */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "finops/reconcile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input is read both as a simple invoice and as a FOCUS one. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum tg_invoice_format formats[] = {TG_INVOICE_SIMPLE, TG_INVOICE_FOCUS};
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        struct tg_invoice inv = {0};
        struct tg_errbuf eb;
        if (tg_invoice_parse(&inv, "fuzz.csv", (const char *)data, size, formats[f], &eb) != 0 &&
            (inv.n != 0 || inv.skipped != 0))
            abort(); /* a failed parse leaves nothing behind */
        for (int i = 0; i < inv.n; i++) {
            const struct tg_invoice_line *l = &inv.lines[i];
            if (strlen(l->day) != 10 || l->day[4] != '-' || l->provider[0] == '\0' ||
                l->model[0] == '\0')
                abort();
            for (const char *p = l->provider; *p; p++)
                if (isupper((unsigned char)*p))
                    abort();
        }
        tg_invoice_free(&inv);
    }
    return 0;
}
