/* The container's mounts, built from inside its new user and mount namespaces: the rootfs
 * bind, /proc, /sys, a private /dev, and the pivot_root into it.
 *
 * The rootfs content is untrusted: a container may have replaced "proc" or "dev" with a
 * symlink to somewhere on the host. Every path below the rootfs is therefore reached one
 * component at a time with O_NOFOLLOW from a directory fd, and the mounts use the fd-based
 * mount API (fsopen/fsmount/open_tree/move_mount), so no path is resolved again afterwards. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <unistd.h>

#include "ctspawn.h"
#include "util.h"

#define MOVE_EMPTY (MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)

/* Opens (creating if missing) directory `name` in dirfd without following a symlink. */
static int open_dir(int dirfd, const char *name, mode_t mode, const char *where)
{
	if (mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
		child_fail(errno, "mkdir %s", where);
	int fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		child_fail(errno, "open %s (must be a directory, not a symlink)", where);
	return fd;
}

/* Creates an empty regular file as a bind-mount target. Only used inside our own fresh
 * tmpfs, so O_EXCL is fine. */
static int make_file(int dirfd, const char *name, const char *where)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		child_fail(errno, "create %s", where);
	return fd;
}

static void make_symlink(const char *target, int dirfd, const char *name, const char *where)
{
	if (symlinkat(target, dirfd, name) < 0)
		child_fail(errno, "symlink %s -> %s", where, target);
}

/* The kernel explains many mount failures only in the fs context's message log. */
static void fs_fail(int err, int fsfd, const char *fstype, const char *where)
{
	char why[200];
	ssize_t n = fsfd >= 0 ? read(fsfd, why, sizeof(why) - 1) : -1;
	if (n > 0) {
		why[n] = 0;
		why[strcspn(why, "\n")] = 0;
		child_fail(err, "mount %s on %s (%s)", fstype, where, why);
	}
	child_fail(err, "mount %s on %s", fstype, where);
}

/* Mounts a new filesystem on the directory `target`. opts is "key=value,flag,...".
 * Returns an O_PATH fd for the root of the new mount, for creating entries inside it. */
static int mount_fs(const char *fstype, const char *opts, unsigned attrs, int target, const char *where)
{
	int fsfd = fsopen(fstype, FSOPEN_CLOEXEC);
	if (fsfd < 0)
		fs_fail(errno, -1, fstype, where);
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", opts ? opts : "");
	for (char *save = NULL, *o = strtok_r(buf, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(o, '=');
		int r;
		if (eq) {
			*eq = 0;
			r = fsconfig(fsfd, FSCONFIG_SET_STRING, o, eq + 1, 0);
		} else {
			r = fsconfig(fsfd, FSCONFIG_SET_FLAG, o, NULL, 0);
		}
		if (r < 0)
			fs_fail(errno, fsfd, fstype, where);
	}
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		fs_fail(errno, fsfd, fstype, where);
	int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, attrs);
	if (mfd < 0)
		fs_fail(errno, fsfd, fstype, where);
	close(fsfd);
	if (move_mount(mfd, "", target, "", MOVE_EMPTY) < 0)
		child_fail(errno, "attach %s on %s", fstype, where);
	return mfd;
}

/* Bind-mounts the host node `src` (resolved in our copy of the host mount table) on the
 * file or directory `target`. */
static void bind_at(const char *src, int target, const char *where)
{
	int tree = open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		child_fail(errno, "open_tree %s", src);
	if (move_mount(tree, "", target, "", MOVE_EMPTY) < 0)
		child_fail(errno, "bind %s on %s", src, where);
	close(tree);
}

/* Binds a host file over an existing path inside the root (LXCFS's /proc files): the
 * target is resolved inside the root, never through a symlink out of it. */
static void bind_inside(int rootfd, const char *src, const char *dst)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int fd = syscall(SYS_openat2, rootfd, dst + 1, &how, sizeof(how));
	if (fd < 0)
		child_fail(errno, "open %s", dst);
	bind_at(src, fd, dst);
	close(fd);
}

/* A host device node on /dev/NAME inside (NAME may have directories: net/tun). The container's
 * /dev is the tmpfs we just made, so nothing in it is the container's yet. The source is vzkit's
 * private copy of the node, owned by the container's root (see src/core/apply-limits.ts). */
