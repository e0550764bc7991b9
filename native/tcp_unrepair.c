/* "ctspawn tcp-unrepair PID...": takes the TCP sockets of the given processes out of repair
 * mode. After `criu dump --leave-stopped --tcp-established` (vzmigrate --online) the tasks stay
 * stopped with their connections in repair mode; when the migration is undone, vzkit restarts
 * the tasks on the source and must give them working connections back. Each socket is
 * duplicated with pidfd_getfd(2) (the same open file), and TCP_REPAIR is switched off on it.
 * Prints the number of sockets changed. */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "protocol.h"
#include "util.h"

#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef TCP_REPAIR
#define TCP_REPAIR 19
#endif

static int unrepair_pid(pid_t pid)
{
	int pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return 0; /* gone */
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	DIR *d = opendir(path);
	int n = 0;
	if (!d) {
		close(pidfd);
		return 0;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		int target = atoi(e->d_name);
		int fd = syscall(SYS_pidfd_getfd, pidfd, target, 0);
		if (fd < 0)
			continue;
		struct stat st;
		int type = 0, val = 0;
		socklen_t len = sizeof(type);
		if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
		    type == SOCK_STREAM) {
			len = sizeof(val);
			if (getsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &val, &len) == 0 && val) {
				int off = 0;
				if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off)) == 0)
					n++;
				else
					warn_("TCP_REPAIR off on fd %d of %d", target, pid);
			}
		}
		close(fd);
	}
	closedir(d);
	close(pidfd);
	return n;
}

int cmd_tcp_unrepair(int argc, char **argv)
{
	int n = 0;
	for (int i = 1; i < argc; i++)
		n += unrepair_pid(atoi(argv[i]));
	printf("%d\n", n);
	return 0;
}
