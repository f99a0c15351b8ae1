#!/usr/bin/env python3
"""The host end of virtio-vsock connections for tests/spec/vsock_spec.lua,
through luavmm's unix-socket convention (Firecracker's):

  vsock_peer.py connect PATH PORT NBYTES
      connects to PATH, sends "CONNECT PORT\\n", prints the answer line,
      sends NBYTES of a pattern while reading everything back, shuts down
      its write side once all is sent and reads to EOF; prints
      "sent=N received=M match=1|0".
  vsock_peer.py listen SOCKPATH MODE
      listens on SOCKPATH ("<path>_<port>"), prints "listening", then
      MODE reply: accepts one connection, reads a line, prints "got=LINE",
                  answers "hello from the host\\n", reads to EOF.
      MODE echo:  accepts one connection, echoes to EOF; prints "echoed=N".
      MODE hold-reply: accepts a first connection it never reads (the
                  guest's credit lie), then does "reply" on a second.
Every mode ends with "done".  One fact per line, flushed.
"""
import os
import select
import socket
import sys
import time


def say(line):
    print(line, flush=True)


def pattern(n):
    return bytes((i * 13 + (i >> 8)) & 0xFF for i in range(n))


def connect(path, port, nbytes):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(b"CONNECT %d\n" % port)
    line = b""
    while not line.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            say("answer=EOF")
            say("done")
            return
        line += b
    say("answer=" + line.decode().strip())
    data = pattern(nbytes)
    sent, got = 0, bytearray()
    s.setblocking(False)
    deadline = time.time() + 120
    shut = False
    while time.time() < deadline:
        if sent == len(data) and not shut:
            s.shutdown(socket.SHUT_WR)
            shut = True
        want_w = [s] if sent < len(data) else []
        r, w, _ = select.select([s], want_w, [], 1.0)
        if w:
            try:
                sent += s.send(data[sent:sent + 65536])
            except BlockingIOError:
                pass
        if r:
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
    say("sent=%d received=%d match=%d" % (sent, len(got), int(bytes(got) == data)))
    say("done")


def serve_reply(conn):
    line = b""
    while not line.endswith(b"\n"):
        b = conn.recv(1)
        if not b:
            break
        line += b
    say("got=" + line.decode(errors="replace").strip())
    conn.sendall(b"hello from the host\n")
    while conn.recv(4096):
        pass


def listen(path, mode):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    srv.settimeout(120)
    say("listening")
    held = None
    if mode == "hold-reply":
        held, _ = srv.accept()  # never read: its sender runs out of room
        say("holding")
        mode = "reply"
    conn, _ = srv.accept()
    if mode == "reply":
        serve_reply(conn)
    elif mode == "echo":
        n = 0
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            conn.sendall(chunk)
            n += len(chunk)
        conn.shutdown(socket.SHUT_WR)
        say("echoed=%d" % n)
    conn.close()
    if held:
        held.close()
    os.unlink(path)
    say("done")


def main():
    if sys.argv[1] == "connect":
        connect(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        listen(sys.argv[2], sys.argv[3])


main()
