#!/usr/bin/env python3
"""Raw clients of a luavmm control socket, for tests/spec/hardening_spec.lua.

    control_client.py SCENARIO SOCKET [ARGS...]

Every scenario prints facts, one `name=value` per line, for the spec to
assert on; a reply that does not come within 20 s prints `timeout` (so a
stalled VMM is a failed assertion, not a hung spec).  Frames are a 4-byte
little-endian length and a body; a reply body is '0' (ok) or '1' (error)
and text.

  vanish N DIR     N clients each send a chunk that waits until the client
                   has closed (a marker file in DIR appears), then reply
  abandon N        8 clients hold every slot; N more connect and close at
                   once (refused to a peer that is gone); then a held one asks
  flood N          N clients connect and ask at the same moment
  garbage          malformed, fragmented and pipelined frames
  noread COUNT SIZE  a client asks COUNT replies of SIZE bytes and never
                   reads; another one watches the recipe's `ticks` advance
  emfile           clients until one is refused for lack of fds (the VMM
                   runs with a low RLIMIT_NOFILE), then the first one asks
  ask CHUNK        one request, print its reply
"""
import os
import socket
import struct
import sys
import threading
import time

TIMEOUT = 20


class Timeout(Exception):
    pass


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)  # blocking: with a timeout, a full backlog is EAGAIN
    s.settimeout(TIMEOUT)
    return s


def frame(body):
    if isinstance(body, str):
        body = body.encode()
    return struct.pack("<I", len(body)) + body


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        try:
            got = s.recv(n - len(data))
        except socket.timeout:
            raise Timeout()
        except ConnectionResetError:
            got = b""
        if not got:
            return None
        data += got
    return data


def recv_reply(s):
    """(status, text) of the next reply; None at EOF; raises Timeout."""
    head = recv_exact(s, 4)
    if head is None:
        return None
    body = recv_exact(s, struct.unpack("<I", head)[0])
    if body is None:
        return None
    return body[:1].decode(), body[1:].decode(errors="replace")


def ask(s, chunk):
    try:
        s.sendall(frame(chunk))
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused before we asked: the refusal is waiting to be read
    return recv_reply(s)


def show(name, value):
    print(f"{name}={value!r}" if not isinstance(value, (int, str)) else f"{name}={value}")
    sys.stdout.flush()


def text_of(reply):
    if reply is None:
        return "eof"
    return reply[0] + reply[1].rstrip("\n")


def vanish(path, n, directory):
    for i in range(int(n)):
        marker = os.path.join(directory, f"gone.{i}")
        chunk = (f"repeat local f = io.open({marker!r}) "
                 "if f then f:close() return 1 end until false")
        s = connect(path)
        s.sendall(frame(chunk))
        s.close()
        open(marker, "w").close()
    s = connect(path)
    show("after", text_of(ask(s, "return 'alive'")))


def abandon(path, n):
    held = [connect(path) for _ in range(8)]
    show("held", " ".join(text_of(ask(s, "return 1")) for s in held))
    for i in range(int(n)):
        s = connect(path)
        if i % 2:
            try:
                s.sendall(b"\x10\x00")  # half a header: abandoned mid-frame
            except (BrokenPipeError, ConnectionResetError):
                pass  # already refused
        s.close()
    show("after", text_of(ask(held[0], "return 'alive'")))


def flood(path, n):
    n = int(n)
    barrier = threading.Barrier(n)
    results = [None] * n

    def client(k):
        try:
            s = connect(path)
            barrier.wait()
            results[k] = text_of(ask(s, f"return {k}"))
            s.close()
        except Timeout:
            results[k] = "timeout"
        except OSError as e:
            results[k] = f"oserror {e}"

    threads = [threading.Thread(target=client, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    right = sum(1 for k, r in enumerate(results) if r == f"0{k}")
    refused = sum(1 for r in results if r == "1too many clients")
    show("answered", right)
    show("refused", refused)
    show("other", [r for k, r in enumerate(results) if r not in (f"0{k}", "1too many clients")])


def garbage(path):
    s = connect(path)
    show("empty", text_of(ask(s, b"")))
    show("bytecode", text_of(ask(s, b"\x1bLua\x54\x00\x19\x93\r\n\x1a\n\x04\x08\x08")))
    show("binary", text_of(ask(s, bytes(range(256)))))
    data = frame("return 6 * 7")
    for b in data:  # one byte per write
        s.send(bytes([b]))
    show("fragmented", text_of(recv_reply(s)))
    s.sendall(frame("return 'a'") + frame("return 'b'") + frame("error('c', 0)"))
    show("pipelined", " ".join(text_of(recv_reply(s)) for _ in range(3)))
    s.sendall(b"\xff\xff\xff\xff" + b"x" * 100)
    show("oversize", text_of(recv_reply(s)))
    show("oversize_then", text_of(recv_reply(s)))
    s.close()
    s = connect(path)
    s.sendall(struct.pack("<I", 100) + b"return")  # half a frame, then gone
    s.close()
    s = connect(path)
    show("after", text_of(ask(s, "return 'alive'")))


def noread(path, count, size):
    hog = connect(path)
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for _ in range(int(count)):
        hog.sendall(frame(f"return string.rep('x', {int(size)})"))
    watcher = connect(path)
    first = int(text_of(ask(watcher, "return ticks"))[1:])
    later = first
    while later < first + 20:
        time.sleep(0.01)
        later = int(text_of(ask(watcher, "return ticks"))[1:])
    show("ticks_advanced", later - first >= 20)
    received = 0
    while True:
        try:
            got = hog.recv(1 << 16)
        except socket.timeout:
            show("hog", "not dropped")
            break
        except ConnectionResetError:
            got = b""
        if not got:
            show("hog", "dropped")
            break
        received += len(got)
    show("all_received", received >= int(count) * (int(size) + 6))
    show("after", text_of(ask(watcher, "return 'alive'")))


def emfile(path):
    clients, refusal = [], None
    for _ in range(20):
        s = connect(path)
        reply = ask(s, "return 'in'")
        if reply == ("0", "in\n"):
            clients.append(s)
            continue
        refusal = text_of(reply)
        break
    show("accepted", len(clients))
    show("refusal", refusal)
    refusals = []
    for _ in range(3):  # the listening socket keeps working
        s = connect(path)
        refusals.append(text_of(recv_reply(s)))
    show("refused_again", all(r == refusal for r in refusals))
    show("first", text_of(ask(clients[0], "return 'still here'")))
    clients.pop().close()  # one fd comes back: a new client gets in, once
    again = None           # the VMM has seen the close (until then: refused)
    for _ in range(100):
        again = text_of(ask(connect(path), "return 'in again'"))
        if again != refusal:
            break
        time.sleep(0.05)
    show("after_close", again)


def ask_one(path, chunk):
    show("reply", text_of(ask(connect(path), chunk)))


def main():
    scenario, path, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    run = {"vanish": vanish, "abandon": abandon, "flood": flood, "garbage": garbage,
           "noread": noread, "emfile": emfile, "ask": ask_one}[scenario]
    try:
        run(path, *args)
    except Timeout:
        show("error", "timeout")
    except OSError as e:
        show("error", f"{type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
