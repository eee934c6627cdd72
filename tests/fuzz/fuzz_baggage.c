/* tests/fuzz/fuzz_baggage.c - the baggage parser on arbitrary input: limits hold, values are valid
 * UTF-8 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "accounting/tracectx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tg_baggage b;
    memset(&b, 0, sizeof b);
    tg_baggage_parse((const char *)data, size, &b);
    if (b.n < 0 || b.n > TG_BAGGAGE_MAX_MEMBERS)
        abort();
    for (int i = 0; i < b.n; i++)
        if (b.m[i].key[0] == '\0' || strlen(b.m[i].value) >= sizeof b.m[i].value)
            abort();
    return 0;
}
