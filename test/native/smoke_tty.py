#!/usr/bin/env python3
"""Runs a ctspawn client on a pseudo-terminal and plays a short scripted session (smoke.sh).

usage: smoke_tty.py console CTSPAWN SOCKET
       smoke_tty.py enter CTSPAWN PID
"""
import os
import pty
import select
import struct
import sys
import termios
import fcntl
import time


def spawn(argv, rows=30, cols=100):
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return pid, fd


class Session:
    def __init__(self, argv):
        self.pid, self.fd = spawn(argv)
        self.out = b""

    def expect(self, what, timeout=10):
        end = time.time() + timeout
        while what.encode() not in self.out:
            left = end - time.time()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                sys.exit("smoke_tty: timed out waiting for %r; got %r" % (what, self.out[-400:]))
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                sys.exit("smoke_tty: EOF waiting for %r; got %r" % (what, self.out[-400:]))
            self.out += chunk

    def send(self, data):
        os.write(self.fd, data.encode() if isinstance(data, str) else data)

    def wait(self, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(st)
            try:  # keep draining so the child never blocks on output
                if select.select([self.fd], [], [], 0.1)[0]:
                    self.out += os.read(self.fd, 4096)
            except OSError:
                pass
        sys.exit("smoke_tty: client did not exit; got %r" % self.out[-400:])


def console(ctspawn, sock):
    s = Session([ctspawn, "console", sock])
    s.expect("Press Esc then . to detach.")
    s.send("echo tty-$((1+1))-ok\r")
    s.expect("tty-2-ok")
    s.send(b"\x1b")  # a lone Esc must reach the container after the hold time ...
    time.sleep(1.3)
    s.send("echo after-esc\r")
    s.expect("after-esc")
    s.send(b"\x1b.")  # ... and Esc . detaches
    s.expect("Detached.")
    rc = s.wait()
    if rc != 0:
        sys.exit("smoke_tty: console exit code %d" % rc)
    print("console: raw-mode round trip, lone Esc passed through, Esc . detached")


def enter(ctspawn, pid):
    s = Session([ctspawn, "enter", "--pid", pid])
    s.send("stty size; tty\r")
    s.expect("30 100")
    s.expect("/dev/pts/")
    s.send("exit 3\r")
    rc = s.wait()
    if rc != 3:
        sys.exit("smoke_tty: enter exit code %d, want 3" % rc)
    print("enter: window size copied, shell on a container pty, exit status passed on")


if __name__ == "__main__":
    {"console": console, "enter": enter}[sys.argv[1]](*sys.argv[2:])
