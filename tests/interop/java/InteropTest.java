// Interop test: the RabbitMQ Java client declares, publishes with confirms, gets, consumes, acks, nacks, uses transactions and hits channel errors.

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.Delivery;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.LongString;
import com.rabbitmq.client.Return;
import com.rabbitmq.client.ShutdownSignalException;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

public final class InteropTest {
    private static final long TEST_SECONDS = 20;
    private static final long DELIVERY_WAIT_MS = 3000;
    // How long to watch for a delivery that the prefetch window must hold back.
    private static final long QUIET_MS = 300;
    private static final long CONFIRM_WAIT_MS = 5000;

    private static int failures = 0;

    private final Connection connection;
    private final String exchange = unique("exchange");
    private final String queue = unique("queue");

    private InteropTest(Connection connection) {
        this.connection = connection;
    }

    private static synchronized boolean check(boolean ok, String text) {
        System.out.println((ok ? "PASS: " : "FAIL: ") + text);
        if (!ok) {
            failures++;
        }
        return ok;
    }

    private static boolean checkEqual(Object got, Object expected, String text) {
        boolean ok = Objects.equals(got, expected);
        return check(ok, ok ? text + ": " + expected : text + ": expected " + expected + ", got " + got);
    }

    private static String unique(String what) {
        return "java-" + what + "-" + UUID.randomUUID();
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static String text(byte[] body) {
        return body == null ? null : new String(body, StandardCharsets.UTF_8);
    }

    /** A field value written with its AMQP type tag, so a type that changed in transit shows. */
    private static String typed(Object value) {
        if (value == null) {
            return "V";
        }
        if (value instanceof String || value instanceof LongString) {
            return "S:" + value;
        }
        if (value instanceof Integer) {
            return "I:" + value;
        }
        if (value instanceof Long) {
            return "l:" + value;
        }
        if (value instanceof Short) {
            return "s:" + value;
        }
        if (value instanceof Byte) {
            return "b:" + value;
        }
        if (value instanceof Float) {
            return "f:" + value;
        }
        if (value instanceof Double) {
            return "d:" + value;
        }
        if (value instanceof BigDecimal) {
            BigDecimal decimal = (BigDecimal) value;
            return "D:" + decimal.unscaledValue() + "e-" + decimal.scale();
        }
        if (value instanceof Date) {
            return "T:" + ((Date) value).getTime();
        }
        if (value instanceof Boolean) {
            return "t:" + value;
        }
        if (value instanceof byte[]) {
            return "x:" + Arrays.toString((byte[]) value);
        }
        if (value instanceof Map) {
            StringBuilder out = new StringBuilder("F{");
            for (Map.Entry<?, ?> entry : new TreeMap<>((Map<?, ?>) value).entrySet()) {
                out.append(entry.getKey()).append('=').append(typed(entry.getValue())).append(", ");
            }
            return out.append('}').toString();
        }
        if (value instanceof List) {
            StringBuilder out = new StringBuilder("A[");
            for (Object item : (List<?>) value) {
                out.append(typed(item)).append(", ");
            }
            return out.append(']').toString();
        }
        return "?" + value.getClass().getName() + ":" + value;
    }

    /** The headers table: every field type the Java client can send, nested tables and arrays. */
    private static Map<String, Object> headers() {
        Map<String, Object> inner = new LinkedHashMap<>();
        inner.put("level", 2);
        inner.put("list", Arrays.asList(1, "two", Map.of("level", 3)));
        Map<String, Object> table = new LinkedHashMap<>();
        table.put("level", 1);
        table.put("inner", inner);
        Map<String, Object> headers = new LinkedHashMap<>();
        headers.put("string", "text with ünïcode");
        headers.put("empty", "");
        headers.put("int", -2000000000);
        headers.put("long", -1099511627776L);
        headers.put("short", (short) -30000);
        headers.put("byte", (byte) -5);
        headers.put("float", 1.5f);
        headers.put("double", 2.25d);
        headers.put("decimal", new BigDecimal("123.45"));
        headers.put("timestamp", new Date(1700000000000L));
        headers.put("true", true);
        headers.put("false", false);
        headers.put("bytes", new byte[] {0, 1, 2, (byte) 255});
        headers.put("void", null);
        headers.put("array", Arrays.asList("one", 2, true, null, 3.5d, Arrays.asList("nested", "array"), Map.of("in", "table")));
        headers.put("emptyArray", new ArrayList<>());
        headers.put("table", table);
        headers.put("emptyTable", new LinkedHashMap<>());
        return headers;
    }

    private static AMQP.BasicProperties fullProperties() {
        return new AMQP.BasicProperties.Builder()
            .contentType("application/json")
            .contentEncoding("identity")
            .headers(headers())
            .deliveryMode(2)
            .priority(7)
            .correlationId("correlation-1")
            .replyTo("reply-queue")
            .expiration("60000")
            .messageId("message-1")
            .timestamp(new Date(1700000001000L))
            .type("interop.test")
            .userId("guest")
            .appId("java-test")
            .build();
    }

    /** Every basic property, typed, in a stable order. */
    private static String describe(AMQP.BasicProperties p) {
        if (p == null) {
            return null;
        }
        return "contentType=" + p.getContentType() + " contentEncoding=" + p.getContentEncoding()
            + " headers=" + (p.getHeaders() == null ? null : typed(p.getHeaders()))
            + " deliveryMode=" + p.getDeliveryMode() + " priority=" + p.getPriority()
            + " correlationId=" + p.getCorrelationId() + " replyTo=" + p.getReplyTo()
            + " expiration=" + p.getExpiration() + " messageId=" + p.getMessageId()
            + " timestamp=" + (p.getTimestamp() == null ? null : p.getTimestamp().getTime())
            + " type=" + p.getType() + " userId=" + p.getUserId() + " appId=" + p.getAppId()
            + " clusterId=" + p.getClusterId();
    }

    private static String describe(Envelope e) {
        return e == null ? null : "tag=" + e.getDeliveryTag() + " redelivered=" + e.isRedeliver()
            + " exchange=" + e.getExchange() + " key=" + e.getRoutingKey();
    }

    private static String describe(GetResponse r) {
        return r == null ? null : describe(r.getEnvelope()) + " count=" + r.getMessageCount() + " body=" + text(r.getBody());
    }

    private static String describe(Delivery d) {
        return d == null ? null : describe(d.getEnvelope()) + " body=" + text(d.getBody());
    }

    private String counts(String name) throws Exception {
        Channel channel = connection.createChannel();
        AMQP.Queue.DeclareOk ok = channel.queueDeclarePassive(name);
        channel.close();
        return ok.getQueue() + " messages=" + ok.getMessageCount() + " consumers=" + ok.getConsumerCount();
    }

    private static String expectedCounts(String name, int messages, int consumers) {
        return name + " messages=" + messages + " consumers=" + consumers;
    }

    /** The reply code and text of the channel close an action provoked. */
    private interface ChannelAction {
        void run(Channel channel) throws Exception;
    }

    private String channelError(ChannelAction action) throws Exception {
        Channel channel = connection.createChannel();
        try {
            action.run(channel);
            // Asynchronous errors (publish, ack) arrive with the next synchronous round trip.
            channel.queueDeclarePassive(queue);
            channel.close();
            return "no error";
        } catch (IOException | ShutdownSignalException err) {
            ShutdownSignalException signal = err instanceof ShutdownSignalException
                ? (ShutdownSignalException) err : (ShutdownSignalException) err.getCause();
            if (signal == null || !(signal.getReason() instanceof AMQP.Channel.Close)) {
                return "unexpected " + err;
            }
            AMQP.Channel.Close close = (AMQP.Channel.Close) signal.getReason();
            return close.getReplyCode() + " " + close.getReplyText() + " (class " + close.getClassId()
                + ", method " + close.getMethodId() + ")";
        }
    }

    private void declareBindPublishGet(Channel channel) throws Exception {
        checkEqual(channel.exchangeDeclare(exchange, "direct", false, false, null) != null, true, "exchange.declare direct");
        AMQP.Queue.DeclareOk declared = channel.queueDeclare(queue, false, false, false, null);
        checkEqual(declared.getQueue() + " " + declared.getMessageCount() + " " + declared.getConsumerCount(), queue + " 0 0",
            "queue.declare answers its name and counts 0/0");
        channel.queueBind(queue, exchange, "key-a");

        BlockingQueue<Return> returns = new LinkedBlockingQueue<>();
        channel.addReturnListener(returns::add);
        // Returns and confirms reach the listeners in the order they arrived.
        AtomicInteger returnsBeforeThirdConfirm = new AtomicInteger(-1);
        channel.addConfirmListener((tag, multiple) -> {
            if (tag >= 3) {
                returnsBeforeThirdConfirm.compareAndSet(-1, returns.size());
            }
        }, (tag, multiple) -> check(false, "no basic.nack (got one for tag " + tag + ")"));
        channel.basicPublish(exchange, "key-a", fullProperties(), bytes("{\"n\":1}"));
        channel.basicPublish(exchange, "key-a", null, bytes("plain"));
        channel.basicPublish(exchange, "no-such-key", true, new AMQP.BasicProperties.Builder().messageId("lost").build(), bytes("unroutable"));
        check(channel.waitForConfirms(CONFIRM_WAIT_MS), "three publishes confirmed with basic.ack");
        checkEqual(returnsBeforeThirdConfirm.get(), 1, "the basic.return arrived before the confirm of the unroutable publish");
        Return returned = returns.poll();
        checkEqual(returned == null ? null : returned.getReplyCode() + " " + returned.getReplyText() + " " + returned.getExchange()
                + " " + returned.getRoutingKey() + " " + text(returned.getBody()) + " " + returned.getProperties().getMessageId(),
            "312 NO_ROUTE " + exchange + " no-such-key unroutable lost", "basic.return carries 312 NO_ROUTE and the whole message");
        checkEqual(counts(queue), expectedCounts(queue, 2, 0), "passive queue.declare counts 2 messages");

        GetResponse first = channel.basicGet(queue, false);
        checkEqual(describe(first), "tag=1 redelivered=false exchange=" + exchange + " key=key-a count=1 body={\"n\":1}", "basic.get-ok");
        checkEqual(first == null ? null : describe(first.getProps()), describe(fullProperties()),
            "every property and the headers table round-trip with their types");
        GetResponse second = channel.basicGet(queue, true);
        checkEqual(describe(second), "tag=2 redelivered=false exchange=" + exchange + " key=key-a count=0 body=plain", "second basic.get-ok");
        checkEqual(second == null ? null : describe(second.getProps()), describe(new AMQP.BasicProperties()),
            "plain message has no properties");
        checkEqual(channel.basicGet(queue, false), null, "basic.get on an empty queue gets get-empty");
        channel.basicAck(1, false);
    }

    /** A publish from a second connection, confirmed before it returns. */
    private void publishFromAnotherConnection(String routingKey, String body) throws Exception {
        try (Connection other = factory().newConnection()) {
            Channel channel = other.createChannel();
            channel.confirmSelect();
            channel.basicPublish("", routingKey, null, bytes(body));
            channel.waitForConfirmsOrDie(CONFIRM_WAIT_MS);
        }
    }

    private void consumeAckNack(Channel channel) throws Exception {
        for (String body : new String[] {"m1", "m2", "m3"}) {
            channel.basicPublish("", queue, null, bytes(body));
        }
        channel.waitForConfirmsOrDie(CONFIRM_WAIT_MS);
        BlockingQueue<Delivery> inbox = new LinkedBlockingQueue<>();
        String tag = channel.basicConsume(queue, false, (consumerTag, delivery) -> inbox.add(delivery), consumerTag -> { });
        check(tag.matches("amq\\.ctag-[A-Za-z0-9_-]{22}"), "server-generated consumer tag " + tag);
        List<String> seen = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            seen.add(describe(inbox.poll(DELIVERY_WAIT_MS, TimeUnit.MILLISECONDS)));
        }
        checkEqual(seen, Arrays.asList(
                "tag=3 redelivered=false exchange= key=" + queue + " body=m1",
                "tag=4 redelivered=false exchange= key=" + queue + " body=m2",
                "tag=5 redelivered=false exchange= key=" + queue + " body=m3"),
            "three deliveries in order with tags 3, 4, 5 (the gets used 1 and 2)");
        channel.basicNack(3, false, true);
        checkEqual(describe(inbox.poll(DELIVERY_WAIT_MS, TimeUnit.MILLISECONDS)),
            "tag=6 redelivered=true exchange= key=" + queue + " body=m1", "nack with requeue redelivers m1 with redelivered=true");
        channel.basicAck(5, true);
        channel.basicRecover(true);
        checkEqual(describe(inbox.poll(DELIVERY_WAIT_MS, TimeUnit.MILLISECONDS)),
            "tag=7 redelivered=true exchange= key=" + queue + " body=m1", "basic.recover requeues the unacked m1 again");
        channel.basicAck(7, false);
        publishFromAnotherConnection(queue, "late");
        checkEqual(describe(inbox.poll(DELIVERY_WAIT_MS, TimeUnit.MILLISECONDS)),
            "tag=8 redelivered=false exchange= key=" + queue + " body=late",
            "a message published on another connection while the consumer waits is delivered at once");
        channel.basicAck(8, false);
        channel.basicCancel(tag);
        checkEqual(inbox.poll(QUIET_MS, TimeUnit.MILLISECONDS), null, "nothing more delivered after cancel");
        checkEqual(counts(queue), expectedCounts(queue, 0, 0), "queue empty and without consumers after the acks");
    }

