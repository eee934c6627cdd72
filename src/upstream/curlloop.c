/* upstream/curlloop.c - libcurl's multi-socket API inside the h2o event loop
 *
 * DESIGN. h2o cannot watch a file descriptor it does not own, so curl's sockets live in
 * a private epoll set together with one timerfd for curl's timer; that epoll fd is the
 * only thing registered with the h2o loop (FOUNDATION.md). When it becomes readable we
 * drain epoll_wait(…, 0) and hand each ready fd to curl_multi_socket_action.
 * curl's timer: a 0 ms timeout means "run now" and is served from h2o's zero timeout
 * (no system call); a positive timeout re-arms the timerfd only when the new deadline is
 * earlier than the armed one (an early fire is harmless: curl re-reports). Re-arming on
 * every callback cost 22% CPU in the measurements.
 * curl's sockets stay in the epoll set between transfers: curl removes a pooled
 * connection's socket after every transfer and adds it again for the next one (two
 * epoll_ctl calls per request); here CURL_POLL_REMOVE only marks the socket unwanted,
 * re-adding it with the same events costs nothing, and an event on an unwanted socket
 * (a provider closing an idle connection) takes it out of the set then. curl closes its
 * sockets through on_close_socket, which forgets them (a new socket may reuse the
 * number).
 * Everything here runs on the owning worker's thread; nothing is shared between workers.
 * Completed transfers are detached from the multi before on_done runs, so on_done may
 * free or reuse the easy handle. */
#include "upstream/curlloop.h"

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"

#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define EASY_POOL 256
#define URL_CACHE 64

struct tg_curlloop {
    h2o_loop_t *loop;
    h2o_context_t *ctx;
    CURLM *multi;
    int epfd, tfd;
    h2o_socket_t *sock;
    uint64_t armed_at; /* loop ms when the timerfd fires; 0 = disarmed */
    h2o_timeout_entry_t zero_entry;
    int running;
    CURL *pool[EASY_POOL];
    int pool_n;
    unsigned char *fds; /* by socket: FD_IN_SET | FD_WANTED | the epoll events it has */
    int fds_cap;
    /* parsed upstream URLs, never evicted: a transfer holds the handle until it starts */
    struct {
        char *text;
        CURLU *u;
    } urls[URL_CACHE];
    int n_urls;
};

#define FD_IN_SET 0x80u
#define FD_WANTED 0x40u
#define FD_EVENTS 0x03u /* bit 0: EPOLLIN, bit 1: EPOLLOUT */

static unsigned char *fd_state(struct tg_curlloop *cl, int fd)
{
    if (fd >= cl->fds_cap) {
        int cap = cl->fds_cap ? cl->fds_cap : 256;
        while (cap <= fd)
            cap *= 2;
        cl->fds = tg_realloc(cl->fds, (size_t)cap);
        memset(cl->fds + cl->fds_cap, 0, (size_t)(cap - cl->fds_cap));
        cl->fds_cap = cap;
    }
    return &cl->fds[fd];
}

static void fd_forget(struct tg_curlloop *cl, int fd)
{
    unsigned char *st = fd_state(cl, fd);
    if (*st & FD_IN_SET)
        epoll_ctl(cl->epfd, EPOLL_CTL_DEL, fd, NULL);
    *st = 0;
}

static void drain_done(struct tg_curlloop *cl)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(cl->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode rc = m->data.result;
        struct tg_transfer *t = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&t);
        curl_multi_remove_handle(cl->multi, e);
        cl->running--;
        if (t != NULL)
            t->on_done(t, rc);
    }
}

static void on_epoll_ready(h2o_socket_t *sock, const char *err)
{
    struct tg_curlloop *cl = sock->data;
    struct epoll_event evs[64];
    int n, still;
    (void)err;
    do {
        n = epoll_wait(cl->epfd, evs, 64, 0);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == cl->tfd) {
                uint64_t expirations;
                (void)!read(cl->tfd, &expirations, sizeof expirations);
                cl->armed_at = 0;
                curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0, &still);
            } else if (!(*fd_state(cl, fd) & FD_WANTED)) {
                fd_forget(cl, fd); /* an idle pooled connection's event: curl sees it on reuse */
            } else {
                int ev = evs[i].events, a = 0;
                if (ev & (EPOLLIN | EPOLLHUP))
                    a |= CURL_CSELECT_IN;
                if (ev & EPOLLOUT)
                    a |= CURL_CSELECT_OUT;
                if (ev & EPOLLERR)
                    a |= CURL_CSELECT_ERR;
                curl_multi_socket_action(cl->multi, fd, a, &still);
            }
        }
        drain_done(cl);
    } while (n == 64);
}

static int on_curl_socket(CURL *e, curl_socket_t s, int what, void *userp, void *sockp)
{
    struct tg_curlloop *cl = userp;
    (void)e;
    unsigned char *st = fd_state(cl, s);
    if (what == CURL_POLL_REMOVE) {
        *st &= (unsigned char)~FD_WANTED; /* stays in the set until an event or a close */
        curl_multi_assign(cl->multi, s, NULL);
        return 0;
    }
    unsigned char want =
        (unsigned char)(((what & CURL_POLL_IN) ? 1 : 0) | ((what & CURL_POLL_OUT) ? 2 : 0));
    if (!(*st & FD_IN_SET) || (*st & FD_EVENTS) != want) {
        struct epoll_event ev;
        memset(&ev, 0, sizeof ev);
        ev.events = ((want & 1) ? EPOLLIN : 0) | ((want & 2) ? EPOLLOUT : 0);
        ev.data.fd = s;
        epoll_ctl(cl->epfd, (*st & FD_IN_SET) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev);
    }
    *st = (unsigned char)(FD_IN_SET | FD_WANTED | want);
    if (sockp == NULL)
        curl_multi_assign(cl->multi, s, cl);
    return 0;
}

