/* upstream/h1parse.c - HTTP/1.1 response heads and the chunked coding (RFC 9112)
 *
 * Strict where a proxy must be (RFC 9112 §6.3, §11.2): a Content-Length that is not all
 * digits or that repeats with another value, obsolete line folding, a header line without
 * a colon or with whitespace before it, and a chunk size that is not hexadecimal are
 * refused rather than guessed at — a guess is how response splitting happens. Lines may
 * end in CRLF or a bare LF (§2.2). */
#include "upstream/h1parse.h"

#include "core/buf.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#define BIT(c) (1ull << ((c)&63))
/* RFC 9110 tchar: ALPHA, DIGIT and !#$%&'*+-.^_`|~, as bits of two masks (a header
 * name's '-' took a strchr) */
static bool is_tchar(unsigned char ch)
{
    static const uint64_t low = (0x3ffull << 48) | BIT('!') | BIT('#') | BIT('$') | BIT('%') |
                                BIT('&') | BIT('\'') | BIT('*') | BIT('+') | BIT('-') | BIT('.');
    static const uint64_t high = (0x3ffffffull << 1) | (0x3ffffffull << 33) | BIT('^') | BIT('_') |
                                 BIT('`') | BIT('|') | BIT('~');
    return ch < 64 ? (low >> ch & 1) : ch < 128 ? (high >> (ch - 64) & 1) : false;
}

/* Does the comma-separated list v contain token tok (case-insensitive)? */
static bool list_has(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok), i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
            return true;
    }
    return false;
}

/* Is the last coding of a Transfer-Encoding list "chunked"? */
static bool last_is_chunked(const char *v, size_t n)
{
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    size_t s = n;
    while (s > 0 && v[s - 1] != ',')
        s--;
    while (s < n && (v[s] == ' ' || v[s] == '\t'))
        s++;
    return n - s == 7 && strncasecmp(v + s, "chunked", 7) == 0;
}

/* lit: a string literal */
#define NAME_IS(h, lit)                                                                            \
    ((h)->name_len == sizeof lit - 1 && strncasecmp((h)->name, lit, sizeof lit - 1) == 0)

/* Applies the framing headers to h; false when they are contradictory or malformed. */
static bool framing(struct tg_h1_head *h)
{
    bool has_close = false, has_keep = false, has_te = false;
    for (size_t i = 0; i < h->n_headers; i++) {
        const struct tg_h1_header *x = &h->headers[i];
        if (NAME_IS(x, "content-length")) {
            if (x->value_len == 0 || x->value_len > 18)
                return false;
            int64_t v = 0;
            for (size_t k = 0; k < x->value_len; k++) {
                if (x->value[k] < '0' || x->value[k] > '9')
                    return false;
                v = v * 10 + (x->value[k] - '0');
            }
            if (h->content_length >= 0 && h->content_length != v)
                return false;
            h->content_length = v;
        } else if (NAME_IS(x, "transfer-encoding")) {
            has_te = true;
            h->is_chunked = last_is_chunked(x->value, x->value_len);
        } else if (NAME_IS(x, "connection")) {
            has_close = has_close || list_has(x->value, x->value_len, "close");
            has_keep = has_keep || list_has(x->value, x->value_len, "keep-alive");
        }
    }
    if (has_te) {
        h->content_length = -1; /* §6.3: Transfer-Encoding overrides Content-Length */
        if (!h->is_chunked)
            has_close = true; /* the body runs to the close of the connection */
    }
    if ((h->status >= 100 && h->status < 200) || h->status == 204 || h->status == 304) {
        h->content_length = 0;
        h->is_chunked = false;
    } else if (h->content_length < 0 && !h->is_chunked) {
        has_close = true; /* read until close */
    }
    h->is_keep_alive = !has_close && (h->minor_version >= 1 || has_keep);
    return true;
}

