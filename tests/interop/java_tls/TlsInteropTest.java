// Interop test: the RabbitMQ Java client over TLS 1.2 and 1.3 (useSslProtocol with a trust store made from the test's CA;
// Debian's client predates enableHostnameVerification): publishes with confirms and gets back; a client that does not trust the server's CA is refused.
// Arguments: PORT CA_FILE ROGUE_CA_FILE.
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.GetResponse;
import java.io.FileInputStream;
import java.io.InputStream;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.util.Arrays;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.TrustManagerFactory;

public class TlsInteropTest {
    private static int failures = 0;

    private static void check(boolean ok, String text) {
        System.out.println((ok ? "PASS: " : "FAIL: ") + text);
        if (!ok) {
            failures++;
        }
    }

    private static SSLContext context(String protocol, String caFile) throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        try (InputStream in = new FileInputStream(caFile)) {
            trust.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ctx = SSLContext.getInstance(protocol);
        ctx.init(null, tmf.getTrustManagers(), null);
        return ctx;
    }

    private static ConnectionFactory factory(int port, String protocol, String caFile) throws Exception {
        ConnectionFactory f = new ConnectionFactory();
        f.setHost("localhost");
        f.setPort(port);
        f.useSslProtocol(context(protocol, caFile));
        f.setConnectionTimeout(5000);
        return f;
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        for (String protocol : new String[] {"TLSv1.2", "TLSv1.3"}) {
            try (Connection c = factory(port, protocol, args[1]).newConnection()) {
                Channel ch = c.createChannel();
                ch.confirmSelect();
                String q = ch.queueDeclare().getQueue();
                byte[] big = new byte[300000];
                Arrays.fill(big, (byte) 'j');
                ch.basicPublish("", q, null, "small".getBytes("UTF-8"));
                ch.basicPublish("", q, null, big);
                check(ch.waitForConfirms(5000), "Java client over " + protocol + ": both publishes confirmed");
                GetResponse small = ch.basicGet(q, true);
                GetResponse large = ch.basicGet(q, true);
                check(small != null && new String(small.getBody(), "UTF-8").equals("small")
                      && large != null && Arrays.equals(large.getBody(), big),
                      "Java client over " + protocol + ": 5 B and 300 KB bodies come back intact");
            } catch (Exception e) {
                check(false, "Java client over " + protocol + ": " + e);
            }
        }
        try {
            Connection c = factory(port, "TLSv1.3", args[2]).newConnection();
            check(false, "a client that does not trust the server's CA connected");
            c.close();
        } catch (SSLHandshakeException e) {
            check(true, "a client that does not trust the server's CA refuses it: " + e.getMessage());
        }
        System.exit(failures == 0 ? 0 : 1);
    }
}
