"""The private redis-server does not outlive pulse, however pulse ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="prctl(PR_SET_PDEATHSIG)")

HOLDER = """
import sys, time
from pulse.redis_server import PrivateRedis
server = PrivateRedis()
print(server.pid, flush=True)
time.sleep(120)
"""


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers signal 0: ask /proc whether it is one.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")", 1)[1].split()[0] != "Z"


def test_a_sigkilled_pulse_takes_its_private_redis_server_with_it() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdout is not None
        server_pid = int(holder.stdout.readline())
        assert is_running(server_pid)
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    deadline = time.monotonic() + 30  # a bound on the wait, not a speed assertion
    while is_running(server_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_running(server_pid), "redis-server outlived the killed process"
