/* core/clock.c - time sources and UTC calendar arithmetic (no timezone database, no locale) */
#include "core/clock.h"

#include "core/err.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t tg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void tg_month_to_date(char from[11], char to[11])
{
    char today[25];
    tg_iso8601_ms(tg_now_ms(), today);
    snprintf(from, 11, "%.7s-01", today);
    snprintf(to, 11, "%.10s", today);
}

void tg_abstime_after_ms(long ms, struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int64_t tg_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Howard Hinnant's days_from_civil / civil_from_days: exact for every Gregorian date. */
int64_t tg_days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void tg_civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400) + (*m <= 2);
}

void tg_iso8601_ms(int64_t epoch_ms, char out[25])
{
    int64_t days = epoch_ms >= 0 ? epoch_ms / 86400000 : -((-epoch_ms + 86399999) / 86400000);
    int64_t rem = epoch_ms - days * 86400000;
    int y;
    unsigned m, d;
    tg_civil_from_days(days, &y, &m, &d);
    unsigned hh = (unsigned)(rem / 3600000) % 24, mm = (unsigned)(rem / 60000 % 60),
             ss = (unsigned)(rem / 1000 % 60), ms = (unsigned)(rem % 1000);
    unsigned yy = (unsigned)(y < 0 ? 0 : y) % 10000;
    /* "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ" by hand: the ledger writer formats two of
     * these per row, and snprintf was most of that */
    const unsigned v[7] = {yy, m % 13, d % 32, hh, mm, ss, ms};
    static const char widths[7] = {4, 2, 2, 2, 2, 2, 3},
                      seps[7] = {'-', '-', 'T', ':', ':', '.', 'Z'};
    char *o = out;
    for (int i = 0; i < 7; i++) {
        unsigned x = v[i];
        for (int k = widths[i] - 1; k >= 0; k--) {
            o[k] = (char)('0' + x % 10);
            x /= 10;
        }
        o += widths[i];
        *o++ = seps[i];
    }
    *o = '\0';
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int tg_parse_time(const char *s, int64_t *epoch_ms)
{
    int y, mo, d, hh = 0, mi = 0, ss = 0, ms = 0;
    size_t n = strlen(s);
    if (n < 10 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d))
        return TG_ERR_INVALID;
    if (mo < 1 || mo > 12 || d < 1 || d > 31)
        return TG_ERR_INVALID;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
        return TG_ERR_INVALID;
    const char *p = s + 10;
    if (*p == 'T' || *p == ' ') {
        if (strlen(p) < 9 || digits(p + 1, 2, &hh) || p[3] != ':' || digits(p + 4, 2, &mi) ||
            p[6] != ':' || digits(p + 7, 2, &ss))
            return TG_ERR_INVALID;
        if (hh > 23 || mi > 59 || ss > 60)
            return TG_ERR_INVALID;
        p += 9;
        if (*p == '.') {
            p++;
            int scale = 100, nd = 0;
            while (*p >= '0' && *p <= '9') {
                if (nd < 3)
                    ms += (*p - '0') * scale;
                scale /= 10;
                nd++;
                p++;
            }
            if (nd == 0)
                return TG_ERR_INVALID;
        }
        if (*p == 'Z')
            p++;
        else if (strcmp(p, "+00:00") == 0)
            p += 6;
        else
            return TG_ERR_INVALID;
    }
    if (*p != '\0')
        return TG_ERR_INVALID;
    *epoch_ms = tg_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400000 +
                (int64_t)hh * 3600000 + (int64_t)mi * 60000 + (int64_t)ss * 1000 + ms;
    return 0;
}
