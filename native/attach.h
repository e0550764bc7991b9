#ifndef CTSPAWN_ATTACH_H
#define CTSPAWN_ATTACH_H

#include <stdbool.h>

/* "ctspawn exec" (enter=false) and "ctspawn enter"; returns the exit code. */
int cmd_attach(int argc, char **argv, bool enter);
/* "ctspawn sethostname --pid PID NAME"; returns the exit code. */
int cmd_sethostname(int argc, char **argv);
/* "ctspawn console SOCKET"; returns the exit code. */
int cmd_console(int argc, char **argv);

#endif