long tg_h1_parse_head(const char *p, size_t n, struct tg_h1_head *h)
{
    h->status = h->minor_version = 0;
    h->n_headers = 0; /* the entries past it are not read: not cleared (3.2 KB) */
    h->is_chunked = h->is_keep_alive = false;
    h->content_length = -1;
    size_t lim = n < TG_H1_MAX_HEAD ? n : TG_H1_MAX_HEAD, i = 0;
    bool first = true;
    for (;;) {
        const char *nl = memchr(p + i, '\n', lim - i);
        if (nl == NULL)
            return n >= TG_H1_MAX_HEAD ? -1 : 0;
        size_t s = i, e = (size_t)(nl - p);
        i = e + 1;
        if (e > s && p[e - 1] == '\r')
            e--;
        const char *l = p + s;
        size_t ll = e - s;
        if (first) {
            /* HTTP/1.x SP 3DIGIT [SP reason] */
            if (ll < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' || l[7] > '9' ||
                l[8] != ' ' || l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' ||
                l[11] < '0' || l[11] > '9' || (ll > 12 && l[12] != ' '))
                return -1;
            h->minor_version = l[7] - '0';
            h->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
            first = false;
            continue;
        }
        if (ll == 0)
            return framing(h) ? (long)i : -1;
        if (h->n_headers == TG_H1_MAX_HEADERS || l[0] == ' ' || l[0] == '\t')
            return -1; /* too many, or obsolete line folding */
        size_t c = 0;
        while (c < ll && is_tchar((unsigned char)l[c]))
            c++;
        if (c == 0 || c == ll || l[c] != ':')
            return -1;
        size_t vs = c + 1, ve = ll;
        while (vs < ve && (l[vs] == ' ' || l[vs] == '\t'))
            vs++;
        while (ve > vs && (l[ve - 1] == ' ' || l[ve - 1] == '\t'))
            ve--;
        struct tg_h1_header *x = &h->headers[h->n_headers++];
        x->name = l;
        x->name_len = c;
        x->value = l + vs;
        x->value_len = ve - vs;
    }
}

/* --- chunked -------------------------------------------------------------------------- */

enum { ST_SIZE, ST_DATA, ST_DATA_END, ST_TRAILER, ST_DONE };

#define MAX_FRAMING_LINE 4096

enum tg_h1_chunk tg_h1_chunked_next(struct tg_h1_chunked *d, const char *p, size_t n, size_t *skip,
                                    size_t *len)
{
    size_t i = 0;
    *len = 0;
    for (;;) {
        *skip = i;
        switch (d->state) {
        case ST_SIZE: {
            const char *nl = memchr(p + i, '\n', n - i);
            if (nl == NULL)
                return n - i > MAX_FRAMING_LINE ? TG_H1_CHUNK_BAD : TG_H1_CHUNK_MORE;
            size_t e = (size_t)(nl - p), k = i;
            uint64_t v = 0;
            while (k < e && tg_hexval(p[k]) >= 0) {
                if (v >> 56)
                    return TG_H1_CHUNK_BAD;
                v = v * 16 + (uint64_t)tg_hexval(p[k++]);
            }
            if (k == i) /* no digits */
                return TG_H1_CHUNK_BAD;
            while (k < e && (p[k] == ' ' || p[k] == '\t'))
                k++;
            if (k < e && p[k] != ';' && !(p[k] == '\r' && k + 1 == e))
                return TG_H1_CHUNK_BAD; /* anything but a chunk extension */
            i = e + 1;
            d->left = v;
            d->state = v == 0 ? ST_TRAILER : ST_DATA;
            break;
        }
        case ST_DATA:
            if (i == n)
                return TG_H1_CHUNK_MORE;
            *len = (size_t)(n - i < d->left ? n - i : d->left);
            return TG_H1_CHUNK_DATA;
        case ST_DATA_END:
            if (i == n || (p[i] == '\r' && i + 1 == n))
                return TG_H1_CHUNK_MORE;
            if (p[i] == '\r' && p[i + 1] == '\n')
                i += 2;
            else if (p[i] == '\n')
                i += 1;
            else
                return TG_H1_CHUNK_BAD;
            d->state = ST_SIZE;
            break;
        case ST_TRAILER: {
            const char *nl = memchr(p + i, '\n', n - i);
            if (nl == NULL)
                return n - i > MAX_FRAMING_LINE ? TG_H1_CHUNK_BAD : TG_H1_CHUNK_MORE;
            size_t e = (size_t)(nl - p);
            bool empty = e == i || (e == i + 1 && p[i] == '\r');
            i = e + 1;
            if (empty) {
                d->state = ST_DONE;
                *skip = i;
                return TG_H1_CHUNK_END;
            }
            break; /* a trailer field: not forwarded */
        }
        default: return TG_H1_CHUNK_END;
        }
    }
}

void tg_h1_chunked_took(struct tg_h1_chunked *d, size_t n)
{
    d->left -= n < d->left ? n : d->left;
    if (d->left == 0 && d->state == ST_DATA)
        d->state = ST_DATA_END;
}
