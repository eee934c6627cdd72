/* upstream/curlloop.h - one libcurl multi handle per worker, driven by that worker's h2o loop */
#ifndef TG_UPSTREAM_CURLLOOP_H
#define TG_UPSTREAM_CURLLOOP_H

#define H2O_USE_LIBUV 0
#include <curl/curl.h>
#include <h2o.h>

/* A transfer owner embeds this and sets CURLOPT_PRIVATE to it; on_done runs on the
 * worker thread once curl reports the transfer finished (the easy handle has already
 * been removed from the multi handle; the owner still owns it). */
struct tg_transfer {
    void (*on_done)(struct tg_transfer *t, CURLcode rc);
};

struct tg_curlloop;

/** Creates the multi handle and registers its private epoll fd with loop. Worker thread. */
struct tg_curlloop *tg_curlloop_new(h2o_loop_t *loop, h2o_context_t *ctx);
/** Removes remaining transfers (without callbacks) and frees everything. NULL ok. */
void tg_curlloop_destroy(struct tg_curlloop *cl);

/** An easy handle from the worker's pool (reset, connection cache shared by the multi). */
CURL *tg_curlloop_easy_get(struct tg_curlloop *cl);
/** Returns an easy handle to the pool; it must not be attached to the multi. */
void tg_curlloop_easy_put(struct tg_curlloop *cl, CURL *e);

/** Starts e (CURLOPT_PRIVATE must point to a struct tg_transfer). 0 or TG_ERR_IO. */
int tg_curlloop_start(struct tg_curlloop *cl, CURL *e);
/** Detaches e, which must be running, from the multi without calling on_done (cancel). */
void tg_curlloop_cancel(struct tg_curlloop *cl, CURL *e);

/** The worker's parsed copy of url (no query string), for CURLOPT_CURLU: curl parses a
 *  URL string again for every transfer. NULL when url is not cached (it has a query,
 *  does not parse, or the cache of 64 URLs is full): use CURLOPT_URL. Valid until
 *  tg_curlloop_destroy. */
CURLU *tg_curlloop_url(struct tg_curlloop *cl, const char *url);

/** Number of transfers running. */
int tg_curlloop_running(const struct tg_curlloop *cl);

#endif
