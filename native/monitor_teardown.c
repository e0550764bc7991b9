/* The end of a container: init's status recorded, the console drained a last time, every fd
 * closed, then teardown(): the cgroups (with the sub-cgroups the container made), the mounts,
 * the poststop command, the socket, .ctl and pid files. teardown() also runs from the start's
 * abort path (spawn.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "monitor.h"
#include "protocol.h"
#include "util.h"

static void write_status(struct start_ctx *ctx, int st)
{
	char buf[32];
	int n;
	if (WIFSIGNALED(st))
		n = snprintf(buf, sizeof(buf), "killed %d\n", WTERMSIG(st));
	else
		n = snprintf(buf, sizeof(buf), "exited %d\n", WEXITSTATUS(st));
	if (write_file_atomic(ctx->cfg.statusfile, buf, n) < 0)
		warn_("write %s", ctx->cfg.statusfile);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- teardown: the cgroups, including those the container made below its own ---- */

#define RMDIR_MAX_DEPTH 32
#define RMDIR_TRIES 200 /* of 10 ms: how long a configured dir's tree may stay busy */

struct rmtree {
	char path[PATH_MAX]; /* of the dir at hand, for messages */
	size_t len;
	int tries;           /* left for this configured dir's whole tree */
};

/* rmdir of name in parent (rt->path) waiting for EBUSY to pass. A cgroup stays busy for a
 * moment while the kernel finishes tearing down the pid namespace. 0: removed or gone. */
static int rmdir_retry(struct rmtree *rt, int parent, const char *name)
{
	while (unlinkat(parent, name, AT_REMOVEDIR) < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno != EBUSY || rt->tries <= 0) {
			warn_("rmdir %s", rt->path);
			return -1;
		}
		rt->tries--;
		sleep_ms(10);
	}
	return 0;
}

/* Removes every directory below dir (an fd of rt->path), depth-first: a cgroup with children
 * cannot be removed. Only directories (a cgroup's files go with it); symlinks are not
 * followed; nothing is allocated. true when nothing is left below dir. A dir whose subtree
 * could not be removed is not tried itself: only the deepest failure is logged. */
static bool rm_subdirs(struct rmtree *rt, int dir, int depth)
{
	char buf[1024] __attribute__((aligned(8)));
	bool ok = true;
	/* Another pass only when this one removed something and nothing failed (so nothing is
	 * retried or logged twice): entries may move while their dir changes. */
	for (bool again = true; again;) {
		bool removed = false;
		if (lseek(dir, 0, SEEK_SET) < 0)
			return false;
		ssize_t got;
		while ((got = getdents64(dir, buf, sizeof(buf))) > 0) {
			for (ssize_t off = 0; off < got;) {
				struct dirent64 *d = (struct dirent64 *)(buf + off);
				off += d->d_reclen;
				if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
					continue;
				struct stat st;
				if (d->d_type != DT_DIR && (d->d_type != DT_UNKNOWN ||
							    fstatat(dir, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
							    !S_ISDIR(st.st_mode)))
					continue;
				if (depth >= RMDIR_MAX_DEPTH) {
					warnx_("rmdir: %s has directories more than %d levels down: left alone", rt->path,
					       RMDIR_MAX_DEPTH);
					return false;
				}
				size_t nl = strlen(d->d_name), len = rt->len;
				if (len + 1 + nl >= sizeof(rt->path)) {
					warnx_("rmdir: a path below %s is too long", rt->path);
					ok = false;
					continue;
				}
				rt->path[len] = '/';
				memcpy(rt->path + len + 1, d->d_name, nl + 1);
				rt->len = len + 1 + nl;
				/* Not openable (gone meanwhile, or no dir after all): rmdir says which. */
				int sub = openat(dir, d->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
				bool empty = sub < 0 || rm_subdirs(rt, sub, depth + 1);
				if (sub >= 0)
					close(sub);
				if (empty && rmdir_retry(rt, dir, d->d_name) == 0)
					removed = true;
				else
					ok = false;
				rt->len = len;
				rt->path[len] = 0;
			}
		}
		again = removed && ok;
	}
	return ok;
}

/* The poststop command: host-side state that does not die with the container's namespaces
 * (proxy neighbour entries on the host's own interfaces, a veth the kernel frees lazily). */
static void run_poststop(char **argv)
{
	if (!argv[0])
		return;
	pid_t pid = fork();
	if (pid < 0) {
		warn_("fork for poststop");
		return;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL); /* the monitor blocks them for its signalfd */
		int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
		}
		alarm(10); /* SIGALRM's default action ends a hung command */
		execv(argv[0], argv);
		warn_("exec %s", argv[0]);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			warn_("waitpid poststop");
			return;
		}
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		warnx_("poststop %s ended with status 0x%x", argv[0], st);
}

