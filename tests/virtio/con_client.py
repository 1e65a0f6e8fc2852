# con_client.py SOCKET: the host side of the virtio-console test (virtio.sh, case console): connects to the device's
# socket, expects the guest's greeting, sends lines (one longer than a receive buffer, two in one write) and checks
# each echo, then "quit" and its "bye". Prints what it saw; exits non-zero at the first difference.
import socket
import sys
import time

path = sys.argv[1]
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


expect(b"hello from hvc0\n")
for lines in ([b"ping 1"], [b"a longer line that spans several 16-byte receive buffers"], [b"two", b"lines"]):
    s.sendall(b"".join(l + b"\n" for l in lines))
    for l in lines:
        expect(b"echo: " + l + b"\n")
s.sendall(b"qu")
time.sleep(0.1)
s.sendall(b"it\n")
expect(b"bye\n")
