/* ctspawn: the native helper of vzkit. Subcommands: start, exec, enter, sethostname, console, devices. */
#include <stdio.h>
#include <string.h>

#include "attach.h"
#include "ctspawn.h"
#include "devices.h"
#include "protocol.h"
#include "util.h"

static int usage(void)
{
	fputs("usage: ctspawn start                  (protocol on fd 3, see protocol.h)\n"
	      "       ctspawn restore                (the same protocol, init restored by CRIU)\n"
	      "       ctspawn tcp-unrepair PID...    (TCP sockets of PIDs out of repair mode)\n"
	      "       ctspawn exec --pid PID [options] -- CMD [ARG]...\n"
	      "       ctspawn enter --pid PID [options]\n"
	      "       ctspawn sethostname --pid PID NAME\n"
	      "       ctspawn console SOCKET\n"
	      "       ctspawn devices CGROUP_DIR RULE...  |  --query CGROUP_DIR  |  --print RULE...\n"
	      "options: --cgroup FILE (repeatable), --env K=V (repeatable), --cwd DIR, --uid N, --gid N,\n"
	      "         --sysinfo-ctl PATH, --timeout MS (exec)\n",
	      stderr);
	return EXIT_HELPER_FAILED;
}

int main(int argc, char **argv)
{
	/* Keep 0-2 occupied so no pipe or socket we create lands there. */
	ensure_stdio();
	if (argc < 2)
		return usage();
	const char *cmd = argv[1];
	if (strcmp(cmd, "start") == 0 && argc == 2)
		return cmd_start();
	if (strcmp(cmd, "restore") == 0 && argc == 2)
		return cmd_restore();
	if (strcmp(cmd, "tcp-unrepair") == 0)
		return cmd_tcp_unrepair(argc - 1, argv + 1);
	if (strcmp(cmd, "exec") == 0)
		return cmd_attach(argc - 1, argv + 1, false);
	if (strcmp(cmd, "enter") == 0)
		return cmd_attach(argc - 1, argv + 1, true);
	if (strcmp(cmd, "sethostname") == 0)
		return cmd_sethostname(argc - 1, argv + 1);
	if (strcmp(cmd, "console") == 0)
		return cmd_console(argc - 1, argv + 1);
	if (strcmp(cmd, "devices") == 0)
		return cmd_devices(argc - 1, argv + 1);
	return usage();
}
