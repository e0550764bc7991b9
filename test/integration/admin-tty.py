#!/usr/bin/env python3
"""The admin's terminal for exec-tty.test.ts: runs SCRIPT with sh on a new pty that is its
controlling terminal (33 rows, 111 columns), types TEXT plus a newline once TRIGGER has appeared
in what the terminal shows, and prints the whole transcript when the shell has exited.

usage: admin-tty.py SCRIPT [TRIGGER=TEXT]...
Exit status: the shell's, or 124 after 40 s (the shell is killed then)."""
import fcntl
import os
import select
import signal
import struct
import sys
import termios
import time

script = sys.argv[1]
actions = [a.split('=', 1) for a in sys.argv[2:]]

master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 33, 111, 0, 0))
pid = os.fork()
if pid == 0:
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.closerange(3, 1024)
    os.execvp('sh', ['sh', '-c', script])
os.close(slave)

out = b''
done = set()
deadline = time.monotonic() + 40
timed_out = False
status = None
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        if status is None:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
        break
    if status is None:
        p, st = os.waitpid(pid, os.WNOHANG)
        if p == pid:
            # A process left behind may hold the terminal open: read what is there, then stop.
            status = st
            deadline = min(deadline, time.monotonic() + 0.3)
    r, _, _ = select.select([master], [], [], min(left, 0.2))
    if r:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: no process holds the terminal any more
            break
        if not data:
            break
        out += data
    text = out.decode('utf8', 'replace')
    for i, (trigger, typed) in enumerate(actions):
        if i not in done and trigger in text:
            done.add(i)
            os.write(master, (typed + '\n').encode())

if status is None:
    _, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode('utf8', 'replace'))
sys.exit(124 if timed_out else os.waitstatus_to_exitcode(status) & 0xff)