void teardown(struct start_ctx *ctx)
{
	const struct config *c = &ctx->cfg;
	loadavg_stop(&ctx->la);
	sysinfo_virt_close(&ctx->sv); /* its fd must not keep the memory cgroup busy */
	static struct rmtree rt; /* PATH_MAX: not on the stack of an abort path */
	for (char **d = c->rmdirs; *d; d++) {
		rt.tries = RMDIR_TRIES;
		rt.len = strlen(*d);
		if (rt.len >= sizeof(rt.path)) {
			errno = ENAMETOOLONG;
			warn_("rmdir %s", *d);
			continue;
		}
		memcpy(rt.path, *d, rt.len + 1);
		/* The container's own sub-cgroups first (delegation: its root owns the dir). */
		int dir = open(*d, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (dir >= 0) {
			if (!rm_subdirs(&rt, dir, 0))
				rt.tries = 0; /* it cannot become empty: say so at once */
			close(dir);
		}
		rmdir_retry(&rt, AT_FDCWD, *d);
	}
	for (char **u = c->umounts; *u; u++)
		if (umount2(*u, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			warn_("umount %s", *u);
	run_poststop(c->poststop);
	if (ctx->own_socket && unlink(c->socket) < 0 && errno != ENOENT)
		warn_("unlink %s", c->socket);
	if (ctx->own_sictl && unlink(ctx->sictl_path) < 0 && errno != ENOENT)
		warn_("unlink %s", ctx->sictl_path);
	if (ctx->own_pidfile && unlink(c->pidfile) < 0 && errno != ENOENT)
		warn_("unlink %s", c->pidfile);
}

noreturn void init_ended(struct monitor *m, int st)
{
	struct start_ctx *ctx = m->ctx;
	if (WIFSIGNALED(st))
		debug_log(ctx, "init %d killed by signal %d", ctx->init_pid, WTERMSIG(st));
	else
		debug_log(ctx, "init %d exited with %d", ctx->init_pid, WEXITSTATUS(st));
	write_status(ctx, st);
	/* Whatever init printed last is still in the pty: keep it in the log. Bounded, in
	 * case something else still writes to the slave. */
	for (int i = 0; i < 64 && console_read(m); i++)
		;
	client_detach(m);
	close(ctx->listen_fd);
	if (ctx->sictl_fd >= 0)
		close(ctx->sictl_fd);
	for (int i = 0; i < SICTL_PENDING; i++)
		if (m->pending[i] >= 0)
			close(m->pending[i]);
	close(ctx->master);
	close(ctx->slave);
	if (ctx->log_fd >= 0)
		close(ctx->log_fd);
	ctl_close(&ctx->ctl);
	teardown(ctx);
	/* reboot(2) in a pid namespace kills its init with SIGHUP (SIGINT for halt/poweroff):
	 * a reboot inside starts the container again, as vzctl does. */
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGHUP && ctx->cfg.on_reboot) {
		debug_log(ctx, "reboot from inside: running %s", ctx->cfg.on_reboot[0]);
		sigset_t none; /* the monitor's signals are blocked for its signalfd: not the command's */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(ctx->cfg.on_reboot[0], ctx->cfg.on_reboot);
		warn_("exec %s", ctx->cfg.on_reboot[0]);
	}
	exit(0);
}
