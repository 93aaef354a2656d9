"""The Redis broker transport (worker/broker_redis.py) keeps kombu's at-least-once bookkeeping, on a real Redis:
a delivered message is held in the unacked hash and index until its ack, and kombu's own restore brings back a
message whose consumer never acked it."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import pytest
import redis
from kombu import Connection, Exchange, Queue

from worker.celery_app import celery_config
from worker.settings import WorkerSettings

TRANSPORT = "worker.broker_redis:Transport"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def _queue(name: str = "ranges") -> Queue:
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


def _publish(conn: Connection, body: dict[str, int], name: str = "ranges") -> None:
    queue = _queue(name)
    with conn.Producer() as producer:
        producer.publish(body, exchange=queue.exchange, routing_key=name, declare=[queue], serializer="json")


def _unacked(client: redis.Redis) -> tuple[dict[bytes, bytes], list[bytes]]:
    return client.hgetall("unacked"), client.zrange("unacked_index", 0, -1)


def test_redis_urls_use_it_and_the_embedded_broker_does_not() -> None:
    assert celery_config(WorkerSettings(broker_url="redis://127.0.0.1:6379/3"))["broker_transport"] == TRANSPORT
    assert celery_config(WorkerSettings(broker_url="rediss://h:6380/0"))["broker_transport"] == TRANSPORT
    assert celery_config(WorkerSettings())["broker_transport"] is None  # the embedded SQLite broker


def test_a_delivered_message_is_held_until_its_ack(redis_url: str, client: redis.Redis) -> None:
    with Connection(redis_url, transport=TRANSPORT) as conn:
        assert type(conn.transport).__module__ == "worker.broker_redis"
        _publish(conn, {"range_id": 7})
        message = _queue()(conn.default_channel).get(no_ack=False)
        assert message is not None and message.payload == {"range_id": 7}

        held, index = _unacked(client)
        tag = message.delivery_tag.encode()
        assert list(held) == [tag] and index == [tag]
        raw, exchange, routing_key = json.loads(held[tag])  # the value kombu's restore reads back
        assert (exchange, routing_key) == ("ranges", "ranges")
        assert raw["properties"]["body_encoding"] == "base64"
        assert json.loads(base64.b64decode(raw["body"])) == {"range_id": 7}

        message.ack()
        assert _unacked(client) == ({}, [])
        assert client.llen("ranges") == 0


def test_a_message_never_acked_is_restored_after_the_visibility_timeout(redis_url: str, client: redis.Redis) -> None:
    dead = Connection(redis_url, transport=TRANSPORT)  # a worker that takes a message and dies with it
    _publish(dead, {"range_id": 8})
    assert _queue()(dead.default_channel).get(no_ack=False) is not None
    assert client.llen("ranges") == 0 and client.hlen("unacked") == 1

    options = {"visibility_timeout": 1}
    with Connection(redis_url, transport=TRANSPORT, transport_options=options) as live:
        time.sleep(1.2)
        live.default_channel.qos.restore_visible()  # kombu's periodic sweep in a live worker
        again = _queue()(live.default_channel).get(no_ack=False)
        assert again is not None and again.payload == {"range_id": 8}
        again.ack()
    assert _unacked(client) == ({}, [])
    dead.release()


def test_closing_a_channel_puts_its_unacked_messages_back(redis_url: str, client: redis.Redis) -> None:
    with Connection(redis_url, transport=TRANSPORT) as conn:
        _publish(conn, {"range_id": 9})
        channel = conn.channel()
        assert _queue()(channel).get(no_ack=False) is not None
        channel.close()  # a worker's warm shutdown: kombu restores what it had not acked
        assert client.llen("ranges") == 1
        assert _unacked(client) == ({}, [])


def test_reject_drops_the_message_or_requeues_it(redis_url: str, client: redis.Redis) -> None:
    with Connection(redis_url, transport=TRANSPORT) as conn:
        _publish(conn, {"range_id": 10})
        queue = _queue()(conn.default_channel)
        queue.get(no_ack=False).reject(requeue=True)  # type: ignore[union-attr]
        assert client.llen("ranges") == 1 and _unacked(client) == ({}, [])
        queue.get(no_ack=False).reject()  # type: ignore[union-attr]
        assert client.llen("ranges") == 0 and _unacked(client) == ({}, [])


def test_the_bookkeeping_survives_redis_forgetting_its_scripts(redis_url: str, client: redis.Redis) -> None:
    with Connection(redis_url, transport=TRANSPORT) as conn:
        for n in range(2):
            _publish(conn, {"range_id": n})
            message = _queue()(conn.default_channel).get(no_ack=False)
            assert message is not None and client.hlen("unacked") == 1
            client.script_flush()  # a Redis restart or SCRIPT FLUSH between delivery and ack
            message.ack()
            assert _unacked(client) == ({}, [])


def test_one_client_per_connection_pool(redis_url: str) -> None:
    with Connection(redis_url, transport=TRANSPORT) as conn:
        channel = conn.default_channel
        first = channel._create_client()
        assert channel._create_client() is first  # not a new redis.Redis for every ack
        channel._disconnect_pools()  # what kombu does after a connection error
        fresh = channel._create_client()
        assert fresh is not first and fresh.connection_pool is channel.pool
        assert fresh.ping()
