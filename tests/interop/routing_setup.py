"""What the routing interop tests share: a channel that deletes what it declared, a passive
existence check, and a runner that turns a check that raised into a FAIL and cleans up."""

from checks import check, exit_status, unique


def exchange_exists(connection, name):
    """Whether a passive declare on a new pika channel finds the exchange."""
    import pika.exceptions  # here, so that the py-amqp test runs without pika

    channel = connection.channel()
    try:
        channel.exchange_declare(name, passive=True)
    except pika.exceptions.ChannelClosedByBroker as error:
        if error.reply_code == 404:
            return False
        raise
    channel.close()
    return True


class Setup:
    """A channel that remembers the exchanges and queues it declared, to delete them at the
    end. Subclasses bind it to a client library (open_channel) and name their exchanges."""

    prefix = "routing-"
    live = []  # not yet closed, of every subclass: what run() cleans up after a failure

    def __init__(self, connection):
        self.connection = connection
        self.channel = self.open_channel()
        self.exchanges = []
        self.queues = []
        Setup.live.append(self)

    def open_channel(self):
        return self.connection.channel()

    def name(self, what):
        """A fresh exchange name, deleted at the end whether or not it gets declared."""
        name = unique(self.prefix + what)
        self.exchanges.append(name)
        return name

    def exchange(self, what, exchange_type="direct", **options):
        name = self.name(what)
        self.channel.exchange_declare(name, exchange_type, **options)
        return name

    def queue(self, *bindings, name=""):
        """A new exclusive queue bound by each (exchange, routing key[, arguments])."""
        name = self.declared_queue(self.channel.queue_declare(name, exclusive=True))
        self.queues.append(name)
        for binding in bindings:
            self.channel.queue_bind(name, *binding)
        return name

    def declared_queue(self, ok):
        return ok.method.queue  # pika's frame

    def close(self):
        Setup.live.remove(self)
        if not self.is_open():  # after a failure: clean up on a new channel
            self.channel = self.connection.channel()
        for name in self.queues:
            self.channel.queue_delete(name)
        for name in self.exchanges:
            self.channel.exchange_delete(name)  # deleting a missing exchange is ok
        self.channel.close()

    def is_open(self):
        return self.channel.is_open


class ConfirmSetup(Setup):
    """A confirm-mode pika channel, whose publishes wait for their confirms."""

    def open_channel(self):
        channel = self.connection.channel()
        channel.confirm_delivery()
        return channel

    def publish(self, exchange, key, body, headers=None, mandatory=False):
        """Publishes and waits for the confirm; the basic.returns as (code, text, exchange,
        routing key, body) tuples."""
        import pika
        import pika.exceptions

        try:
            self.channel.basic_publish(exchange, key, body.encode(),
                                       pika.BasicProperties(headers=headers),
                                       mandatory=mandatory)
        except pika.exceptions.UnroutableError as error:
            return [(m.method.reply_code, m.method.reply_text, m.method.exchange,
                     m.method.routing_key, m.body.decode()) for m in error.messages]
        return []


def run(checks, connect, connected):
    """Runs each check on one connection; one that raises counts as a FAIL, its exchanges
    and queues are deleted, and the next check runs (on a new connection if need be)."""
    connection = connect()
    for check_function in checks:
        try:
            check_function(connection)
        except Exception as error:  # noqa: BLE001 - reported as a FAIL line
            check(False, "%s raised %r" % (check_function.__name__, error))
            if not connected(connection):
                connection = connect()
            for setup in list(Setup.live):
                setup.connection = connection
                try:
                    setup.close()
                except Exception:  # noqa: BLE001 - best effort
                    pass
    connection.close()
    return exit_status()
