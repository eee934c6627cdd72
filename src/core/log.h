/* core/log.h - structured one-line logs to stderr */
#ifndef TG_CORE_LOG_H
#define TG_CORE_LOG_H

enum tg_log_level { TG_LOG_DEBUG, TG_LOG_INFO, TG_LOG_WARN, TG_LOG_ERROR };

/** Sets the minimum level that is written (default INFO). */
void tg_log_set_level(enum tg_log_level lvl);
/** Writes "ts level event k=v..." as one line; never pass secrets. Any thread. */
void tg_log(enum tg_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define tg_info(...)  tg_log(TG_LOG_INFO, __VA_ARGS__)
#define tg_warn(...)  tg_log(TG_LOG_WARN, __VA_ARGS__)
#define tg_error(...) tg_log(TG_LOG_ERROR, __VA_ARGS__)
#define tg_debug(...) tg_log(TG_LOG_DEBUG, __VA_ARGS__)

#endif
