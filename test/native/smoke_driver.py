#!/usr/bin/env python3
"""Plays node's side of the ctspawn start protocol (see protocol.h) for smoke.sh.

usage: smoke_driver.py CTSPAWN CONFIG.json MONITOR_LOG [--cgroup-procs FILE]... [--expect-error]
                        [--abort-after-spawned close|bogus|term]

Prints every message it receives as "< {json}" and ends with "RUNNING MPID CPID" or, with
--expect-error, "ERROR stage=N msg". Exits non-zero if the exchange did not go as expected.
--abort-after-spawned closes the channel (or sends a bogus message instead of "go", or
SIGTERMs the helper) and prints "ABORTED rc=N INIT_PID" with ctspawn's exit code.
"""
import json
import os
import signal
import socket
import subprocess
import sys


def main():
    args = sys.argv[1:]
    expect_error = "--expect-error" in args
    args = [a for a in args if a != "--expect-error"]
    cgroups = []
    abort = None
    if "--abort-after-spawned" in args:
        i = args.index("--abort-after-spawned")
        abort = args[i + 1]
        del args[i:i + 2]
    while "--cgroup-procs" in args:
        i = args.index("--cgroup-procs")
        cgroups.append(args[i + 1])
        del args[i:i + 2]
    ctspawn, config_path, log_path = args
    with open(config_path) as f:
        config = json.load(f)

    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    log = open(log_path, "ab")

    def put_on_fd3():
        os.dup2(child.fileno(), 3)  # dup2 clears close-on-exec on fd 3

    proc = subprocess.Popen([ctspawn, "start"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=log,
                            preexec_fn=put_on_fd3, pass_fds=(3,),
                            start_new_session=True)
    child.close()
    log.close()
    rfile = parent.makefile("r", encoding="utf-8")

    def send(msg):
        parent.sendall((json.dumps(msg) + "\n").encode())

    def recv():
        line = rfile.readline()
        if not line:
            raise SystemExit("driver: unexpected EOF from ctspawn (exit %s)" % proc.wait())
        print("<", line.rstrip(), flush=True)
        return json.loads(line)

    def fail_or_error(msg, want):
        if msg["t"] == "error":
            print("ERROR stage=%d errno=%d %s" % (msg["stage"], msg["errno"], msg["msg"]), flush=True)
            proc.wait()
            sys.exit(0 if expect_error else 1)
        if msg["t"] != want:
            sys.exit("driver: expected %s, got %s" % (want, msg))

    send(dict(config, t="config"))
    while True:
        m = recv()
        if m["t"] != "log":
            break
    fail_or_error(m, "spawned")
    pid = m["pid"]
    for procs in cgroups:
        with open(procs, "w") as f:
            f.write("%d\n" % pid)
    if abort:
        if abort == "close":
            rfile.close()  # the makefile() object keeps the fd open otherwise
            parent.close()
        else:
            if abort == "term":
                os.kill(proc.pid, signal.SIGTERM)
            else:
                send({"t": "bogus"})
            while True:
                m = recv()
                if m["t"] != "log":
                    break
        print("ABORTED rc=%d %d" % (proc.wait(), pid), flush=True)
        return
    send({"t": "go"})
    while True:
        m = recv()
        if m["t"] != "log":
            break
    fail_or_error(m, "running")
    if expect_error:
        sys.exit("driver: expected an error, the container is running")
    send({"t": "detach"})
    rfile.close()
    parent.close()
    print("RUNNING %d %d" % (proc.pid, pid), flush=True)


if __name__ == "__main__":
    main()
