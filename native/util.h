/* Small helpers shared by all subcommands: logging, I/O loops, file writes. */
#ifndef CTSPAWN_UTIL_H
#define CTSPAWN_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Prefix of stderr lines: "ctspawn" for the client subcommands, "ctspawn[PID]" in the monitor. */
extern char g_log_prefix[32];

/* "PREFIX: MSG\n" on stderr (errno-safe). */
void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "PREFIX: MSG: strerror(errno)\n" on stderr. */
void warn_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* warn_() then exit(code). */
void die_(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), __noreturn__));
void diex_(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), __noreturn__));

ssize_t read_retry(int fd, void *buf, size_t len);
/* Writes everything or fails; -1 with errno set. Handles EINTR and short writes. */
int write_all(int fd, const void *buf, size_t len);
/* One write(2) of the whole buffer to an existing file (e.g. /proc/PID/uid_map, cgroup.procs):
 * those files need the data in a single call. */
int write_file(const char *path, const char *data, size_t len);
/* Atomically replace path with data: write path.tmp, rename. */
int write_file_atomic(const char *path, const char *data, size_t len);

/* Makes 0, 1 and 2 valid (on /dev/null) so later fds never land there by accident. */
void ensure_stdio(void);
int set_nonblock(int fd, int on);

/* snprintf into a caller buffer, always terminated, truncation ignored on purpose. */
void fmt_into(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Parse a decimal integer in [min, max]; 0 on success, -1 otherwise. */
int parse_ll(const char *s, long long min, long long max, long long *out);

#endif
