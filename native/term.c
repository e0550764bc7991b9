#include "term.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "util.h"

static struct termios saved;
static int saved_fd = -1;

void term_restore(void)
{
	if (saved_fd < 0)
		return;
	/* TCSADRAIN: let the last output (e.g. "Detached.") reach the screen first. */
	if (tcsetattr(saved_fd, TCSADRAIN, &saved) < 0)
		warn_("restore terminal settings");
	saved_fd = -1;
}

bool term_raw(int fd)
{
	if (!isatty(fd))
		return false;
	if (tcgetattr(fd, &saved) < 0)
		die_(125, "get terminal settings");
	struct termios raw = saved;
	cfmakeraw(&raw);
	if (tcsetattr(fd, TCSADRAIN, &raw) < 0)
		die_(125, "set terminal to raw mode");
	static bool registered;
	if (!registered) {
		atexit(term_restore);
		registered = true;
	}
	saved_fd = fd;
	return true;
}

void term_copy_winsize(int from, int to)
{
	struct winsize ws;
	if (ioctl(from, TIOCGWINSZ, &ws) < 0)
		return;
	if (ioctl(to, TIOCSWINSZ, &ws) < 0)
		warn_("set window size");
}
