/* server/routes.h - request path -> (upstream, API family, operation) */
#ifndef TG_SERVER_ROUTES_H
#define TG_SERVER_ROUTES_H

#include "config/config.h"
#include "providers/provider.h"

#include <stddef.h>

struct tg_route {
    const struct tg_upstream_conf *upstream;
    const struct tg_provider *provider;
    enum tg_op op;
    const char *endpoint; /* canonical path, e.g. "/v1/chat/completions" */
    bool is_get;
};

enum tg_route_result { TG_ROUTE_OK, TG_ROUTE_NOT_FOUND, TG_ROUTE_BAD_METHOD };

/** Matches path (no query string) and method. "/v1/..." goes to the upstream named after
 *  the API family; "/NAME/v1/..." to upstream NAME, whose type must be that family.
 *  Fills r on TG_ROUTE_OK. Pure. */
enum tg_route_result tg_route_match(const struct tg_config *cfg, const char *method, size_t mlen,
                                    const char *path, size_t plen, struct tg_route *r);

/** The dialect to answer an unmatched path in (Anthropic for /anthropic/... and
 *  .../messages, otherwise OpenAI). */
const struct tg_provider *tg_route_dialect_for(const char *path, size_t plen);

#endif
