"""The pytest fixture's own test (run by fixtures_pytest_test.py): tools/fixtures/warren_pytest.py's brokers with pika."""
import json
import urllib.request
import base64

import pika

pytest_plugins = ["warren_pytest"]


def test_round_trip(warren):
    connection = pika.BlockingConnection(pika.URLParameters(warren.url))
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.basic_publish("", queue, b"hello from pytest")
    for _ in range(100):
        _, _, body = channel.basic_get(queue, auto_ack=True)
        if body is not None:
            break
        connection.sleep(0.01)
    assert body == b"hello from pytest"
    connection.close()


def test_each_test_has_a_fresh_broker(warren, warren_session):
    assert warren.port != warren_session.port
    connection = pika.BlockingConnection(pika.URLParameters(warren_session.url))
    channel = connection.channel()
    channel.queue_declare("kept-for-the-session", durable=True)
    connection.close()
    fresh = pika.BlockingConnection(pika.URLParameters(warren.url))
    channel = fresh.channel()
    try:
        channel.queue_declare("kept-for-the-session", passive=True)
        raise AssertionError("a fresh broker has another broker's queue")
    except pika.exceptions.ChannelClosedByBroker as closed:
        assert closed.reply_code == 404
    fresh.close()


def test_management_api_on_a_free_port(warren):
    request = urllib.request.Request(warren.management_url + "/api/overview")
    request.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    with urllib.request.urlopen(request, timeout=5) as response:
        overview = json.load(response)
    ports = {listener["protocol"]: listener["port"] for listener in overview["listeners"]}
    assert ports["amqp"] == warren.port