    private void prefetch(Channel channel) throws Exception {
        channel.basicQos(2);
        for (int i = 1; i <= 5; i++) {
            channel.basicPublish("", queue, null, bytes("p" + i));
        }
        channel.waitForConfirmsOrDie(CONFIRM_WAIT_MS);
        BlockingQueue<Delivery> inbox = new LinkedBlockingQueue<>();
        String tag = channel.basicConsume(queue, false, (consumerTag, delivery) -> inbox.add(delivery), consumerTag -> { });
        Delivery p1 = inbox.poll(DELIVERY_WAIT_MS, TimeUnit.MILLISECONDS);
        Delivery p2 = inbox.poll(DELIVERY_WAIT_MS, TimeUnit.MILLISECONDS);
        checkEqual(Arrays.asList(p1 == null ? null : text(p1.getBody()), p2 == null ? null : text(p2.getBody())),
            Arrays.asList("p1", "p2"), "prefetch 2: the first two arrive");
        checkEqual(inbox.poll(QUIET_MS, TimeUnit.MILLISECONDS), null, "prefetch 2: the third waits for an ack");
        channel.basicAck(p1.getEnvelope().getDeliveryTag(), false);
        Delivery p3 = inbox.poll(DELIVERY_WAIT_MS, TimeUnit.MILLISECONDS);
        checkEqual(p3 == null ? null : text(p3.getBody()), "p3", "one ack lets p3 through");
        checkEqual(inbox.poll(QUIET_MS, TimeUnit.MILLISECONDS), null, "and only p3");
        channel.basicAck(p3.getEnvelope().getDeliveryTag(), true);
        Delivery p4 = inbox.poll(DELIVERY_WAIT_MS, TimeUnit.MILLISECONDS);
        Delivery p5 = inbox.poll(DELIVERY_WAIT_MS, TimeUnit.MILLISECONDS);
        checkEqual(Arrays.asList(p4 == null ? null : text(p4.getBody()), p5 == null ? null : text(p5.getBody())),
            Arrays.asList("p4", "p5"), "a multiple ack frees the window for p4, p5");
        channel.basicReject(p4.getEnvelope().getDeliveryTag(), false);
        channel.basicReject(p5.getEnvelope().getDeliveryTag(), true);
        Delivery back = inbox.poll(DELIVERY_WAIT_MS, TimeUnit.MILLISECONDS);
        checkEqual(back == null ? null : text(back.getBody()) + " redelivered=" + back.getEnvelope().isRedeliver(), "p5 redelivered=true",
            "reject with requeue redelivers p5; reject without requeue drops p4");
        channel.basicAck(back.getEnvelope().getDeliveryTag(), false);
        channel.basicCancel(tag);
        channel.basicQos(0);
        checkEqual(counts(queue), expectedCounts(queue, 0, 0), "queue empty after the prefetch run");
    }

