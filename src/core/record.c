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
