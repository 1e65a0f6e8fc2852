# con_client.py SOCKET [all|before|after]: the host side of the virtio-console tests (virtio.sh, cases console and
# console-snapshot): connects to the device's socket, expects the guest's greeting, sends lines (one longer than a
# receive buffer, two in one write) and checks each echo, then "quit" and its "bye". "before" stops after the
# first echo (a save follows), "after" (a restored guest: no greeting) sends one line and quits. Prints what it
# saw; exits non-zero at the first difference.
import socket
import sys
import time

path = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else "all"
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
for _ in range(600):
    try:
        s.connect(path)
        break
    except OSError:
        time.sleep(0.05)
else:
    sys.exit("cannot connect to " + path)
s.settimeout(30)
buf = b""


def expect(want):
    global buf
    while b"\n" not in buf:
        got = s.recv(4096)
        if not got:
            sys.exit("connection closed; waiting for %r, have %r" % (want, buf))
        buf += got
    line, buf = buf.split(b"\n", 1)
    if line + b"\n" != want:
        sys.exit("expected %r, got %r" % (want, line + b"\n"))
    print(line.decode())


if mode != "after":
    expect(b"hello from hvc0\n")
rounds = [[b"ping 1"], [b"a longer line that spans several 16-byte receive buffers"], [b"two", b"lines"]]
if mode == "before":
    rounds = rounds[:1]
elif mode == "after":
    rounds = [[b"after the restore"]]
for lines in rounds:
    s.sendall(b"".join(l + b"\n" for l in lines))
    for l in lines:
        expect(b"echo: " + l + b"\n")
if mode == "before":
    sys.exit(0)
s.sendall(b"qu")
time.sleep(0.1)
s.sendall(b"it\n")
expect(b"bye\n")
