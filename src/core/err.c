/* core/err.c - error buffer formatting */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>

int tg_errf(struct tg_errbuf *eb, int code, const char *fmt, ...)
{
    if (eb != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(eb->msg, sizeof eb->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *tg_err_name(int code)
{
    switch (code) {
    case TG_OK: return "ok";
    case TG_ERR_NOMEM: return "nomem";
    case TG_ERR_INVALID: return "invalid";
    case TG_ERR_NOTFOUND: return "not_found";
    case TG_ERR_IO: return "io";
    case TG_ERR_LIMIT: return "limit";
    case TG_ERR_EXISTS: return "exists";
    case TG_ERR_AGAIN: return "again";
    default: return "unknown";
    }
}
