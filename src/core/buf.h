/* core/buf.h - growable byte buffer */
#ifndef TG_CORE_BUF_H
#define TG_CORE_BUF_H

#include <stddef.h>

/** A growable buffer; zero-initialised is empty and valid. base is NUL-terminated
 *  whenever len > 0 (one spare byte is always kept). */
struct tg_buf {
    char *base;
    size_t len, cap;
};

void tg_buf_append(struct tg_buf *b, const void *p, size_t n);
/** Grows the buffer by n bytes (NUL-terminated after them) and returns where they start,
 *  for the caller to fill. */
char *tg_buf_extend(struct tg_buf *b, size_t n);
void tg_buf_appends(struct tg_buf *b, const char *s);
void tg_buf_appendf(struct tg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Appends s as a JSON string literal, quotes included. */
void tg_buf_append_json_str(struct tg_buf *b, const char *s, size_t n);
/** The value of the hexadecimal digit c (either case), or -1. */
int tg_hexval(char c);
/** Removes the first n bytes. */
void tg_buf_consume(struct tg_buf *b, size_t n);
void tg_buf_reset(struct tg_buf *b);
void tg_buf_free(struct tg_buf *b);

#endif
