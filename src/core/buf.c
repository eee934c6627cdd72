/* core/buf.c - growable byte buffer */
#include "core/buf.h"

#include "core/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(struct tg_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->base = tg_realloc(b->base, cap);
    b->cap = cap;
}

void tg_buf_append(struct tg_buf *b, const void *p, size_t n)
{
    reserve(b, n);
    if (n > 0)
        memcpy(b->base + b->len, p, n);
    b->len += n;
    b->base[b->len] = '\0';
}

char *tg_buf_extend(struct tg_buf *b, size_t n)
{
    reserve(b, n);
    char *p = b->base + b->len;
    b->len += n;
    b->base[b->len] = '\0';
    return p;
}

void tg_buf_appends(struct tg_buf *b, const char *s)
{
    tg_buf_append(b, s, strlen(s));
}

void tg_buf_appendf(struct tg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n > 0) {
        reserve(b, (size_t)n);
        vsnprintf(b->base + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

void tg_buf_append_json_str(struct tg_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    tg_buf_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            tg_buf_append(b, e, 2);
        } else if (c == '\n') {
            tg_buf_append(b, "\\n", 2);
        } else if (c == '\r') {
            tg_buf_append(b, "\\r", 2);
        } else if (c == '\t') {
            tg_buf_append(b, "\\t", 2);
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            tg_buf_append(b, e, 6);
        } else {
            tg_buf_append(b, &s[i], 1);
        }
    }
    tg_buf_append(b, "\"", 1);
}

void tg_buf_consume(struct tg_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->base, b->base + n, b->len - n);
        b->len -= n;
    }
    if (b->base != NULL)
        b->base[b->len] = '\0';
}

int tg_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void tg_buf_reset(struct tg_buf *b)
{
    b->len = 0;
    if (b->base != NULL)
        b->base[0] = '\0';
}

void tg_buf_free(struct tg_buf *b)
{
    free(b->base);
    b->base = NULL;
    b->len = b->cap = 0;
}
