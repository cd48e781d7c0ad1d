"""How chapter kernels are started and talked to when papermill executes a notebook.

Three deviations from jupyter_client's defaults, all about reliability:

* **Unix sockets** instead of TCP: no free ports to pick and bind later (a race with any other
  program opening ports meanwhile, such as a process-group rendezvous), and no messages through
  the network stack.
* **Polling in short slices.** pyzmq's asyncio poll can miss the wake-up of a socket that already
  holds a message; the message is then only seen when the poll times out, which for a cell is the
  whole cell timeout (observed: a widget cell that finished at once reported after exactly the
  20-minute limit). Polling for at most :data:`POLL_SLICE_S` at a time bounds such a miss.
* **Quiet ends.** Kernels are stopped at once, never asked to shut down while a cell may still run
  (after Ctrl-C a graceful shutdown closes the kernel's sockets under the running cell, which then
  prints ZMQ errors into the user's terminal), and :func:`kill_kernels` kills, with their whole
  process group, any that an interrupt left running (a kernel runs in its own session and would
  otherwise outlive the command).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import weakref
from pathlib import Path
from queue import Empty

from jupyter_client import AsyncKernelManager
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from traitlets import DottedObjectName, Type

POLL_SLICE_S = 0.5


class SlicedPollChannel(AsyncZMQSocketChannel):
    async def get_msg(self, timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_SLICE_S if deadline is None else min(POLL_SLICE_S, max(0.0, deadline - time.monotonic()))
            try:
                return await super().get_msg(timeout=left)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class SlicedPollKernelClient(AsyncKernelClient):
    shell_channel_class = Type(SlicedPollChannel)
    iopub_channel_class = Type(SlicedPollChannel)
    stdin_channel_class = Type(SlicedPollChannel)
    control_channel_class = Type(SlicedPollChannel)


def kernel_manager_class(socket_prefix: str | Path | None):
    """A kernel manager class using :class:`SlicedPollKernelClient`, on Unix sockets ``socket_prefix-N``
    (TCP when ``socket_prefix`` is ``None``, e.g. on Windows)."""

    class BookKernelManager(AsyncKernelManager):
        instances: weakref.WeakSet = weakref.WeakSet()  # for kill_kernels
        client_class = DottedObjectName("reprobook.engine.kernel.SlicedPollKernelClient")
        client_factory = Type(SlicedPollKernelClient, klass=AsyncKernelClient)

        def __init__(self, **kwargs):
            if socket_prefix is not None:
                kwargs.update(transport="ipc", ip=str(socket_prefix))
            super().__init__(**kwargs)
            BookKernelManager.instances.add(self)

    return BookKernelManager


def kill_kernels(manager_class) -> int:
    """Kill the kernels of ``manager_class`` (from :func:`kernel_manager_class`) that still run; return how many."""
    killed = 0
    for km in list(getattr(manager_class, "instances", ())):
        proc = getattr(getattr(km, "provisioner", None), "process", None)
        if proc is None or proc.poll() is not None:
            continue
        try:
            if hasattr(os, "killpg") and os.getpgid(proc.pid) == proc.pid:  # its own group: workers too
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            proc.wait(timeout=10)
            killed += 1
        except (OSError, ValueError, subprocess.TimeoutExpired):
            continue
    return killed
