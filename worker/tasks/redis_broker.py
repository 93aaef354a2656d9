"""The Redis broker: kombu's Redis transport, subclassed and registered through Celery's `broker_transport` (as
the embedded broker is, worker/tasks/broker.py), so that a worker outlives a Redis restart.

What it works around (Celery 5.7 / kombu 5.7, seen by bench/soak.py, reproduced by
tests/e2e/test_worker_redis_restart.py): when the broker connection drops while tasks are running (late acks:
their messages are unacknowledged), Celery's consumer first `collect()`s the connection, which detaches the
transport from its kombu `Connection` (`transport.client = None`) after closing the channel has failed on the
dead socket, then `close()`s it. That second close reaches the channel again, whose requeue of unacknowledged
messages asks the transport's client for Redis's host name to build a new pool: `AttributeError: 'NoneType'
object has no attribute 'hostname'`, which Celery does not count as a connection error, so the worker exits
("Unrecoverable error") instead of reconnecting.

The same happens later to a range still running at the disconnect: once it finishes (threads pool), it acks
on the old, detached channel, and the ack fails the same way.

The channel below skips that requeue when its transport has been detached, through the channel's own
`do_restore` switch (kombu's virtual channels skip the requeue at close when it is off), and turns an ack or a
reject on a detached channel into a connection error, which Celery logs ("Couldn't ack") and survives. Nothing
is lost: the messages stay in Redis's unacknowledged set, which kombu's visibility sweep puts back on the queue
(a range already stored is skipped by its database state), and if Redis lost them in the restart, the
scheduler's sweep re-sends the ranges from the database. Everything here uses kombu's public extension point
(a transport class named by `broker_transport`) and the channel's public methods; kombu's classes are not
changed.
"""

from __future__ import annotations

import redis
from kombu.transport import redis as kombu_redis

__all__ = ["TRANSPORT", "RedisChannel", "RedisTransport", "SCHEMES"]

# the value of Celery's `broker_transport` setting (kombu resolves "module:Class")
TRANSPORT = f"{__name__}:RedisTransport"
# broker URL schemes this transport serves: plain redis:// only (rediss:// keeps kombu's own transport, which
# turns TLS on from the scheme; Sentinel and the rest keep theirs)
SCHEMES = ("redis",)


class RedisChannel(kombu_redis.Channel):
    def _detached(self) -> bool:
        """True once the connection this channel was opened on has been collected or closed."""
        transport = self.connection
        return transport is None or getattr(transport, "client", None) is None

    def close(self) -> None:
        if self._detached():
            # no connection parameters left to requeue with (see above): the messages wait in Redis's
            # unacknowledged set for kombu's visibility sweep
            self.do_restore = False
        super().close()

    def basic_ack(self, delivery_tag: str, multiple: bool = False) -> None:
        # a range that finishes after the connection it came on was replaced acks on this old channel: a
        # connection error (logged by Celery as "Couldn't ack", the message redelivered later and skipped as
        # done by the range's database state) rather than the AttributeError that ends the worker
        if self._detached():
            raise redis.ConnectionError("the broker connection this message came on is gone")
        super().basic_ack(delivery_tag, multiple)

    def basic_reject(self, delivery_tag: str, requeue: bool = False) -> None:
        if self._detached():
            raise redis.ConnectionError("the broker connection this message came on is gone")
        super().basic_reject(delivery_tag, requeue)


class RedisTransport(kombu_redis.Transport):
    Channel = RedisChannel
