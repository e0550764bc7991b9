/* Terminal helpers for the interactive subcommands (enter, console). */
#ifndef CTSPAWN_TERM_H
#define CTSPAWN_TERM_H

#include <stdbool.h>

/* Puts fd (a tty) into raw mode and remembers the old settings; a no-op returning false
 * when fd is not a tty. term_restore() undoes it (also registered with atexit). */
bool term_raw(int fd);
void term_restore(void);
/* Copies the window size of tty `from` to `to`; silently does nothing if `from` is no tty. */
void term_copy_winsize(int from, int to);

#endif
