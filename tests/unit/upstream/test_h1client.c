/* tests/unit/upstream/test_h1client.c - the own HTTP/1.1 client on a real h2o loop against
 * a scripted TCP server on loopback: keep-alive reuse, chunked bodies across writes, the
 * stale pooled connection retried, pause and resume, every way an answer can go wrong */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "upstream/h1client.h"

/* The server answers each request with the next script entry. In an answer, '\1' means
 * "flush what came before and wait 20 ms" and a final '\2' means "then close". */
struct server {
    int lfd, port;
    const char *const *answers;
    int n_answers;
    int accepts;
    char first_request[2048];
    pthread_t tid;
};

static struct tg_h1client *cl;
static h2o_loop_t *loop;
static struct tg_h1_origin origin;

static void origin_for(struct tg_h1_origin *o, int port);

static bool read_request(int fd, char *out, size_t cap)
{
    char buf[8192];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
        if (r <= 0)
            return false;
        n += (size_t)r;
        buf[n] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL)
            continue;
        const char *len = strstr(buf, "Content-Length: ");
        size_t want = (size_t)(end + 4 - buf) + (len ? strtoul(len + 16, NULL, 10) : 0);
        if (n >= want)
            break;
    }
    if (out != NULL && out[0] == '\0') {
        size_t k = strlen(buf) < cap - 1 ? strlen(buf) : cap - 1;
        memcpy(out, buf, k);
        out[k] = '\0';
    }
    return true;
}

static void *serve(void *p)
{
    struct server *s = p;
    int fd = -1;
    for (int i = 0; i < s->n_answers; i++) {
        if (fd < 0) {
            fd = accept(s->lfd, NULL, NULL);
            s->accepts++;
        }
        if (!read_request(fd, s->first_request, sizeof s->first_request)) {
            close(fd);
            fd = -1;
            i--; /* the client gave this connection up: the answer goes to the next one */
            continue;
        }
        const char *a = s->answers[i];
        size_t n = strlen(a);
        bool do_close = n > 0 && a[n - 1] == '\2';
        for (const char *q = a; q < a + n - do_close;) {
            const char *mark = memchr(q, '\1', (size_t)(a + n - do_close - q));
            size_t len = mark ? (size_t)(mark - q) : (size_t)(a + n - do_close - q);
            (void)!write(fd, q, len);
            q += len;
            if (mark != NULL) {
                usleep(20000);
                q++;
            }
        }
        if (do_close) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0) {
        char b[64];
        while (read(fd, b, sizeof b) > 0) /* until the client closes */
            ;
        close(fd);
    }
    return NULL;
}

static void server_start(struct server *s, const char *const *answers, int n)
{
    memset(s, 0, sizeof *s);
    s->answers = answers;
    s->n_answers = n;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 8), 0);
    socklen_t l = sizeof a;
    getsockname(s->lfd, (struct sockaddr *)&a, &l);
    s->port = ntohs(a.sin_port);
    origin_for(&origin, s->port); /* the transfers go to this server */
    pthread_create(&s->tid, NULL, serve, s);
}

/* Closes the pool's connections (a connection left open keeps a server thread waiting)
 * and starts a new client. */
static void drop_pool(void)
{
    tg_h1client_destroy(cl);
    cl = tg_h1client_new(loop, 2000, 60000);
}

static void server_stop(struct server *s)
{
    pthread_join(s->tid, NULL);
    close(s->lfd);
}

static void origin_for(struct tg_h1_origin *o, int port)
{
    memset(o, 0, sizeof *o);
    struct sockaddr_in *a = (struct sockaddr_in *)&o->addr;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->sin_port = htons((uint16_t)port);
    o->addrlen = sizeof *a;
    snprintf(o->name, sizeof o->name, "127.0.0.1:%d", port);
}

/* One transfer and what it saw. */
struct xfer {
    struct tg_h1_transfer t; /* first */
    int status, bodies, pause_first;
    struct tg_buf body;
    bool done, in_start;
    enum tg_h1_result result;
    char msg[512];
    void (*then)(struct xfer *x); /* runs inside on_done */
};

static void on_head(struct tg_h1_transfer *t, const struct tg_h1_head *h)
{
    ((struct xfer *)t)->status = h->status;
}

static enum tg_h1_take on_body(struct tg_h1_transfer *t, const char *p, size_t n)
{
    struct xfer *x = (struct xfer *)t;
    x->bodies++;
    if (x->pause_first > 0) {
        x->pause_first--;
        return TG_H1_PAUSE;
    }
    tg_buf_append(&x->body, p, n);
    return TG_H1_TAKE;
}

static void on_done(struct tg_h1_transfer *t, enum tg_h1_result r, const char *msg)
{
    struct xfer *x = (struct xfer *)t;
    assert_false(x->in_start); /* never from inside tg_h1_start */
    x->done = true;
    x->result = r;
    snprintf(x->msg, sizeof x->msg, "%s", msg);
    if (x->then != NULL)
        x->then(x);
}

static const char REQ[] =
    "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n";

