/* core/err.h - error codes and the error buffer that carries messages */
#ifndef TG_CORE_ERR_H
#define TG_CORE_ERR_H

#include <stddef.h>

/* Fallible functions return 0 or a negative enum tg_err. */
enum tg_err {
    TG_OK = 0,
    TG_ERR_NOMEM = -1,
    TG_ERR_INVALID = -2, /* malformed input (client, upstream, file) */
    TG_ERR_NOTFOUND = -3,
    TG_ERR_IO = -4,    /* file, socket or database failure */
    TG_ERR_LIMIT = -5, /* a configured or spec limit was exceeded */
    TG_ERR_EXISTS = -6,
    TG_ERR_AGAIN = -7, /* try later (queue full, store busy) */
};

/** Message buffer for config and parse errors ("pricing.csv:12: unknown column 'x'"). */
struct tg_errbuf {
    char msg[512];
};

/** Formats a message into eb (may be NULL) and returns code, so callers can write
 *  `return tg_errf(eb, TG_ERR_INVALID, "...")`. */
int tg_errf(struct tg_errbuf *eb, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Short stable name of an error code ("invalid", "io", ...). */
const char *tg_err_name(int code);

#endif