static void bind_devnode(int dev, const char *dir, const char *name)
{
	char path[256], src[4096], where[272];
	snprintf(path, sizeof(path), "%s", name);
	int at = dup(dev);
	if (at < 0)
		child_fail(errno, "dup");
	for (char *slash; (slash = strchr(path, '/')); ) {
		*slash = 0;
		int next = open_dir(at, path, 0755, "/dev subdirectory");
		close(at);
		at = next;
		memmove(path, slash + 1, strlen(slash + 1) + 1);
	}
	snprintf(src, sizeof(src), "%s/%s", dir, name);
	snprintf(where, sizeof(where), "/dev/%s", name);
	int fd = make_file(at, path, where);
	bind_at(src, fd, where);
	close(fd);
	close(at);
}

static void setup_dev(int rootfd, const char *pts_path, int slave_fd, const struct config *cfg)
{
	int at = open_dir(rootfd, "dev", 0755, "/dev");
	/* /dev holds nodes, links and a few directories: 1 MiB and 4096 inodes are plenty, and keep
	 * a container from filling kernel memory with empty files there. */
	int dev = mount_fs("tmpfs", "mode=755,size=1m,nr_inodes=4096", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, at, "/dev");
	close(at);

	/* mknod is impossible in a user namespace: bind the host's harmless nodes instead. */
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
	for (size_t i = 0; i < ARRAY_SIZE(nodes); i++) {
		char src[32], where[32];
		snprintf(src, sizeof(src), "/dev/%s", nodes[i]);
		snprintf(where, sizeof(where), "/dev/%s", nodes[i]);
		int fd = make_file(dev, nodes[i], where);
		bind_at(src, fd, where);
		close(fd);
	}

	at = open_dir(dev, "pts", 0755, "/dev/pts");
	close(mount_fs("devpts", "newinstance,ptmxmode=0666,mode=0620,gid=5",
		       MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, at, "/dev/pts"));
	close(at);
	make_symlink("pts/ptmx", dev, "ptmx", "/dev/ptmx");
	make_symlink("/proc/self/fd", dev, "fd", "/dev/fd");
	make_symlink("/proc/self/fd/0", dev, "stdin", "/dev/stdin");
	make_symlink("/proc/self/fd/1", dev, "stdout", "/dev/stdout");
	make_symlink("/proc/self/fd/2", dev, "stderr", "/dev/stderr");

	at = open_dir(dev, "shm", 01777, "/dev/shm");
	/* tmpfs pages are charged to the memory cgroup of whoever writes them, so a RAM limit bounds
	 * /dev/shm anyway; size= (half the container's RAM, as the kernel's default is half the
	 * machine's) makes a full /dev/shm an ENOSPC for the writer instead of an OOM kill. */
	char shmopts[64] = "mode=1777";
	if (cfg->shm_size)
		snprintf(shmopts, sizeof(shmopts), "mode=1777,size=%s", cfg->shm_size);
	close(mount_fs("tmpfs", shmopts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, at, "/dev/shm"));
	close(at);

	/* The console: M's pty slave. The fd M holds belongs to the host mount namespace and
	 * open_tree() only clones mounts of our own namespace, so resolve the path here and
	 * make sure it is still the same pty. */
	int src = open(pts_path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (src < 0)
		child_fail(errno, "open %s", pts_path);
	struct stat a, b;
	if (fstat(src, &a) < 0 || fstat(slave_fd, &b) < 0)
		child_fail(errno, "stat %s", pts_path);
	if (a.st_rdev != b.st_rdev || a.st_dev != b.st_dev)
		child_fail(0, "%s is not the console pty", pts_path);
	int fd = make_file(dev, "console", "/dev/console");
	int tree = open_tree(src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	if (tree < 0)
		child_fail(errno, "open_tree %s", pts_path);
	if (move_mount(tree, "", fd, "", MOVE_EMPTY) < 0)
		child_fail(errno, "bind %s on /dev/console", pts_path);
	close(tree);
	close(fd);
	close(src);
	for (size_t i = 0; cfg->devnodes[i]; i++)
		bind_devnode(dev, cfg->devnode_dir, cfg->devnodes[i]);
	close(dev);
}

/* ---- /proc and /sys: what the container may read and write of the kernel's files ---- */

/* A read-only bind of `name` below the mount at dirfd on itself; 0, or -1 if it does not exist. */
static int rebind_readonly(int dirfd, const char *name, const char *where)
{
	int tree = open_tree(dirfd, name, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
	if (tree < 0) {
		if (errno == ENOENT)
			return -1;
		child_fail(errno, "open_tree %s", where);
	}
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		child_fail(errno, "make %s read-only", where);
	if (move_mount(tree, "", dirfd, name, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		child_fail(errno, "bind %s read-only", where);
	close(tree);
	return 0;
}

/* Hides a file under /dev/null, or a directory under an empty read-only tmpfs. */
static void mask(int dirfd, const char *name, const char *where)
{
	int t = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (t < 0) {
		if (errno == ENOENT)
			return;
		child_fail(errno, "open %s", where);
	}
	struct stat st;
	if (fstat(t, &st) < 0)
		child_fail(errno, "stat %s", where);
	if (S_ISDIR(st.st_mode))
		close(mount_fs("tmpfs", "size=4k,mode=555", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
			       MOUNT_ATTR_NOEXEC, t, where));
	else
		bind_at("/dev/null", t, where);
	close(t);
}

/* As Docker, crun and LXC's proc:mixed do: /proc/sys read-only except /proc/sys/net (the
 * container's own network namespace); the host-wide triggers and leaks masked; bus, fs and irq
 * read-only. The user namespace already refuses most writes; this is the second wall. A fresh
 * proc mount inside (a nested container) is then refused by the kernel, as under Docker. */
static void protect_proc(int proc, bool pressure)
{
	int net = open_tree(proc, "sys/net", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
	if (net < 0)
		child_fail(errno, "open_tree /proc/sys/net");
	rebind_readonly(proc, "sys", "/proc/sys");
	int t = openat(proc, "sys/net", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (t < 0 || move_mount(net, "", t, "", MOVE_EMPTY) < 0)
		child_fail(errno, "bind /proc/sys/net");
	close(t);
	close(net);
	static const char *const ro[] = { "bus", "fs", "irq" };
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		rebind_readonly(proc, ro[i], ro[i]);
	/* "pressure" (PSI): the one thing systemd (254+) checks before it watches memory pressure
	 * (sd-event's is_pressure_supported(): PID 1, every service, user managers). With the
	 * container's cgroup2 and a CRIU that sets PSI triggers again at restore (patch 0015),
	 * shown read-only: systemd reads it, then sets its triggers on its own cgroups'
	 * memory.pressure; the host-wide files take none from inside (as Docker's /proc/sys).
	 * Otherwise hidden, and systemd runs as on a kernel without PSI: no watch, nothing to lose. */
	if (pressure)
		rebind_readonly(proc, "pressure", "/proc/pressure");
	static const char *const hidden[] = { "kcore", "kmsg", "keys", "timer_list", "sched_debug", "latency_stats",
					      "timer_stats", "acpi", "scsi", "asound", "sysrq-trigger", "pressure" };
	size_t nhidden = sizeof(hidden) / sizeof(hidden[0]) - (pressure ? 1 : 0);
	for (size_t i = 0; i < nhidden; i++)
		mask(proc, hidden[i], hidden[i]);
}

void rootfs_setup(const struct config *cfg, const char *pts_path, int slave_fd)
{
	/* Nothing we mount may propagate back to the host, but host unmounts (e.g. of a
	 * bind-mounted volume) may still reach us. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		child_fail(errno, "make / a slave mount");
	/* pivot_root needs new_root to be a mount point. */
	if (mount(cfg->rootfs, cfg->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		child_fail(errno, "bind %s on itself", cfg->rootfs);
	int root = open(cfg->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		child_fail(errno, "open %s", cfg->rootfs);

	int at = open_dir(root, "proc", 0555, "/proc");
	int proc = mount_fs("proc", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, at, "/proc");
	close(at);
	protect_proc(proc, cfg->pressure);
	close(proc);
	at = open_dir(root, "sys", 0555, "/sys");
	int sys = mount_fs("sysfs", NULL, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
			   at, "/sys");
	close(at);
	mask(sys, "firmware", "/sys/firmware");
	close(sys);
	if (cfg->cgroup_mount) {
		/* The cgroup namespace is ours already: this cgroup2 is rooted at the container's
		 * own (delegated) cgroup. systemd sees a pure unified host, on v1 hybrid hosts too. */
		at = openat(root, "sys/fs/cgroup", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (at < 0)
			child_fail(errno, "open /sys/fs/cgroup");
		close(mount_fs("cgroup2", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, at,
			       "/sys/fs/cgroup"));
		close(at);
	}
	setup_dev(root, pts_path, slave_fd, cfg);
	for (size_t i = 0; cfg->bind_src[i]; i++)
		bind_inside(root, cfg->bind_src[i], cfg->bind_dst[i]);

	/* pivot_root(".", ".") stacks the old root on top of the new one; detaching it then
	 * leaves the new root alone without needing a directory for the old root. */
	if (fchdir(root) < 0)
		child_fail(errno, "chdir %s", cfg->rootfs);
	close(root);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		child_fail(errno, "pivot_root %s", cfg->rootfs);
	if (umount2(".", MNT_DETACH) < 0)
		child_fail(errno, "detach old root");
	if (chdir("/") < 0)
		child_fail(errno, "chdir /");
}