static void start(struct xfer *x)
{
    memset(&x->t, 0, sizeof x->t);
    x->t.on_head = on_head;
    x->t.on_body = on_body;
    x->t.on_done = on_done;
    x->done = false;
    x->in_start = true;
    tg_h1_start(cl, &x->t, &origin, h2o_iovec_init(REQ, strlen(REQ)), h2o_iovec_init("{}", 2));
    x->in_start = false;
}

static void run_until(const bool *flag)
{
    for (int i = 0; i < 500 && !*flag; i++)
        h2o_evloop_run(loop, 10);
    assert_true(*flag);
}

/* One whole transfer: started, and the loop run until it is done. */
static void transfer(struct xfer *x)
{
    start(x);
    run_until(&x->done);
}

static int setup(void **state)
{
    (void)state;
    loop = h2o_evloop_create();
    cl = tg_h1client_new(loop, 2000, 60000);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tg_h1client_destroy(cl);
    h2o_evloop_destroy(loop);
    return 0;
}

static void assert_stats(uint64_t opened, uint64_t reused, uint64_t retried, uint64_t expired)
{
    struct tg_h1_stats st;
    tg_h1client_stats(cl, &st);
    assert_int_equal(st.opened, opened);
    assert_int_equal(st.reused, reused);
    assert_int_equal(st.retried, retried);
    assert_int_equal(st.expired, expired);
}

static void test_keep_alive_reuse(void **state)
{
    (void)state;
    static const char *const answers[] = {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        "11\r\n\r\n{\"a\":\"one\"}",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\n\1hello",
    };
    struct server s;
    server_start(&s, answers, 2);
    struct xfer x = {0};
    transfer(&x);
    assert_int_equal(x.result, TG_H1_OK);
    assert_int_equal(x.status, 200);
    assert_int_equal(x.body.len, 11);
    assert_memory_equal(x.body.base, "{\"a\":\"one\"}", 11);
    assert_true(x.t.is_sent);
    assert_int_equal(tg_h1client_idle(cl, &origin), 1);
    tg_buf_reset(&x.body);
    transfer(&x);
    assert_int_equal(x.result, TG_H1_OK);
    assert_int_equal(x.status, 201); /* the 100 was skipped */
    assert_int_equal(x.body.len, 5);
    assert_memory_equal(x.body.base, "hello", 5);
    assert_int_equal(tg_h1client_idle(cl, &origin), 1);
    assert_stats(1, 1, 0, 0);
    drop_pool();
    server_stop(&s);
    assert_int_equal(s.accepts, 1);
    assert_memory_equal(s.first_request, REQ, strlen(REQ));
    assert_string_equal(s.first_request + strlen(REQ), "{}");
    tg_buf_free(&x.body);
}

static void test_idle_too_long_not_reused(void **state)
{
    (void)state;
    static const char *const answers[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb",
    };
    tg_h1client_destroy(cl);
    cl = tg_h1client_new(loop, 2000, 50);
    struct server s;
    server_start(&s, answers, 2);
    struct xfer x = {0};
    transfer(&x);
    assert_int_equal(tg_h1client_idle(cl, &origin), 1);
    for (int i = 0; i < 12; i++) /* 120 ms idle: past max_idle_ms */
        h2o_evloop_run(loop, 10);
    transfer(&x);
    assert_int_equal(x.result, TG_H1_OK);
    assert_memory_equal(x.body.base, "ab", 2);
    assert_stats(2, 0, 0, 1);
    drop_pool();
    server_stop(&s);
    assert_int_equal(s.accepts, 2); /* a new connection for the second request */
    tg_buf_free(&x.body);
}

static void test_chunked_across_writes(void **state)
{
    (void)state;
    static const char *const answers[] = {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nda\1ta:\r\n\1"
        "3\r\n x\n\r\n0\r\n\1\r\n\2",
    };
    struct server s;
    server_start(&s, answers, 1);
    struct xfer x = {0};
    transfer(&x);
    assert_int_equal(x.result, TG_H1_OK);
    assert_int_equal(x.body.len, 8);
    assert_memory_equal(x.body.base, "data: x\n", 8);
    assert_true(x.bodies >= 3);
    server_stop(&s);
    tg_buf_free(&x.body);
}

static struct xfer second;
static void start_second(struct xfer *x)
{
    (void)x;
    start(&second); /* at once: the pooled connection's close is not seen yet */
}

static void test_stale_pooled_connection_retried(void **state)
{
    (void)state;
    /* the first answer keeps the connection alive by its headers, then the server closes
     * it; the second request goes out on it and is retried on a new connection */
    static const char *const answers[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok\2",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ny\1es", /* in two reads */
    };
    struct server s;
    server_start(&s, answers, 2);
    struct xfer x = {0};
    x.then = start_second;
    usleep(1000);
    transfer(&x);
    assert_int_equal(x.result, TG_H1_OK);
    run_until(&second.done);
    assert_int_equal(second.result, TG_H1_OK);
    assert_int_equal(second.body.len, 3);
    assert_memory_equal(second.body.base, "yes", 3);
    assert_stats(2, 1, 1, 0);
    drop_pool();
    server_stop(&s);
    assert_int_equal(s.accepts, 2);
    tg_buf_free(&x.body);
    tg_buf_free(&second.body);
}