    private void transactions() throws Exception {
        Channel tx = connection.createChannel();
        tx.txSelect();
        tx.basicPublish(exchange, "key-a", null, bytes("t1"));
        tx.basicPublish(exchange, "key-a", null, bytes("t2"));
        checkEqual(counts(queue), expectedCounts(queue, 0, 0), "tx: publishes are held until commit");
        tx.txCommit();
        checkEqual(counts(queue), expectedCounts(queue, 2, 0), "tx.commit delivers both");
        tx.basicPublish(exchange, "key-a", null, bytes("t3"));
        tx.txRollback();
        checkEqual(counts(queue), expectedCounts(queue, 2, 0), "tx.rollback drops the held publish");

        GetResponse t1 = tx.basicGet(queue, false);
        checkEqual(describe(t1), "tag=1 redelivered=false exchange=" + exchange + " key=key-a count=1 body=t1", "tx: get t1");
        tx.basicAck(1, false);
        tx.txRollback();
        // The rolled-back ack is forgotten: t1 stays unacked, so the same tag may be acked again.
        GetResponse t2 = tx.basicGet(queue, false);
        checkEqual(describe(t2), "tag=2 redelivered=false exchange=" + exchange + " key=key-a count=0 body=t2", "tx: get t2");
        tx.basicAck(2, true);
        tx.txCommit();
        checkEqual(counts(queue), expectedCounts(queue, 0, 0), "tx: acks of t1 and t2 committed");
        tx.close();

        Channel rolledBack = connection.createChannel();
        rolledBack.txSelect();
        rolledBack.basicPublish("", queue, null, bytes("t4"));
        rolledBack.txCommit();
        GetResponse t4 = rolledBack.basicGet(queue, false);
        checkEqual(describe(t4), "tag=1 redelivered=false exchange= key=" + queue + " count=0 body=t4", "tx: get t4");
        rolledBack.basicAck(1, false);
        rolledBack.txRollback();
        rolledBack.close();
        checkEqual(counts(queue), expectedCounts(queue, 1, 0), "a rolled-back ack leaves t4 unacked; channel close requeues it");
        Channel reader = connection.createChannel();
        checkEqual(describe(reader.basicGet(queue, true)), "tag=1 redelivered=true exchange= key=" + queue + " count=0 body=t4",
            "t4 comes back redelivered");
        reader.close();

        checkEqual(channelError(channel -> {
            channel.txSelect();
            channel.confirmSelect();
        }), "406 PRECONDITION_FAILED - cannot switch from tx to confirm mode (class 85, method 10)", "confirm.select on a tx channel: 406");
        checkEqual(channelError(channel -> {
            channel.confirmSelect();
            channel.txSelect();
        }), "406 PRECONDITION_FAILED - cannot switch from confirm to tx mode (class 90, method 10)", "tx.select on a confirm channel: 406");
        checkEqual(channelError(Channel::txCommit),
            "406 PRECONDITION_FAILED - channel is not transactional (class 90, method 20)", "tx.commit without tx.select: 406");
    }

