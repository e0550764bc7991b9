/* The helper's side of the stdio of a command it runs inside a container (exec, enter): the
 * command holds only the slave of a pty of the container or the far ends of pipes the helper
 * made, never one of the caller's descriptors; the helper copies between those and its own
 * 0, 1 and 2. */
#ifndef CTSPAWN_RELAY_H
#define CTSPAWN_RELAY_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

struct relay {
	int master;     /* master of the container pty, or -1 */
	int master_out; /* our fd that what the pty shows goes to (1) */
	int in;         /* write end of the command's stdin pipe, or -1 (the pty's; or our stdin
			   is not read and the command's is at EOF) */
	int out, err;   /* read ends of its stdout and stderr pipes, or -1 (the pty's) */
	bool tty;       /* our fd 0 is a terminal in raw mode: follow its window size */
	bool to_group;  /* pass signals to the command's process group (pipes: it has no terminal
			   of ours to get them from), else to the command (its pty sends them) */
	long timeout_ms; /* > 0: the command's process group is killed after this long */
};

/* Relays until child ends, then reads what is left in the pipes and the pty without waiting
 * for processes the command left behind, and returns the exit code (128+N for signal N,
 * EXIT_TIMED_OUT after the timeout). sigfd: a signalfd for the blocked signals of
 * relay_signals(). Closes every descriptor of r. */
int relay_run(struct relay *r, pid_t child, int sigfd);
/* The signals relay_run wants from a signalfd: blocks them and fills set. */
void relay_signals(sigset_t *set);

#endif
