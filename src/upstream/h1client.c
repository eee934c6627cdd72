/* upstream/h1client.c - an HTTP/1.1 client on h2o sockets, for plain-HTTP upstreams
 *
 * DESIGN. libcurl carries every upstream that needs TLS, HTTP/2, DNS or an egress proxy;
 * a plain-HTTP upstream at a fixed address (a local model server, a sidecar, the bench's
 * mock) goes through this client instead, because libcurl was ~45% of a proxied call's
 * instructions (BENCHMARKS.md) and this is a few hundred. Its sockets are h2o sockets on
 * the worker's own loop: no second epoll set, no liveness poll() before reuse.
 *
 * A connection (struct tg_h1conn) is busy with one transfer or idle in its origin's pool
 * (LIFO, at most MAX_IDLE). An idle connection is still read: any event on it (the
 * provider closing it, or stray bytes) closes it. One idle longer than max_idle_ms is
 * closed instead of reused: a load balancer or NAT may have dropped it silently, and a
 * request sent into such a connection waits for the first-byte timeout. Transfer phases: CONNECT ->
 * HEAD (request written while the answer's head is read; 1xx heads are skipped) -> BODY
 * (Content-Length, chunked, or until the close) -> done, when a keep-alive connection
 * with nothing left over goes back to the pool. Backpressure: on_body returning
 * TG_H1_PAUSE stops reading the socket, so the kernel's window throttles the provider;
 * the held bytes stay in the socket's input buffer until tg_h1_resume.
 * A pooled connection that fails at once (RETRY_WINDOW_MS), before any byte of the answer,
 * is retried once on a new connection: the provider closed it while it was idle (RFC
 * 9112 §9.3.1). A failure after longer is reported, never retried: an LLM call is not
 * idempotent, and the provider may have billed it.
 * Lifetimes: the transfer belongs to its owner; on_done is the last callback and comes
 * after the connection was detached, so the owner may free the transfer in it. A failure
 * found inside tg_h1_start (connect() refused at once) and a resume are put off to the
 * loop's next pass, so no callback ever runs inside a tg_h1_* call.
 * Everything runs on the owning worker's thread. */
#include "upstream/h1client.h"

#include "core/alloc.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>

#define MAX_IDLE 64
/* One on_body call hands at most this much (libcurl's 16 KB): a paused owner stops the
 * rest in the socket's buffer instead of taking all a read pass drained at once. */
#define MAX_DELIVERY (16u << 10)
/* h2o reads a socket until the kernel has nothing more, so one read pass can move a whole
 * autotuned receive window (megabytes on loopback) into user space while the owner is
 * about to pause. A fixed receive buffer bounds that pass; at 256 KB it still carries
 * 250 MB/s at 1 ms of round trip, and this client only serves fixed nearby addresses. */
#define RCVBUF (256 << 10)
/* A pooled connection that fails this soon after the request went out, with no byte of
 * an answer, was closed by the provider while idle: the request is sent again. Later, the
 * provider may have been working on it (and billing it), so the failure is reported. */
#define RETRY_WINDOW_MS 100

enum { PH_CONNECT, PH_HEAD, PH_BODY };

struct tg_h1conn {
    struct tg_h1client *cl;
    const struct tg_h1_origin *o;
    h2o_socket_t *sock;
    struct tg_h1_transfer *t;  /* NULL while idle */
    h2o_linklist_t link;       /* in cl->idle[o->id] or cl->busy */
    h2o_timeout_entry_t timer; /* connect timeout */
    uint64_t idle_since_ms;    /* loop time it went back to the pool */
    bool is_idle, is_reused;
};

struct tg_h1client {
    h2o_loop_t *loop;
    uint64_t connect_timeout_ms, max_idle_ms;
    h2o_timeout_t connect_timeout, zero;
    h2o_linklist_t idle[TG_H1_MAX_ORIGINS];
    int n_idle[TG_H1_MAX_ORIGINS];
    h2o_linklist_t busy;
    struct tg_h1_stats stats; /* written by the owner only, read by any thread (relaxed) */
    char msg[512];
};

#define COUNT(cl, what) __atomic_add_fetch(&(cl)->stats.what, 1, __ATOMIC_RELAXED)

static void on_read(h2o_socket_t *sock, const char *err);
static void connect_new(struct tg_h1client *cl, struct tg_h1_transfer *t);

static void conn_close(struct tg_h1conn *k)
{
    if (h2o_timeout_is_linked(&k->timer))
        h2o_timeout_unlink(&k->timer);
    if (h2o_linklist_is_linked(&k->link))
        h2o_linklist_unlink(&k->link);
    if (k->is_idle)
        k->cl->n_idle[k->o->id]--;
    if (k->t != NULL)
        k->t->conn = NULL;
    h2o_socket_close(k->sock);
    free(k);
}

