/* core/money.h - money is integers: exact decimal parsing and formatting */
#ifndef TG_CORE_MONEY_H
#define TG_CORE_MONEY_H

#include <stdint.h>

/** Parses a plain non-negative decimal ("2.50") scaled by 10^scale into *out, exactly
 *  (2.50 at scale 6 -> 2500000). TG_ERR_INVALID when not such a number or out of range,
 *  TG_ERR_LIMIT when it has more than scale significant decimals. */
int tg_money_parse_decimal(const char *s, int scale, int64_t *out);

/** Exact decimal USD of nanos ("0.002075", "12", "-0.5"): at most 9 decimals, no
 *  trailing zeros. out needs 32 bytes. */
void tg_money_format_usd(int64_t nanos, char *out, unsigned long outlen);

#endif
