/* upstream/webhook.h - fire-and-forget JSON POSTs (budget events) from a thread of their own */
#ifndef TG_UPSTREAM_WEBHOOK_H
#define TG_UPSTREAM_WEBHOOK_H

struct tg_webhooks;

/** Starts the sender thread for n URLs (copied). Returns NULL when n is 0. */
struct tg_webhooks *tg_webhooks_new(const char (*urls)[512], int n);
/** Queues json (copied) for every URL and returns at once; never blocks the caller. A full
 *  queue (256 events) drops the event and logs it. Any thread; wh may be NULL. */
void tg_webhooks_post(struct tg_webhooks *wh, const char *json);
/** Stops the thread after the queued events were tried once more (at most ~5 s). */
void tg_webhooks_destroy(struct tg_webhooks *wh);

#endif