/* Detaches and closes the connection, then reports. */
static void finish(struct tg_h1_transfer *t, enum tg_h1_result r, const char *msg)
{
    if (t->conn != NULL)
        conn_close(t->conn);
    t->on_done(t, r, msg);
}

static void on_idle_event(h2o_socket_t *sock, const char *err)
{
    (void)err; /* the provider closed it, or sent bytes nobody asked for: either way, gone */
    conn_close(sock->data);
}

/* The answer ended well: keep the connection when it can carry another request. */
static void complete(struct tg_h1_transfer *t)
{
    struct tg_h1conn *k = t->conn;
    struct tg_h1client *cl = k->cl;
    int id = k->o->id;
    k->t = NULL;
    t->conn = NULL;
    if (t->is_keep_alive && k->sock->input->size == 0 && !h2o_socket_is_writing(k->sock) &&
        cl->n_idle[id] < MAX_IDLE) {
        h2o_linklist_unlink(&k->link);
        h2o_linklist_insert(cl->idle[id].next, &k->link); /* LIFO: the warmest first */
        cl->n_idle[id]++;
        k->is_idle = true;
        k->idle_since_ms = h2o_now(cl->loop);
        h2o_socket_read_start(k->sock, on_idle_event);
    } else {
        conn_close(k);
    }
    t->on_done(t, TG_H1_OK, "");
}

/* Parses and delivers what the socket holds. Returns false once the transfer ended. */
static bool process(struct tg_h1_transfer *t)
{
    h2o_buffer_t **in = &t->conn->sock->input;
    while (t->phase == PH_HEAD) {
        if ((*in)->size == 0)
            return true;
        t->has_answer = true;
        struct tg_h1_head head;
        long r = tg_h1_parse_head((*in)->bytes, (*in)->size, &head);
        if (r == 0)
            return true;
        if (r < 0 || head.status == 101) {
            finish(t, TG_H1_BAD_RESPONSE, "the provider's answer is not a valid HTTP/1.1 response");
            return false;
        }
        if (head.status >= 200) {
            t->is_keep_alive = head.is_keep_alive;
            t->is_chunked = head.is_chunked;
            t->left = head.is_chunked ? -1 : head.content_length;
            t->phase = PH_BODY;
            t->on_head(t, &head);
        }
        h2o_buffer_consume(in, (size_t)r);
    }
    while (!t->is_paused) {
        if (t->left == 0) {
            complete(t);
            return false;
        }
        size_t n = (*in)->size;
        if (t->is_chunked) {
            size_t skip = 0;
            enum tg_h1_chunk ch = tg_h1_chunked_next(&t->chunk, (*in)->bytes, n, &skip, &n);
            h2o_buffer_consume(in, skip);
            if (ch == TG_H1_CHUNK_END) {
                t->is_keep_alive = t->is_keep_alive && (*in)->size == 0;
                t->left = 0;
                continue;
            }
            if (ch == TG_H1_CHUNK_BAD) {
                finish(t, TG_H1_BAD_RESPONSE, "the provider's chunked body is malformed");
                return false;
            }
            if (ch == TG_H1_CHUNK_MORE)
                return true;
        } else {
            if (n == 0)
                return true;
            if (t->left > 0 && (int64_t)n > t->left) {
                n = (size_t)t->left;
                t->is_keep_alive = false; /* bytes past the body: the connection is not sane */
            }
        }
        if (n > MAX_DELIVERY)
            n = MAX_DELIVERY;
        enum tg_h1_take tk = t->on_body(t, (*in)->bytes, n);
        if (tk == TG_H1_PAUSE) {
            t->is_paused = true;
            h2o_socket_read_stop(t->conn->sock);
            return true;
        }
        if (tk == TG_H1_STOP) {
            finish(t, TG_H1_ABORTED, "the transfer was stopped by the gateway");
            return false;
        }
        h2o_buffer_consume(in, n);
        if (t->is_chunked)
            tg_h1_chunked_took(&t->chunk, n);
        else if (t->left > 0)
            t->left -= (int64_t)n;
    }
    return true;
}

