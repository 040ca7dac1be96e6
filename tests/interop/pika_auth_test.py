#!/usr/bin/python3
"""Interop test: pika logins with bad credentials get 403 ACCESS_REFUSED; good ones still work."""

import sys

import pika
import pika.compat
import pika.data
import pika.exceptions

from checks import check, exit_status, pika_connection

AUTH_ERRORS = (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError)


class AmqplainCredentials(pika.PlainCredentials):
    """pika 1.2 speaks only PLAIN and EXTERNAL; its credentials hook lets us pick AMQPLAIN,
    whose response is a field table without its length prefix."""

    TYPE = "AMQPLAIN"
    offered = []  # kept on the class: pika deep-copies the credentials it is given

    def response_for(self, start):
        AmqplainCredentials.offered = pika.compat.as_bytes(start.mechanisms).split()
        if self.TYPE.encode() not in self.offered:
            return None, None
        pieces = []
        pika.data.encode_table(pieces, {"LOGIN": self.username, "PASSWORD": self.password})
        return self.TYPE, b"".join(pieces)[4:]


def connect(credentials):
    return pika_connection(credentials=credentials, blocked_connection_timeout=None)


def check_refused(credentials, what):
    try:
        connection = connect(credentials)
    except AUTH_ERRORS as error:
        text = str(error)
        check("ACCESS_REFUSED" in text and "403" in text,
              "%s refused with 403 ACCESS_REFUSED (%s: %s)" % (what, type(error).__name__, text))
        return
    except pika.exceptions.AMQPError as error:
        check(False, "%s refused with an authentication error (got %r)" % (what, error))
        return
    check(False, "%s refused (but the login succeeded)" % what)
    connection.close()


def check_accepted(credentials, what):
    try:
        connection = connect(credentials)
    except pika.exceptions.AMQPError as error:
        check(False, "%s accepted (got %r)" % (what, error))
        return
    channel = connection.channel()
    check(channel.is_open, "%s accepted; a channel opens" % what)
    channel.close()
    connection.close()
    check(connection.is_closed, "%s: connection closed cleanly" % what)


def check_amqplain():
    check_accepted(AmqplainCredentials("guest", "guest"), "AMQPLAIN guest/guest")
    offered = AmqplainCredentials.offered
    check(b"AMQPLAIN" in offered,
          "server offers AMQPLAIN (mechanisms: %s)" % b" ".join(offered).decode())
    check_refused(AmqplainCredentials("guest", "wrong-password"), "AMQPLAIN wrong password")


def main():
    check_refused(pika.PlainCredentials("guest", "wrong-password"), "PLAIN wrong password")
    check_refused(pika.PlainCredentials("no-such-user", "guest"), "PLAIN unknown user")
    check_accepted(pika.PlainCredentials("guest", "guest"), "PLAIN guest/guest after refusals")
    check_amqplain()
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
