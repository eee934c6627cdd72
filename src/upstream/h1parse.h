/* upstream/h1parse.h - HTTP/1.1 response framing (RFC 9112), pure: the head, then the
 * body's chunked coding. No I/O, no allocation; pointers borrow the caller's bytes. */
#ifndef TG_UPSTREAM_H1PARSE_H
#define TG_UPSTREAM_H1PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_H1_MAX_HEADERS 100
#define TG_H1_MAX_HEAD    (64u << 10) /* a longer response head is refused */

struct tg_h1_header {
    const char *name; /* as sent (case kept) */
    size_t name_len;
    const char *value; /* surrounding whitespace removed */
    size_t value_len;
};

struct tg_h1_head {
    int status;
    int minor_version; /* HTTP/1.x */
    size_t n_headers;
    struct tg_h1_header headers[TG_H1_MAX_HEADERS];
    int64_t content_length; /* -1: none given; 0 for 1xx, 204 and 304 */
    bool is_chunked;        /* Transfer-Encoding ends in chunked (Content-Length ignored) */
    bool is_keep_alive;     /* the connection may carry another request after this one */
};

/** Parses a response head at p[0..n). Returns its length through the blank line once it
 *  is complete, 0 when more bytes are needed (and n < TG_H1_MAX_HEAD), or -1 when it is
 *  malformed or too long. h's pointers point into p. */
long tg_h1_parse_head(const char *p, size_t n, struct tg_h1_head *h);

/* The chunked transfer coding, decoded without copying: the caller keeps the bytes in
 * its buffer, asks where the next data is, hands that data on and says how much it took. */
struct tg_h1_chunked {
    uint64_t left; /* data bytes left in the current chunk */
    int state;
};

enum tg_h1_chunk { TG_H1_CHUNK_DATA, TG_H1_CHUNK_MORE, TG_H1_CHUNK_END, TG_H1_CHUNK_BAD };

/** Looks at the body bytes p[0..n). Always sets *skip: framing bytes the caller drops
 *  first. DATA: *len (> 0) bytes of data follow at p + *skip; the caller reports what it
 *  took with tg_h1_chunked_took. MORE: framing is incomplete, wait for more bytes. END:
 *  the last chunk and its trailers are complete. BAD: not the chunked coding. */
enum tg_h1_chunk tg_h1_chunked_next(struct tg_h1_chunked *d, const char *p, size_t n, size_t *skip,
                                    size_t *len);
/** n (<= the *len last returned) data bytes were consumed. */
void tg_h1_chunked_took(struct tg_h1_chunked *d, size_t n);

#endif