    private void errors() throws Exception {
        String missing = unique("missing");
        checkEqual(channelError(channel -> channel.queueDeclarePassive(missing)),
            "404 NOT_FOUND - no queue '" + missing + "' in vhost '/' (class 50, method 10)", "passive declare of a missing queue: 404");
        checkEqual(channelError(channel -> channel.basicPublish(missing, "x", null, bytes("lost"))),
            "404 NOT_FOUND - no exchange '" + missing + "' in vhost '/' (class 60, method 40)", "publish to a missing exchange: 404");
        checkEqual(channelError(channel -> channel.basicAck(7, false)),
            "406 PRECONDITION_FAILED - unknown delivery tag 7 (class 60, method 80)", "ack of an unknown tag: 406");
        checkEqual(channelError(channel -> channel.exchangeDeclare(exchange, "fanout")),
            "406 PRECONDITION_FAILED - inequivalent arg 'type' for exchange '" + exchange
                + "' in vhost '/': received 'fanout' but current is 'direct' (class 40, method 10)",
            "redeclare as fanout: 406 inequivalent arg");
    }

    private void cleanUp(Channel channel) throws Exception {
        channel.basicPublish(exchange, "key-a", null, bytes("q1"));
        channel.basicPublish(exchange, "key-a", null, bytes("q2"));
        channel.waitForConfirmsOrDie(CONFIRM_WAIT_MS);
        checkEqual(channel.queuePurge(queue).getMessageCount(), 2, "queue.purge answers 2 messages");
        channel.queueUnbind(queue, exchange, "key-a");
        checkEqual(channel.queueDelete(queue).getMessageCount(), 0, "queue.delete answers 0 messages");
        channel.exchangeDelete(exchange);
        checkEqual(channelError(c -> c.exchangeDeclarePassive(exchange)),
            "404 NOT_FOUND - no exchange '" + exchange + "' in vhost '/' (class 40, method 10)", "the exchange is gone");
    }

