/* core/record.c - helpers for the shared record types */
#include "core/record.h"

#include <stddef.h>
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

#define TEXT(f)                                                                                    \
    {                                                                                              \
        offsetof(struct tg_call_record, f), sizeof((struct tg_call_record *)0)->f                  \
    }

const struct tg_record_text tg_record_texts[] = {
    TEXT(call_id),
    TEXT(request_id),
    TEXT(trace_id),
    TEXT(span_id),
    TEXT(parent_span_id),
    TEXT(provider),
    TEXT(operation),
    TEXT(endpoint),
    TEXT(request_model),
    TEXT(provider_request_id),
    TEXT(outcome),
    TEXT(error_type),
    TEXT(usage.response_model),
    TEXT(usage.response_id),
    TEXT(usage.finish_reason),
    TEXT(usage.service_tier),
    TEXT(price_ref),
    TEXT(tenant_id),
    TEXT(team),
    TEXT(cost_center),
    TEXT(feature_id),
    TEXT(workflow_id),
    TEXT(actor_id),
    TEXT(actor_type),
    TEXT(environment),
    TEXT(service),
    TEXT(conversation_id),
    TEXT(tags),
    TEXT(attribution_sources),
    TEXT(key_id),
    TEXT(budget_scope),
    TEXT(budget_decision),
};

const int tg_record_n_texts = (int)(sizeof tg_record_texts / sizeof tg_record_texts[0]);

void tg_record_sanitize(struct tg_call_record *r)
{
    char *base = (char *)r;
    for (int i = 0; i < tg_record_n_texts; i++)
        base[tg_record_texts[i].off + tg_record_texts[i].size - 1] = '\0';
    flag(&r->usage.has_usage);
    flag(&r->is_stream);
    flag(&r->usage_estimated);
    flag(&r->is_priced);
    flag(&r->has_budget_charge);
}