/* The connection ended (closed or failed) with the transfer still running. */
static void end_of_connection(struct tg_h1_transfer *t, const char *err)
{
    struct tg_h1conn *k = t->conn;
    if (t->phase == PH_BODY && t->left < 0 && !t->is_chunked) {
        t->is_keep_alive = false; /* the body ran to the close: it is complete */
        complete(t);
        return;
    }
    if (t->phase != PH_BODY && !t->has_answer && k->is_reused && !t->is_retried &&
        h2o_now(t->cl->loop) - t->sent_at_ms <= RETRY_WINDOW_MS) {
        t->is_retried = true;
        t->is_eof = false; /* that was the old connection's end */
        t->eof_err = NULL;
        COUNT(t->cl, retried);
        conn_close(k);
        connect_new(t->cl, t);
        return;
    }
    snprintf(t->cl->msg, sizeof t->cl->msg, "%s (%s)",
             t->phase == PH_BODY ? "the provider closed the connection before the response ended"
                                 : "the provider closed the connection without answering",
             err);
    finish(t, TG_H1_IO_ERROR, t->cl->msg);
}

static void pump(struct tg_h1_transfer *t)
{
    if (process(t) && t->is_eof && !t->is_paused)
        end_of_connection(t, t->eof_err);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    struct tg_h1conn *k = sock->data;
    struct tg_h1_transfer *t = k->t;
    if (err != NULL) {
        t->is_eof = true;
        t->eof_err = err;
    }
    pump(t);
}

static void on_written(h2o_socket_t *sock, const char *err)
{
    struct tg_h1conn *k = sock->data;
    struct tg_h1_transfer *t = k->t;
    if (t == NULL)
        return; /* the answer came and the connection was closed first */
    if (err == NULL)
        t->is_sent = true;
    /* a failed write is left to the read side: a provider that answered early (a 413)
     * and closed has its answer in the socket still, and a broken connection reports
     * there too */
}

static void send_request(struct tg_h1_transfer *t)
{
    h2o_socket_t *sock = t->conn->sock;
    t->phase = PH_HEAD;
    t->sent_at_ms = h2o_now(t->cl->loop);
    h2o_socket_read_start(sock, on_read);
    h2o_socket_write(sock, t->req, t->req[1].len > 0 ? 2 : 1, on_written);
}

