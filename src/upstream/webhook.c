/* upstream/webhook.c - the budget-event webhook sender
 *
 * Events are queued by worker threads (a copy and a signal, nothing else) and POSTed by
 * one sender thread with libcurl's easy interface: 5-second timeout, and up to 4 attempts
 * (0.5, 1 and 2 seconds apart) when the receiver cannot be reached or answers 429/5xx.
 * A 2xx ends the event; any other answer is logged and the event dropped. */
#include "upstream/webhook.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUEUE_CAP 256

struct tg_webhooks {
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char (*urls)[512];
    int n_urls;
    char *q[QUEUE_CAP];
    int head, len;
    bool stop;
};

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* Sleeps ms unless the sender is told to stop. */
static void pause_ms(struct tg_webhooks *wh, long ms)
{
    struct timespec ts;
    tg_abstime_after_ms(ms, &ts);
    pthread_mutex_lock(&wh->mu);
    if (!wh->stop)
        pthread_cond_timedwait(&wh->cv, &wh->mu, &ts);
    pthread_mutex_unlock(&wh->mu);
}

static void deliver(struct tg_webhooks *wh, CURL *e, const char *url, const char *json)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    long wait = 500;
    for (int attempt = 1; attempt <= 4; attempt++) {
        long status = 0;
        curl_easy_reset(e);
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, json);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
        CURLcode rc = curl_easy_perform(e);
        if (rc == CURLE_OK)
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        if (rc == CURLE_OK && status >= 200 && status < 300)
            break;
        bool retry = rc != CURLE_OK || status == 429 || status >= 500;
        tg_warn("event=webhook_failed url=%s attempt=%d status=%ld error=\"%s\"%s", url, attempt,
                status, rc == CURLE_OK ? "" : curl_easy_strerror(rc),
                retry && attempt < 4 ? "" : " note=dropped");
        if (!retry || attempt == 4)
            break;
        pause_ms(wh, wait);
        wait *= 2;
    }
    curl_slist_free_all(h);
}

static void *sender(void *arg)
{
    struct tg_webhooks *wh = arg;
    pthread_setname_np(pthread_self(), "tg-webhook");
    CURL *e = curl_easy_init();
    for (;;) {
        pthread_mutex_lock(&wh->mu);
        while (wh->len == 0 && !wh->stop)
            pthread_cond_wait(&wh->cv, &wh->mu);
        if (wh->len == 0) {
            pthread_mutex_unlock(&wh->mu);
            break;
        }
        char *json = wh->q[wh->head];
        wh->head = (wh->head + 1) % QUEUE_CAP;
        wh->len--;
        pthread_mutex_unlock(&wh->mu);
        for (int i = 0; i < wh->n_urls; i++)
            deliver(wh, e, wh->urls[i], json);
        free(json);
    }
    curl_easy_cleanup(e);
    return NULL;
}

struct tg_webhooks *tg_webhooks_new(const char (*urls)[512], int n)
{
    if (n <= 0)
        return NULL;
    struct tg_webhooks *wh = tg_calloc(1, sizeof *wh);
    wh->urls = tg_malloc(sizeof *wh->urls * (size_t)n);
    memcpy(wh->urls, urls, sizeof *wh->urls * (size_t)n);
    wh->n_urls = n;
    pthread_mutex_init(&wh->mu, NULL);
    pthread_cond_init(&wh->cv, NULL);
    pthread_create(&wh->tid, NULL, sender, wh);
    return wh;
}

void tg_webhooks_post(struct tg_webhooks *wh, const char *json)
{
    if (wh == NULL)
        return;
    pthread_mutex_lock(&wh->mu);
    if (wh->len == QUEUE_CAP || wh->stop) {
        pthread_mutex_unlock(&wh->mu);
        tg_warn("event=webhook_dropped reason=queue_full");
        return;
    }
    wh->q[(wh->head + wh->len) % QUEUE_CAP] = tg_strdup(json);
    wh->len++;
    pthread_cond_signal(&wh->cv);
    pthread_mutex_unlock(&wh->mu);
}

void tg_webhooks_destroy(struct tg_webhooks *wh)
{
    if (wh == NULL)
        return;
    pthread_mutex_lock(&wh->mu);
    wh->stop = true;
    pthread_cond_broadcast(&wh->cv);
    pthread_mutex_unlock(&wh->mu);
    pthread_join(wh->tid, NULL);
    while (wh->len > 0) {
        free(wh->q[wh->head]);
        wh->head = (wh->head + 1) % QUEUE_CAP;
        wh->len--;
    }
    pthread_mutex_destroy(&wh->mu);
    pthread_cond_destroy(&wh->cv);
    free(wh->urls);
    free(wh);
}
