/* ctspawn devices: cgroup v2 device control (a BPF_PROG_TYPE_CGROUP_DEVICE program). */
#ifndef CTSPAWN_DEVICES_H
#define CTSPAWN_DEVICES_H

/* argv[0] is "devices"; see HELPER SUBCOMMANDS in protocol.h. Returns the exit code. */
int cmd_devices(int argc, char **argv);

#endif
