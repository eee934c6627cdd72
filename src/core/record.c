/* core/record.c - helpers for the shared record types */
#include "core/record.h"

#include <string.h>

void tg_field_set(char *dst, unsigned dstlen, const char *s, unsigned long n)
{
    if (dstlen == 0)
        return;
    if (n > dstlen - 1)
        n = dstlen - 1;
    if (n > 0)
        memcpy(dst, s, n);
    dst[n] = '\0';
}

static void flag(bool *b)
{
    unsigned char v;
    memcpy(&v, b, 1); /* a bool holding anything but 0 or 1 must not be read as one */
    v = v != 0;
    memcpy(b, &v, 1);
}

#define TERM(f) ((f)[sizeof(f) - 1] = '\0')

void tg_record_sanitize(struct tg_call_record *r)
{
    struct tg_usage *u = &r->usage;
    TERM(u->response_model);
    TERM(u->response_id);
    TERM(u->finish_reason);
    TERM(u->service_tier);
    flag(&u->has_usage);
    TERM(r->call_id);
    TERM(r->request_id);
    TERM(r->trace_id);
    TERM(r->span_id);
    TERM(r->parent_span_id);
    TERM(r->provider);
    TERM(r->operation);
    TERM(r->endpoint);
    TERM(r->request_model);
    TERM(r->provider_request_id);
    TERM(r->outcome);
    TERM(r->error_type);
    TERM(r->price_ref);
    TERM(r->tenant_id);
    TERM(r->team);
    TERM(r->cost_center);
    TERM(r->feature_id);
    TERM(r->workflow_id);
    TERM(r->actor_id);
    TERM(r->actor_type);
    TERM(r->environment);
    TERM(r->service);
    TERM(r->conversation_id);
    TERM(r->tags);
    TERM(r->attribution_sources);
    TERM(r->key_id);
    TERM(r->budget_scope);
    TERM(r->budget_decision);
    flag(&r->is_stream);
    flag(&r->usage_estimated);
    flag(&r->is_priced);
    flag(&r->has_budget_charge);
}
