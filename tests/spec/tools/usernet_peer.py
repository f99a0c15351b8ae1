#!/usr/bin/env python3
"""The host side of tests/spec/usernet_spec.lua (a user network's far end).

  free-port           prints a port free for both TCP and UDP on 127.0.0.1
  udp PORT TEXT       sends TEXT to 127.0.0.1:PORT until an answer comes
                      (once a second, 60 tries); prints "udp reply: ANSWER"
  tcp PORT LINE       connects to 127.0.0.1:PORT, sends LINE and a newline,
                      reads to the end; prints "tcp reply: ANSWER" (repr)
  listen PORT         listens on 127.0.0.1:PORT, prints "listening", takes one
                      connection, reads a line, answers "host got LINE" and
                      prints "served LINE"
Every wait is bounded (60 s); a failure prints "error: ..." and exits 1.
"""
import socket
import sys


def free_port():
    for _ in range(100):
        t = socket.socket()
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            t.close()
            continue
        t.close()
        u.close()
        print(port)
        return
    raise OSError("no free port")


def udp(port, text):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    for _ in range(60):
        s.sendto(text.encode(), ("127.0.0.1", port))
        try:
            data, _ = s.recvfrom(2048)
        except socket.timeout:
            continue
        print("udp reply: " + data.decode(errors="replace"))
        return
    raise OSError("no UDP answer")


def tcp(port, line):
    c = socket.create_connection(("127.0.0.1", port), timeout=60)
    c.sendall(line.encode() + b"\n")
    data = b""
    while True:
        x = c.recv(4096)
        if not x:
            break
        data += x
    c.close()
    print("tcp reply: " + repr(data))


def listen(port):
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("127.0.0.1", port))
    l.listen(1)
    l.settimeout(60)
    print("listening", flush=True)
    c, _ = l.accept()
    c.settimeout(60)
    data = b""
    while not data.endswith(b"\n"):
        x = c.recv(4096)
        if not x:
            break
        data += x
    c.sendall(b"host got " + data)
    c.close()
    print("served " + data.decode(errors="replace").strip(), flush=True)


def main():
    cmd = sys.argv[1]
    try:
        if cmd == "free-port":
            free_port()
        elif cmd == "udp":
            udp(int(sys.argv[2]), sys.argv[3])
        elif cmd == "tcp":
            tcp(int(sys.argv[2]), sys.argv[3])
        elif cmd == "listen":
            listen(int(sys.argv[2]))
        else:
            raise ValueError("unknown command " + cmd)
    except (OSError, ValueError) as e:
        print("error: %s" % e, flush=True)
        sys.exit(1)


main()
