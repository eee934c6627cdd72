/* server/routes.c - the table of API routes the gateway proxies */
#include "server/routes.h"

#include <string.h>

struct route_def {
    const char *path;
    enum tg_op op;
    const char *family;
    bool is_get;
};

static const struct route_def defs[] = {
    {"/v1/chat/completions", TG_OP_CHAT, "openai", false},
    {"/v1/completions", TG_OP_COMPLETION, "openai", false},
    {"/v1/embeddings", TG_OP_EMBEDDINGS, "openai", false},
    {"/v1/responses", TG_OP_RESPONSES, "openai", false},
    {"/v1/models", TG_OP_MODELS, "openai", true},
    {"/v1/messages", TG_OP_MESSAGES, "anthropic", false},
};

static const struct tg_provider *family_provider(const char *family)
{
    return strcmp(family, "anthropic") == 0 ? &tg_provider_anthropic : &tg_provider_openai;
}

enum tg_route_result tg_route_match(const struct tg_config *cfg, const char *method, size_t mlen,
                                    const char *path, size_t plen, struct tg_route *r)
{
    const struct tg_upstream_conf *named = NULL;
    if (plen < 4 || path[0] != '/')
        return TG_ROUTE_NOT_FOUND;
    if (memcmp(path, "/v1/", 4) != 0) { /* /NAME/v1/... */
        const char *slash = memchr(path + 1, '/', plen - 1);
        if (slash == NULL)
            return TG_ROUTE_NOT_FOUND;
        named = tg_config_upstream(cfg, path + 1, (size_t)(slash - path - 1));
        if (named == NULL)
            return TG_ROUTE_NOT_FOUND;
        plen -= (size_t)(slash - path);
        path = slash;
    }
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        const struct route_def *d = &defs[i];
        if (strlen(d->path) != plen || memcmp(d->path, path, plen) != 0)
            continue;
        const struct tg_upstream_conf *u = named;
        if (u == NULL)
            u = tg_config_upstream(cfg, d->family, strlen(d->family));
        if (u == NULL || strcmp(u->type, d->family) != 0)
            return TG_ROUTE_NOT_FOUND;
        bool get = mlen == 3 && memcmp(method, "GET", 3) == 0;
        bool post = mlen == 4 && memcmp(method, "POST", 4) == 0;
        if ((d->is_get && !get) || (!d->is_get && !post))
            return TG_ROUTE_BAD_METHOD;
        r->upstream = u;
        r->provider = family_provider(d->family);
        r->op = d->op;
        r->endpoint = d->path;
        r->is_get = d->is_get;
        return TG_ROUTE_OK;
    }
    return TG_ROUTE_NOT_FOUND;
}

const struct tg_provider *tg_route_dialect_for(const char *path, size_t plen)
{
    if (plen >= 11 && memcmp(path, "/anthropic/", 11) == 0)
        return &tg_provider_anthropic;
    if (plen >= 9 && memcmp(path + plen - 9, "/messages", 9) == 0)
        return &tg_provider_anthropic;
    return &tg_provider_openai;
}
