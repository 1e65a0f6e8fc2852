# net_peer.py VMM-COMMAND...: the host side of the virtio-net test (net.sh), in its namespace: binds 10.0.2.1:5555,
# then starts vmm (so the guest's first datagram cannot come before the socket exists), waits for the guest's
# datagram, sends one to the guest at 10.0.2.15:5556 and expects it echoed. Exits non-zero otherwise, and with
# vmm's status when vmm fails.
import socket
import subprocess
import sys

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.0.2.1", 5555))
s.settimeout(30)
vmm = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL)
try:
    data, peer = s.recvfrom(2048)
except socket.timeout:
    vmm.kill()
    sys.exit("no datagram from the guest")
if data != b"hello from virtio-net" or peer != ("10.0.2.15", 5556):
    sys.exit("unexpected datagram %r from %r" % (data, peer))
print("host got %r from %s:%d" % (data.decode(), peer[0], peer[1]))
s.sendto(b"ping from the host", ("10.0.2.15", 5556))
try:
    data, peer = s.recvfrom(2048)
except socket.timeout:
    vmm.kill()
    sys.exit("no echo from the guest")
if data != b"echo: ping from the host":
    sys.exit("unexpected echo %r" % data)
print("host got %r" % data.decode())
try:
    status = vmm.wait(timeout=30)
except subprocess.TimeoutExpired:
    vmm.kill()
    sys.exit("vmm did not end after the echo")
if status != 0:
    sys.exit("vmm ended with status %d" % status)
