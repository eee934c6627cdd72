/* core/money.c - exact decimal text <-> integer money; no floating point */
#include "core/money.h"

#include "core/err.h"

#include <stdio.h>

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
    char frac[10];
    uint64_t v = nanos < 0 ? (uint64_t)(-(nanos + 1)) + 1 : (uint64_t)nanos;
    snprintf(frac, sizeof frac, "%09llu", (unsigned long long)(v % 1000000000u));
    int n = 9;
    while (n > 0 && frac[n - 1] == '0')
        frac[--n] = '\0';
    snprintf(out, outlen, "%s%llu%s%s", nanos < 0 ? "-" : "", (unsigned long long)(v / 1000000000u),
             n ? "." : "", frac);
}
