// The JVM fixture's test (tests/interop/fixtures_java_test.py): WarrenBroker with the RabbitMQ Java client, PASS/FAIL lines.
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.GetResponse;
import java.nio.charset.StandardCharsets;

public final class WarrenBrokerCheck {
    private static int failures = 0;

    private static void check(boolean ok, String text) {
        System.out.println((ok ? "PASS: " : "FAIL: ") + text);
        if (!ok)
            failures++;
    }

    public static void main(String[] args) throws Exception {
        long pid;
        try (WarrenBroker warren = WarrenBroker.start()) {
            pid = warren.pid();
            check(warren.port() > 0 && warren.port() != 5672, "a free port: " + warren.port());
            check(warren.managementUrl() != null, "the management API's address: " + warren.managementUrl());
            ConnectionFactory factory = new ConnectionFactory();
            factory.setUri(warren.uri());
            try (Connection connection = factory.newConnection()) {
                Channel channel = connection.createChannel();
                String queue = channel.queueDeclare().getQueue();
                channel.basicPublish("", queue, null, "hello from the JVM".getBytes(StandardCharsets.UTF_8));
                GetResponse got = null;
                for (int i = 0; i < 100 && got == null; i++) {
                    got = channel.basicGet(queue, true);
                    if (got == null)
                        Thread.sleep(10);
                }
                check(got != null && new String(got.getBody(), StandardCharsets.UTF_8).equals("hello from the JVM"),
                      "a message round trip through the Java client");
            }
        }
        check(!ProcessHandle.of(pid).isPresent(), "close() stopped the broker (pid " + pid + ")");
        System.exit(failures == 0 ? 0 : 1);
    }
}
