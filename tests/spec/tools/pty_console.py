#!/usr/bin/env python3
"""Drives `luavmm run RECIPE` with its stdin, stdout and stderr on a
pseudo-terminal, as a user at a terminal would (tests/spec/tty_spec.lua).

    pty_console.py LUAVMM RECIPE SCENARIO      (the recipe gets SCENARIO as its argument)

SCENARIO is one of
  quit    type a line, Ctrl-A Ctrl-A, Ctrl-A h, then Ctrl-A x
  signal  send SIGTERM to luavmm while the guest runs
  error   type "boom" (the recipe then raises an error)
Prints one fact per line for the spec: raw_during=1|0 (terminal flags seen
while the guest ran), restored=1|0 (flags after luavmm ended equal those
before), status=N (exit status, or -SIG), output=<repr of all output>.
"""
import os
import select
import signal
import subprocess
import sys
import termios
import time


def lflags(fd):
    return termios.tcgetattr(fd)


def is_raw(attrs):
    iflag, _, _, lflag = attrs[0], attrs[1], attrs[2], attrs[3]
    return not (lflag & (termios.ICANON | termios.ECHO | termios.ISIG)) and not (iflag & termios.ICRNL)


class Session:
    def __init__(self, luavmm, recipe, scenario):
        self.master, self.slave = os.openpty()
        self.before = termios.tcgetattr(self.slave)
        self.out = b""
        self.proc = subprocess.Popen([luavmm, "run", recipe, scenario], stdin=self.slave, stdout=self.slave,
                                     stderr=self.slave, start_new_session=True)

    def read_until(self, needle, timeout=20.0):
        end = time.monotonic() + timeout
        while needle not in self.out and time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    self.out += os.read(self.master, 4096)
                except OSError:
                    break
        return needle in self.out

    def send(self, data):
        os.write(self.master, data)

    def finish(self, timeout=20.0):
        end = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < end:
            self.read_until(b"\0never\0", 0.1)
        if self.proc.poll() is None:
            self.proc.kill()
        status = self.proc.wait()
        self.read_until(b"\0never\0", 0.2)
        return status


def main():
    luavmm, recipe, scenario = sys.argv[1:4]
    s = Session(luavmm, recipe, scenario)
    raw = False
    if s.read_until(b"echo: ready"):
        time.sleep(0.2)  # the recipe enters its wait
        raw = is_raw(termios.tcgetattr(s.slave))
        if scenario == "quit":
            s.send(b"typed\n")
            s.read_until(b"typed")
            s.send(b"\x01\x01")  # one Ctrl-A reaches the guest, which echoes it
            s.read_until(b"\x01")
            s.send(b"\x01h")
            s.read_until(b"C-a x")
            s.send(b"\x01x")
        elif scenario == "signal":
            s.proc.send_signal(signal.SIGTERM)
        elif scenario == "error":
            s.send(b"boom\n")
    status = s.finish()
    restored = termios.tcgetattr(s.slave) == s.before
    print("raw_during=%d" % raw)
    print("restored=%d" % restored)
    print("status=%d" % status)
    print("output=%r" % s.out)


if __name__ == "__main__":
    main()
