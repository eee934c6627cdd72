/* core/log.c - one line per event on stderr, written with a single write(2) so threads do not
 * interleave */
#include "core/log.h"

#include "core/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static enum tg_log_level min_level = TG_LOG_INFO;

void tg_log_set_level(enum tg_log_level lvl)
{
    min_level = lvl;
}

void tg_log(enum tg_log_level lvl, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (lvl < min_level)
        return;
    char line[2048], ts[25];
    tg_iso8601_ms(tg_now_ms(), ts);
    int n = snprintf(line, sizeof line, "%s %s ", ts, names[lvl]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    (void)!write(2, line, len);
}
