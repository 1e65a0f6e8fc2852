"""bench/common/guest_session.py: one monitor process driven through its serial console, for the benches that boot
a guest and type into it (bench/riscv-boot, bench/riscv-linux). The caller's step function reads the console text
and advances its own states; this module owns the process, the reads, the time limits and the accounting of the
monitor's CPU time (wait4), so every bench measures a run the same way.
"""
import os
import select
import subprocess
import time


class GuestSession:
    """A monitor started with argv; `text` is its console output so far with CR removed."""

    def __init__(self, argv):
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out, self.err, self.text = b"", b"", b""
        self.res = {}
        self.state = None
        self.typed = 0.0

    def elapsed(self):
        return time.monotonic() - self.t0

    def type_line(self, line):
        """Type a line (bytes); a monitor that already closed its input is not an error here."""
        try:
            self.proc.stdin.write(line)
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        self.typed = time.monotonic()

    def retype(self, line, every=10.0):
        """Type line again when `every` seconds passed since the last typing: input typed before the guest's shell
        has set up its terminal can be discarded."""
        if time.monotonic() - self.typed > every:
            self.type_line(line)

    def run(self, step, state, timeout, stall):
        """Call step(self) after each read until the monitor exits; `state` names what is awaited (step changes
        self.state; "exit" once it asked the guest to end). Past `timeout` seconds in all, or `stall` without
        console output, the run ends with res["error"] naming the awaited state. Returns res, with exit_s, status,
        user_s, sys_s, cpu_s, tail and stderr added."""
        self.state = state
        last_out = self.t0
        fds = [self.proc.stdout, self.proc.stderr]
        while fds:
            now = time.monotonic()
            if self.state != "exit" and (now - self.t0 > timeout or now - last_out > stall):
                self.res["error"] = (f"no {self.state} after {timeout:.0f} s" if now - self.t0 > timeout
                                     else f"no output for {stall:.0f} s while waiting for the {self.state}")
                self.proc.terminate()
                self.state, self.typed = "exit", now
            if self.state == "exit" and now - self.typed > 60:
                self.proc.kill()
            ready, _, _ = select.select(fds, [], [], 0.2)
            for f in ready:
                chunk = os.read(f.fileno(), 65536)
                if not chunk:
                    fds.remove(f)
                elif f is self.proc.stdout:
                    self.out += chunk
                    last_out = time.monotonic()
                else:
                    self.err += chunk
            self.text = self.out.replace(b"\r", b"")
            if "error" not in self.res:
                step(self)
        _, status, ru = os.wait4(self.proc.pid, 0)
        self.res["exit_s"] = self.elapsed()
        self.res["status"] = os.waitstatus_to_exitcode(status)
        self.res["user_s"], self.res["sys_s"] = ru.ru_utime, ru.ru_stime
        self.res["cpu_s"] = ru.ru_utime + ru.ru_stime
        self.res["tail"] = self.out[-600:].decode(errors="replace")
        self.res["stderr"] = self.err.decode(errors="replace")
        return self.res
