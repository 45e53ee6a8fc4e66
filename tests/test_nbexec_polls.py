"""The runner's kernel channel reads a reply whose wake-up was lost (nbexec.sliced_channel).

A fake socket stands in for zmq's: a poll with a timeout never wakes (the edge-triggered
wake-up a concurrent send consumed), while a zero-timeout poll reports what is queued.
"""

import asyncio
import time
from queue import Empty

import pytest

from recipe_utils.course import nbexec


class LostWakeUpSocket:
    def __init__(self, queued: list):
        self.queued, self.waits = queued, []

    async def poll(self, timeout_ms=None):
        if timeout_ms:  # a timed wait: the wake-up never comes, as after a lost edge
            self.waits.append(timeout_ms)
            await asyncio.sleep(timeout_ms / 1000)
            return 0
        return 1 if self.queued else 0


def channel(socket):
    cls = nbexec.sliced_channel()
    ch = cls.__new__(cls)  # no real socket or session: only get_msg's waiting is tested
    ch.socket = socket

    async def recv():
        return socket.queued.pop(0)
    ch._recv = recv
    return ch


def test_a_queued_reply_is_read_within_one_slice_not_at_the_timeout():
    socket = LostWakeUpSocket(["execute_reply"])
    started = time.monotonic()
    assert asyncio.run(channel(socket).get_msg(timeout=60)) == "execute_reply"
    assert time.monotonic() - started < 10  # one slice (0.5 s), not the 60 s timeout
    assert socket.waits and max(socket.waits) <= nbexec.POLL_SLICE * 1000


def test_nothing_queued_still_raises_empty_at_the_timeout():
    socket = LostWakeUpSocket([])
    started = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(channel(socket).get_msg(timeout=1.2))
    assert time.monotonic() - started >= 1.2
    assert len(socket.waits) >= 3 and max(socket.waits) <= nbexec.POLL_SLICE * 1000


def test_the_runner_uses_the_sliced_client():
    client = nbexec.sliced_client()()
    assert client.shell_channel_class.__name__ == "SlicedChannel"
    assert client.iopub_channel_class.__name__ == "SlicedChannel"