static void test_late_failure_not_retried(void **state)
{
    (void)state;
    /* the second request is read, then the provider "works" for 300 ms and dies: it may
     * have billed the call, so it is reported and not sent again */
    static const char *const answers[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "\1\1\1\1\1\1\1\1\1\1\1\1\1\1\1\2",
    };
    struct server s;
    server_start(&s, answers, 2);
    struct xfer x = {0};
    transfer(&x);
    assert_int_equal(x.result, TG_H1_OK);
    transfer(&x);
    assert_int_equal(x.result, TG_H1_IO_ERROR);
    assert_true(x.t.is_sent);
    assert_string_equal(x.msg, "the provider closed the connection without answering (socket "
                               "closed by peer)");
    assert_stats(1, 1, 0, 0); /* not retried */
    server_stop(&s);
    assert_int_equal(s.accepts, 1);
    tg_buf_free(&x.body);
}

static void test_pause_and_resume(void **state)
{
    (void)state;
    static const char *const answers[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nabcdef\2",
    };
    struct server s;
    server_start(&s, answers, 1);
    struct xfer x = {0};
    x.pause_first = 1;
    start(&x);
    for (int i = 0; i < 50 && x.bodies == 0; i++)
        h2o_evloop_run(loop, 10);
    assert_int_equal(x.bodies, 1);
    for (int i = 0; i < 10; i++) /* paused: nothing more is delivered, the close not seen */
        h2o_evloop_run(loop, 5);
    assert_int_equal(x.bodies, 1);
    assert_false(x.done);
    tg_h1_resume(&x.t);
    assert_int_equal(x.bodies, 1); /* not from inside tg_h1_resume */
    run_until(&x.done);
    assert_int_equal(x.result, TG_H1_OK);
    assert_int_equal(x.body.len, 6);
    assert_memory_equal(x.body.base, "abcdef", 6);
    assert_int_equal(tg_h1client_idle(cl, &origin), 0); /* Connection: close */
    server_stop(&s);
    tg_buf_free(&x.body);
}

struct bad_case {
    const char *name, *answer;
    enum tg_h1_result result;
    const char *body; /* what was delivered before the end */
};

static void test_answers_that_go_wrong(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        {"until close is complete", "HTTP/1.1 200 OK\r\n\r\nall of it\2", TG_H1_OK, "all of it"},
        {"closed mid-body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf\2", TG_H1_IO_ERROR,
         "half"},
        {"closed mid-chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\npart\2",
         TG_H1_IO_ERROR, "part"},
        {"closed without answering", "\2", TG_H1_IO_ERROR, ""},
        {"closed mid-head", "HTTP/1.1 200 OK\r\nContent-\2", TG_H1_IO_ERROR, ""},
        {"not http", "SSH-2.0-OpenSSH_9.2\r\n\r\n", TG_H1_BAD_RESPONSE, ""},
        {"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
         TG_H1_BAD_RESPONSE, ""},
        {"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
         TG_H1_BAD_RESPONSE, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *answers[1] = {cases[i].answer};
        struct server s;
        server_start(&s, answers, 1);
        struct xfer x = {0};
        transfer(&x);
        if (x.result != cases[i].result || x.body.len != strlen(cases[i].body) ||
            memcmp(x.body.base ? x.body.base : "", cases[i].body, x.body.len) != 0)
            fail_msg("%s: result %d (%s), body '%.*s'", cases[i].name, x.result, x.msg,
                     (int)x.body.len, x.body.base ? x.body.base : "");
        assert_int_equal(tg_h1client_idle(cl, &origin), 0);
        drop_pool();
        server_stop(&s);
        tg_buf_free(&x.body);
    }
}

static void test_connect_refused(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd); /* a port nobody listens on */
    origin_for(&origin, ntohs(a.sin_port));
    struct xfer x = {0};
    start(&x);
    assert_false(x.done);
    run_until(&x.done);
    assert_int_equal(x.result, TG_H1_CONNECT_FAILED);
    assert_false(x.t.is_sent);
    char want[80];
    snprintf(want, sizeof want, "could not connect to 127.0.0.1:%d (", ntohs(a.sin_port));
    assert_memory_equal(x.msg, want, strlen(want));
}

static void test_cancel(void **state)
{
    (void)state;
    static const char *const answers[] = {"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n\1ab"};
    struct server s;
    server_start(&s, answers, 1);
    struct xfer x = {0};
    start(&x);
    for (int i = 0; i < 50 && !x.t.is_sent; i++)
        h2o_evloop_run(loop, 10);
    tg_h1_cancel(&x.t);
    for (int i = 0; i < 10; i++)
        h2o_evloop_run(loop, 10);
    assert_false(x.done); /* no callback after a cancel */
    assert_int_equal(tg_h1client_idle(cl, &origin), 0);
    server_stop(&s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the gateway does: a write to a closed peer is an error */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keep_alive_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_too_long_not_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_across_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_pooled_connection_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_failure_not_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answers_that_go_wrong, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