/* curl closes every socket it opened through here (set on each transfer; a pooled
 * connection keeps the callback of the transfer that opened it). */
static int on_close_socket(void *clientp, curl_socket_t s)
{
    struct tg_curlloop *cl = clientp;
    *fd_state(cl, s) = 0; /* close() takes it out of the epoll set */
    return close(s);
}

static void on_zero_timeout(h2o_timeout_entry_t *entry)
{
    struct tg_curlloop *cl =
        (struct tg_curlloop *)((char *)entry - offsetof(struct tg_curlloop, zero_entry));
    int still;
    curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0, &still);
    drain_done(cl);
}

static int on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
    struct tg_curlloop *cl = userp;
    (void)m;
    if (timeout_ms < 0)
        return 0;
    if (timeout_ms == 0) {
        if (!h2o_timeout_is_linked(&cl->zero_entry))
            h2o_timeout_link(cl->loop, &cl->ctx->zero_timeout, &cl->zero_entry);
        return 0;
    }
    uint64_t now = h2o_now(cl->loop), want = now + (uint64_t)timeout_ms;
    if (cl->armed_at > now && cl->armed_at <= want)
        return 0;
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = timeout_ms / 1000;
    its.it_value.tv_nsec = (timeout_ms % 1000) * 1000000;
    timerfd_settime(cl->tfd, 0, &its, NULL);
    cl->armed_at = want;
    return 0;
}

struct tg_curlloop *tg_curlloop_new(h2o_loop_t *loop, h2o_context_t *ctx)
{
    struct tg_curlloop *cl = tg_calloc(1, sizeof *cl);
    cl->loop = loop;
    cl->ctx = ctx;
    cl->multi = curl_multi_init();
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
    curl_multi_setopt(cl->multi, CURLMOPT_MAXCONNECTS, 512L);
    cl->zero_entry.cb = on_zero_timeout;
    cl->epfd = epoll_create1(EPOLL_CLOEXEC);
    cl->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event tev;
    memset(&tev, 0, sizeof tev);
    tev.events = EPOLLIN;
    tev.data.fd = cl->tfd;
    epoll_ctl(cl->epfd, EPOLL_CTL_ADD, cl->tfd, &tev);
    cl->sock = h2o_evloop_socket_create(loop, cl->epfd, H2O_SOCKET_FLAG_DONT_READ);
    cl->sock->data = cl;
    h2o_socket_read_start(cl->sock, on_epoll_ready);
    return cl;
}

void tg_curlloop_destroy(struct tg_curlloop *cl)
{
    if (cl == NULL)
        return;
    if (h2o_timeout_is_linked(&cl->zero_entry))
        h2o_timeout_unlink(&cl->zero_entry);
    curl_multi_cleanup(cl->multi);
    for (int i = 0; i < cl->pool_n; i++)
        curl_easy_cleanup(cl->pool[i]);
    h2o_socket_read_stop(cl->sock);
    h2o_socket_close(cl->sock); /* closes epfd */
    close(cl->tfd);
    for (int i = 0; i < cl->n_urls; i++) {
        free(cl->urls[i].text);
        curl_url_cleanup(cl->urls[i].u);
    }
    free(cl->fds);
    free(cl);
}

CURL *tg_curlloop_easy_get(struct tg_curlloop *cl)
{
    if (cl->pool_n > 0)
        return cl->pool[--cl->pool_n];
    return curl_easy_init();
}

void tg_curlloop_easy_put(struct tg_curlloop *cl, CURL *e)
{
    if (cl->pool_n < EASY_POOL) {
        curl_easy_reset(e);
        cl->pool[cl->pool_n++] = e;
    } else {
        curl_easy_cleanup(e);
    }
}

int tg_curlloop_start(struct tg_curlloop *cl, CURL *e)
{
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, cl);
    CURLMcode mc = curl_multi_add_handle(cl->multi, e);
    if (mc != CURLM_OK) {
        tg_error("curl_multi_add_handle failed: %s", curl_multi_strerror(mc));
        return TG_ERR_IO;
    }
    cl->running++;
    return 0;
}

void tg_curlloop_cancel(struct tg_curlloop *cl, CURL *e)
{
    curl_multi_remove_handle(cl->multi, e);
    cl->running--;
}

CURLU *tg_curlloop_url(struct tg_curlloop *cl, const char *url)
{
    for (int i = 0; i < cl->n_urls; i++)
        if (strcmp(cl->urls[i].text, url) == 0)
            return cl->urls[i].u;
    if (cl->n_urls == URL_CACHE || strchr(url, '?') != NULL)
        return NULL;
    CURLU *u = curl_url();
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        curl_url_cleanup(u);
        return NULL;
    }
    cl->urls[cl->n_urls].text = tg_strdup(url);
    cl->urls[cl->n_urls++].u = u;
    return u;
}

int tg_curlloop_running(const struct tg_curlloop *cl)
{
    return cl->running;
}