    private void run() throws Exception {
        Channel channel = connection.createChannel();
        channel.confirmSelect();
        try {
            declareBindPublishGet(channel);
            consumeAckNack(channel);
            prefetch(channel);
            transactions();
            errors();
            cleanUp(channel);
        } finally {
            Channel spare = connection.createChannel();
            spare.queueDelete(queue);
            spare.exchangeDelete(exchange);
            spare.close();
        }
    }

    private static ConnectionFactory factory() {
        ConnectionFactory factory = new ConnectionFactory();
        factory.setHost(System.getenv().getOrDefault("AMQP_HOST", "127.0.0.1"));
        factory.setPort(Integer.parseInt(System.getenv().getOrDefault("AMQP_PORT", "5672")));
        factory.setUsername("guest");
        factory.setPassword("guest");
        factory.setAutomaticRecoveryEnabled(false);
        return factory;
    }

    public static void main(String[] args) throws Exception {
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(TEST_SECONDS * 1000);
                check(false, "finished within " + TEST_SECONDS + " s");
                Runtime.getRuntime().halt(1);
            } catch (InterruptedException done) {
                // the test finished in time
            }
        });
        watchdog.setDaemon(true);
        watchdog.start();

        try (Connection connection = factory().newConnection()) {
            new InteropTest(connection).run();
        } catch (Exception err) {
            check(false, "no unexpected exception: " + err);
            err.printStackTrace(System.out);
        }
        System.exit(failures == 0 ? 0 : 1);
    }
}
