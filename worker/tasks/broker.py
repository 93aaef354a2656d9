"""The embedded broker: kombu's SQLAlchemy transport, subclassed and registered through Celery's `broker_transport`.

Two differences from kombu's own, both through kombu's public extension points rather than by changing its
classes at run time:

- `polling_interval` 0.1 s instead of kombu's 1 s (a worker polls SQLite for messages). kombu's virtual
  transport also reads `transport_options["polling_interval"]`, but the SQLAlchemy transport forwards its
  transport options to `create_engine`, which refuses that keyword: a subclass's class attribute is the knob.
- `Producer.batch()` (kombu's public batch publish) inserts the batch's messages in one transaction. kombu's
  SQLAlchemy channel has no batch support: each message is a query for its queue's row and a commit of its own
  (a write transaction and its fsyncs). The channel offers `create_publish_batch` and the transport declares
  `batch_publish`, as kombu's Redis transport does; `_put`, the method kombu's virtual channels implement to
  store a message, hands a message published inside a batch to the batch.
"""

from __future__ import annotations

import json
from typing import Any

from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import insert, select

__all__ = ["TRANSPORT", "EmbeddedChannel", "EmbeddedTransport", "OneTransaction"]

# the value of Celery's `broker_transport` setting (kombu resolves "module:Class")
TRANSPORT = f"{__name__}:EmbeddedTransport"


class OneTransaction:
    """A publish batch of the embedded broker: the messages published in it are stored by one INSERT and one
    commit when kombu flushes it (at the end of `Producer.batch()`, or every `max_size` messages)."""

    def __init__(self, channel: EmbeddedChannel, max_size: int) -> None:
        self.channel = channel  # kombu checks that the producer's channel stays this one
        self.max_size = max_size
        self.pending: list[tuple[str, Any]] = []
        self.closed = False

    def publish(self, message: Any, **kwargs: Any) -> None:
        if self.closed:
            raise RuntimeError("the publish batch is closed")
        # the channel routes the message (exchange, bindings) and hands each queue's copy to add()
        self.channel.basic_publish(message, publish_batch=self, **kwargs)
        if len(self.pending) >= self.max_size:
            self.flush()

    def add(self, queue: str, message: Any) -> None:
        self.pending.append((queue, message))

    def flush(self) -> None:
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        self.channel.insert_messages(pending)

    def discard(self) -> None:
        self.pending = []

    def close(self) -> None:
        self.pending = []
        self.closed = True


class EmbeddedChannel(kombu_sqla.Channel):
    def create_publish_batch(self, max_size: int) -> OneTransaction:
        return OneTransaction(self, max_size)

    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        batch = kwargs.pop("publish_batch", None)
        if batch is None:
            super()._put(queue, message, **kwargs)
        else:
            batch.add(queue, message)

    def insert_messages(self, messages: list[tuple[str, Any]]) -> None:
        """Store (queue name, message) pairs in one transaction; the columns' defaults apply as through the ORM."""
        session = self.session
        queue_cls = self.queue_cls
        try:
            ids: dict[str, int] = {}
            for name in {q for q, _ in messages}:
                found = session.scalar(select(queue_cls.id).where(queue_cls.name == name))
                if found is None:  # a queue published to before anyone declared it
                    self.queue_declare(queue=name)
                    found = session.scalar(select(queue_cls.id).where(queue_cls.name == name))
                ids[name] = found
            session.execute(insert(self.message_cls),
                            [{"payload": json.dumps(message), "queue_id": ids[q]} for q, message in messages])
            session.commit()
        except BaseException:
            session.rollback()
            raise


class EmbeddedTransport(kombu_sqla.Transport):
    Channel = EmbeddedChannel
    polling_interval = 0.1
    implements = kombu_sqla.Transport.implements.extend(batch_publish=True)
