/* The newline-delimited JSON control channel on fd 3 (see protocol.h). */
#ifndef CTSPAWN_CONTROL_H
#define CTSPAWN_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

struct ctl {
	int fd;       /* -1 once closed (after detach) */
	char *buf;    /* allocated lazily, freed on close: the monitor should not keep 64 KiB */
	size_t len;
	bool eof;
};

void ctl_open(struct ctl *c, int fd);
void ctl_close(struct ctl *c);
/* One read(2) into the buffer. Returns 1 if bytes arrived, 0 on EOF, -1 on error
 * (errno; EMSGSIZE when a line exceeds CTSPAWN_MAX_MSG). */
int ctl_fill(struct ctl *c);
/* Takes the next complete line out of the buffer (NUL-terminated, without '\n') into a
 * malloc'ed string the caller frees. Returns NULL when no complete line is buffered. */
char *ctl_take_line(struct ctl *c, size_t *len);

/* Message writers; they silently do nothing once the channel is closed. */
void ctl_send_pid(struct ctl *c, const char *type, int pid);
void ctl_send_error(struct ctl *c, int stage, int err, const char *msg);
void ctl_send_log(struct ctl *c, const char *msg);

/* Returns the value of "t" if line is an object with a string "t" (static storage is not
 * used: the returned pointer lives in o). */
struct jobj;
const char *ctl_msg_type(const struct jobj *o);

#endif
