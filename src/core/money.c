/* core/money.c - exact decimal text <-> integer money; no floating point */
#include "core/money.h"

#include "core/err.h"

#include <stdio.h>
#include <string.h>

int tg_money_parse_decimal(const char *s, int scale, int64_t *out)
{
    int64_t whole = 0, frac = 0;
    int nfrac = 0, nwhole = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        if (whole > (INT64_MAX / 10) - 10)
            return TG_ERR_INVALID;
        whole = whole * 10 + (*p++ - '0');
        nwhole++;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (nfrac == scale) {
                /* trailing zeros beyond the scale are exact; any other digit is not */
                if (*p != '0')
                    return TG_ERR_LIMIT;
                p++;
                continue;
            }
            frac = frac * 10 + (*p++ - '0');
            nfrac++;
        }
    }
    if (*p != '\0' || (nwhole == 0 && nfrac == 0))
        return TG_ERR_INVALID;
    int64_t mul = 1;
    for (int i = 0; i < scale; i++)
        mul *= 10;
    for (int i = nfrac; i < scale; i++)
        frac *= 10;
    if (whole > (INT64_MAX - frac) / mul)
        return TG_ERR_INVALID;
    *out = whole * mul + frac;
    return 0;
}

void tg_money_format_usd(int64_t nanos, char *out, unsigned long outlen)
{
    /* [-]units[.fraction without trailing zeros], by hand: reports and exports format one
     * per cell, and snprintf cost more than the rest of a row */
    char buf[32], *e = buf + sizeof buf, *p = e;
    uint64_t v = nanos < 0 ? (uint64_t)(-(nanos + 1)) + 1 : (uint64_t)nanos;
    uint64_t units = v / 1000000000u, frac = v % 1000000000u;
    int digits = 9;
    while (digits > 0 && frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    for (int i = 0; i < digits; i++) {
        *--p = (char)('0' + frac % 10);
        frac /= 10;
    }
    if (digits > 0)
        *--p = '.';
    do {
        *--p = (char)('0' + units % 10);
        units /= 10;
    } while (units > 0);
    if (nanos < 0)
        *--p = '-';
    size_t n = (size_t)(e - p);
    if (outlen == 0)
        return;
    if (n > outlen - 1)
        n = outlen - 1; /* truncated as snprintf would */
    memcpy(out, p, n);
    out[n] = '\0';
}
