/* core/clock.h - wall and monotonic time, ISO 8601 formatting, UTC calendar helpers */
#ifndef TG_CORE_CLOCK_H
#define TG_CORE_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/** Wall clock in milliseconds since the Unix epoch (UTC). Any thread. */
int64_t tg_now_ms(void);
/** Wall clock in nanoseconds since the Unix epoch (UTC). Any thread. */
int64_t tg_now_ns(void);
/** Monotonic clock in nanoseconds. Any thread. */
int64_t tg_mono_ns(void);

/** The CLOCK_REALTIME instant ms milliseconds from now, as pthread_cond_timedwait takes
 *  it. Any thread. */
void tg_abstime_after_ms(long ms, struct timespec *ts);
/** Formats epoch ms as "2026-05-29T06:14:12.345Z" into out (at least 25 bytes). */
void tg_iso8601_ms(int64_t epoch_ms, char out[25]);
/** The current UTC month so far as inclusive days: from = its first day, to = today
 *  ("YYYY-MM-DD"). The default range of reports. Any thread. */
void tg_month_to_date(char from[11], char to[11]);
/** Parses "YYYY-MM-DD" or an ISO 8601 UTC timestamp ("...T..Z", fractional
 *  seconds optional) to epoch ms. Returns 0 or TG_ERR_INVALID. */
int tg_parse_time(const char *s, int64_t *epoch_ms);
/** Days since 1970-01-01 for a proleptic Gregorian civil date (any year). */
int64_t tg_days_from_civil(int y, unsigned m, unsigned d);
/** Inverse of tg_days_from_civil. */
void tg_civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d);

#endif