static void on_connect(h2o_socket_t *sock, const char *err)
{
    struct tg_h1conn *k = sock->data;
    struct tg_h1_transfer *t = k->t;
    h2o_timeout_unlink(&k->timer);
    if (err != NULL) {
        snprintf(k->cl->msg, sizeof k->cl->msg, "could not connect to %s (%s)", k->o->name, err);
        finish(t, TG_H1_CONNECT_FAILED, k->cl->msg);
        return;
    }
    int one = 1, rcvbuf = RCVBUF;
    (void)setsockopt(h2o_socket_get_fd(sock), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    (void)setsockopt(h2o_socket_get_fd(sock), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    send_request(t);
}

static void on_connect_timeout(h2o_timeout_entry_t *e)
{
    struct tg_h1conn *k = H2O_STRUCT_FROM_MEMBER(struct tg_h1conn, timer, e);
    struct tg_h1_transfer *t = k->t;
    snprintf(k->cl->msg, sizeof k->cl->msg, "no connection to %s within %llu ms", k->o->name,
             (unsigned long long)k->cl->connect_timeout_ms);
    finish(t, TG_H1_CONNECT_TIMEOUT, k->cl->msg);
}

static void on_defer(h2o_timeout_entry_t *e)
{
    struct tg_h1_transfer *t = H2O_STRUCT_FROM_MEMBER(struct tg_h1_transfer, defer, e);
    if (t->defer_result < 0) { /* resume */
        h2o_socket_read_start(t->conn->sock, on_read);
        pump(t);
        return;
    }
    snprintf(t->cl->msg, sizeof t->cl->msg, "could not connect to %s (%s)", t->origin->name,
             strerror(t->defer_errno));
    t->on_done(t, (enum tg_h1_result)t->defer_result, t->cl->msg);
}

static void attach(struct tg_h1conn *k, struct tg_h1_transfer *t)
{
    k->t = t;
    t->conn = k;
    k->sock->data = k;
}

static void connect_new(struct tg_h1client *cl, struct tg_h1_transfer *t)
{
    const struct tg_h1_origin *o = t->origin;
    t->phase = PH_CONNECT;
    h2o_socket_t *sock =
        h2o_socket_connect(cl->loop, (struct sockaddr *)&o->addr, o->addrlen, on_connect);
    if (sock == NULL) {
        t->defer_errno = errno;
        t->defer_result = TG_H1_CONNECT_FAILED;
        h2o_timeout_link(cl->loop, &cl->zero, &t->defer);
        return;
    }
    struct tg_h1conn *k = tg_calloc(1, sizeof *k);
    COUNT(cl, opened);
    k->cl = cl;
    k->o = o;
    k->sock = sock;
    k->timer.cb = on_connect_timeout;
    attach(k, t);
    h2o_linklist_insert(&cl->busy, &k->link);
    h2o_timeout_link(cl->loop, &cl->connect_timeout, &k->timer);
}

void tg_h1_start(struct tg_h1client *cl, struct tg_h1_transfer *t, const struct tg_h1_origin *o,
                 h2o_iovec_t head, h2o_iovec_t body)
{
    t->cl = cl;
    t->origin = o;
    t->req[0] = head;
    t->req[1] = body;
    t->conn = NULL;
    t->is_sent = t->is_paused = t->is_retried = t->is_eof = t->has_answer = false;
    t->is_chunked = t->is_keep_alive = false;
    t->left = -1;
    memset(&t->chunk, 0, sizeof t->chunk);
    t->defer.cb = on_defer;
    h2o_linklist_t *idle = &cl->idle[o->id];
    struct tg_h1conn *k = NULL;
    while (!h2o_linklist_is_empty(idle) && k == NULL) {
        k = H2O_STRUCT_FROM_MEMBER(struct tg_h1conn, link, idle->next);
        if (h2o_now(cl->loop) - k->idle_since_ms > cl->max_idle_ms) {
            conn_close(k); /* a middlebox may have forgotten it without a word */
            COUNT(cl, expired);
            k = NULL;
        }
    }
    if (k == NULL) {
        connect_new(cl, t);
        return;
    }
    h2o_linklist_unlink(&k->link);
    h2o_linklist_insert(&cl->busy, &k->link);
    cl->n_idle[o->id]--;
    k->is_idle = false;
    k->is_reused = true;
    COUNT(cl, reused);
    attach(k, t);
    send_request(t);
}

void tg_h1_resume(struct tg_h1_transfer *t)
{
    if (!t->is_paused || t->conn == NULL)
        return;
    t->is_paused = false;
    t->defer_result = -1;
    h2o_timeout_link(t->cl->loop, &t->cl->zero, &t->defer);
}

void tg_h1_cancel(struct tg_h1_transfer *t)
{
    if (h2o_timeout_is_linked(&t->defer))
        h2o_timeout_unlink(&t->defer);
    if (t->conn != NULL)
        conn_close(t->conn);
}

struct tg_h1client *tg_h1client_new(h2o_loop_t *loop, uint64_t connect_timeout_ms,
                                    uint64_t max_idle_ms)
{
    struct tg_h1client *cl = tg_calloc(1, sizeof *cl);
    cl->loop = loop;
    cl->connect_timeout_ms = connect_timeout_ms;
    cl->max_idle_ms = max_idle_ms;
    h2o_timeout_init(loop, &cl->connect_timeout, connect_timeout_ms);
    h2o_timeout_init(loop, &cl->zero, 0);
    for (int i = 0; i < TG_H1_MAX_ORIGINS; i++)
        h2o_linklist_init_anchor(&cl->idle[i]);
    h2o_linklist_init_anchor(&cl->busy);
    return cl;
}

static void close_all(h2o_linklist_t *list)
{
    while (!h2o_linklist_is_empty(list))
        conn_close(H2O_STRUCT_FROM_MEMBER(struct tg_h1conn, link, list->next));
}

void tg_h1client_destroy(struct tg_h1client *cl)
{
    if (cl == NULL)
        return;
    for (int i = 0; i < TG_H1_MAX_ORIGINS; i++)
        close_all(&cl->idle[i]);
    close_all(&cl->busy);
    while (!h2o_linklist_is_empty(&cl->zero._entries))
        h2o_timeout_unlink(
            H2O_STRUCT_FROM_MEMBER(h2o_timeout_entry_t, _link, cl->zero._entries.next));
    h2o_timeout_dispose(cl->loop, &cl->connect_timeout);
    h2o_timeout_dispose(cl->loop, &cl->zero);
    free(cl);
}

void tg_h1client_stats(const struct tg_h1client *cl, struct tg_h1_stats *out)
{
    out->opened = __atomic_load_n(&cl->stats.opened, __ATOMIC_RELAXED);
    out->reused = __atomic_load_n(&cl->stats.reused, __ATOMIC_RELAXED);
    out->retried = __atomic_load_n(&cl->stats.retried, __ATOMIC_RELAXED);
    out->expired = __atomic_load_n(&cl->stats.expired, __ATOMIC_RELAXED);
}

int tg_h1client_idle(const struct tg_h1client *cl, const struct tg_h1_origin *o)
{
    return cl->n_idle[o->id];
}
