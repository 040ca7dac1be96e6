// Interop test: amqp091-go over TLS 1.2 and 1.3 (amqps://, DialTLS): publishes with confirms and consumes,
// with and without a client certificate; then a client that does not trust the server's CA is refused.
// Arguments: PORT CA_FILE CLIENT_CERT CLIENT_KEY ROGUE_CA_FILE.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

var failures = 0

func check(ok bool, text string) {
	if ok {
		fmt.Println("PASS: " + text)
	} else {
		fmt.Println("FAIL: " + text)
		failures++
	}
}

func tlsConfig(caFile string, version uint16, cert *tls.Certificate) *tls.Config {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: version, MaxVersion: version}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg
}

// roundTrip publishes count messages with confirms and consumes them back, in order.
func roundTrip(conn *amqp.Connection, label string, count int) {
	ch, err := conn.Channel()
	if err != nil {
		check(false, label+": channel: "+err.Error())
		return
	}
	defer ch.Close()
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		check(false, label+": queue.declare: "+err.Error())
		return
	}
	if err := ch.Confirm(false); err != nil {
		check(false, label+": confirm.select: "+err.Error())
		return
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, count))
	body := strings.Repeat("x", 70000) // more than one frame at the default frame_max
	for i := 0; i < count; i++ {
		msg := amqp.Publishing{Body: []byte(fmt.Sprintf("%d:%s", i, body))}
		if err := ch.Publish("", q.Name, false, false, msg); err != nil {
			check(false, label+": publish: "+err.Error())
			return
		}
	}
	acked := 0
	timeout := time.After(10 * time.Second)
	for acked < count {
		select {
		case c := <-confirms:
			if c.Ack {
				acked++
			}
		case <-timeout:
			check(false, fmt.Sprintf("%s: %d of %d confirms in 10 s", label, acked, count))
			return
		}
	}
	deliveries, err := ch.Consume(q.Name, "", true, false, false, false, nil)
	if err != nil {
		check(false, label+": basic.consume: "+err.Error())
		return
	}
	inOrder := true
	got := 0
	for got < count {
		select {
		case d := <-deliveries:
			if string(d.Body) != fmt.Sprintf("%d:%s", got, body) {
				inOrder = false
			}
			got++
		case <-time.After(10 * time.Second):
			check(false, fmt.Sprintf("%s: %d of %d deliveries in 10 s", label, got, count))
			return
		}
	}
	check(inOrder, fmt.Sprintf("%s: %d confirmed 70 KB messages consumed intact and in order", label, count))
}

func main() {
	if len(os.Args) != 6 {
		fmt.Println("FAIL: usage: amqp091_tls_main PORT CA CLIENT_CERT CLIENT_KEY ROGUE_CA")
		os.Exit(1)
	}
	url := "amqps://guest:guest@localhost:" + os.Args[1] + "/"
	clientCert, err := tls.LoadX509KeyPair(os.Args[3], os.Args[4])
	if err != nil {
		panic(err)
	}
	versions := []struct {
		v    uint16
		name string
	}{{tls.VersionTLS12, "TLS 1.2"}, {tls.VersionTLS13, "TLS 1.3"}}
	for _, v := range versions {
		for _, cert := range []*tls.Certificate{nil, &clientCert} {
			label := "amqp091-go over " + v.name
			if cert != nil {
				label += " with a client certificate"
			}
			conn, err := amqp.DialTLS(url, tlsConfig(os.Args[2], v.v, cert))
			if err != nil {
				check(false, label+": dial: "+err.Error())
				continue
			}
			state := conn.ConnectionState()
			check(state.Version == v.v, fmt.Sprintf("%s: negotiated version %x", label, state.Version))
			roundTrip(conn, label, 50)
			conn.Close()
		}
	}
	_, err = amqp.DialTLS(url, tlsConfig(os.Args[5], tls.VersionTLS13, nil))
	check(err != nil && strings.Contains(err.Error(), "certificate"),
		fmt.Sprintf("a client that does not trust the server's CA refuses it: %v", err))
	if failures > 0 {
		fmt.Printf("%d failure(s)\n", failures)
		os.Exit(1)
	}
}
