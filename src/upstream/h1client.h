/* upstream/h1client.h - tollgate's own HTTP/1.1 client for plain-HTTP upstreams, on the
 * worker's h2o loop, with a keep-alive pool per origin */
#ifndef TG_UPSTREAM_H1CLIENT_H
#define TG_UPSTREAM_H1CLIENT_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "upstream/h1parse.h"

#define TG_H1_MAX_ORIGINS 16

/* Where a plain-HTTP upstream lives: resolved once by the server at start, immutable and
 * shared read-only by every worker. id (< TG_H1_MAX_ORIGINS) names its connection pool. */
struct tg_h1_origin {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int id;
    char name[300]; /* host:port, for error messages */
};

/* How a transfer ended (on_done). */
enum tg_h1_result {
    TG_H1_OK,
    TG_H1_CONNECT_FAILED,  /* refused, unreachable */
    TG_H1_CONNECT_TIMEOUT, /* no connection within connect_timeout_ms */
    TG_H1_IO_ERROR,        /* the connection failed or closed before the response ended */
    TG_H1_BAD_RESPONSE,    /* not HTTP/1.x, or framing a proxy must not guess at */
    TG_H1_ABORTED,         /* on_body returned TG_H1_STOP */
};

/* What on_body did with the bytes it was given. */
enum tg_h1_take {
    TG_H1_TAKE,  /* consumed them all */
    TG_H1_PAUSE, /* consumed none: deliver them again after tg_h1_resume */
    TG_H1_STOP,  /* abort the transfer (on_done reports TG_H1_ABORTED) */
};

/* A transfer owner embeds this and sets the three callbacks before tg_h1_start. They run
 * from the worker's loop, never from inside a tg_h1_* call; on_done is the last, after
 * which the client never touches the transfer again. The owner must not call
 * tg_h1_cancel from inside on_head or on_body (it returns TG_H1_STOP instead). */
struct tg_h1_transfer {
    /* the final response's head (1xx heads are skipped); pointers valid during the call */
    void (*on_head)(struct tg_h1_transfer *t, const struct tg_h1_head *head);
    enum tg_h1_take (*on_body)(struct tg_h1_transfer *t, const char *p, size_t n);
    /* msg: what went wrong, in words (valid during the call); "" on TG_H1_OK */
    void (*on_done)(struct tg_h1_transfer *t, enum tg_h1_result r, const char *msg);
    bool is_sent; /* the request's bytes went to the provider (it may bill) */
    /* private to the client */
    struct tg_h1client *cl;
    struct tg_h1conn *conn;
    const struct tg_h1_origin *origin;
    h2o_iovec_t req[2];
    int phase;
    bool is_paused, is_retried, has_answer, is_eof;
    const char *eof_err; /* why the connection ended (is_eof) */
    uint64_t sent_at_ms; /* loop time the request went out on its connection */
    int64_t left;        /* Content-Length bytes still to come; -1: chunked or until close */
    bool is_chunked, is_keep_alive;
    struct tg_h1_chunked chunk;
    h2o_timeout_entry_t defer; /* work put off to the next pass of the loop */
    int defer_result;          /* -1: resume delivery; else the result to report */
    int defer_errno;
};

struct tg_h1client;

/** A client for one worker's loop. connect_timeout_ms bounds each new connection; a
 *  pooled connection idle longer than max_idle_ms is closed, not reused. */
struct tg_h1client *tg_h1client_new(h2o_loop_t *loop, uint64_t connect_timeout_ms,
                                    uint64_t max_idle_ms);
/** Closes every connection; transfers still running get no callback. NULL ok. */
void tg_h1client_destroy(struct tg_h1client *cl);

/** Sends head (the request line and headers, through the blank line) and then body on a
 *  pooled connection to o, or a new one. Both must stay valid until on_done or cancel.
 *  A connection that was idle in the pool and fails at once, before any byte of the
 *  answer, is retried once on a new connection (the provider closed it as it was
 *  reused); a later failure is reported, never retried (the call may have been billed). */
void tg_h1_start(struct tg_h1client *cl, struct tg_h1_transfer *t, const struct tg_h1_origin *o,
                 h2o_iovec_t head, h2o_iovec_t body);
/** After on_body returned TG_H1_PAUSE: the held bytes are delivered again, and reading
 *  goes on, from the next pass of the loop. */
void tg_h1_resume(struct tg_h1_transfer *t);
/** Stops a running transfer without callbacks; its connection is closed. */
void tg_h1_cancel(struct tg_h1_transfer *t);

/* What the client did with its connections, since it was created. */
struct tg_h1_stats {
    uint64_t opened;  /* new connections started */
    uint64_t reused;  /* requests sent on a pooled connection */
    uint64_t retried; /* requests sent again after a pooled connection failed at once */
    uint64_t expired; /* pooled connections closed for idling past max_idle_ms */
};

/** A consistent-enough copy of cl's counters; any thread (GET /metrics sums workers). */
void tg_h1client_stats(const struct tg_h1client *cl, struct tg_h1_stats *out);

/** Idle connections kept for o (tests). */
int tg_h1client_idle(const struct tg_h1client *cl, const struct tg_h1_origin *o);

#endif
