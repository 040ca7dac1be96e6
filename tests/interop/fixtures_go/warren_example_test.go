// The Go fixture's test (tests/interop/fixtures_go_test.py): tools/fixtures/warren_test.go's StartWarren with amqp091-go.
package warren

import (
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Publish and get through amqp091-go.
func TestWarrenRoundTrip(t *testing.T) {
	w := StartWarren(t)
	conn, err := amqp.Dial(w.URL)
	if err != nil {
		t.Fatalf("dial %s: %v", w.URL, err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("hello from go test")
	if err := ch.Publish("", q.Name, false, false, amqp.Publishing{Body: body}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		msg, ok, err := ch.Get(q.Name, true)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if string(msg.Body) != string(body) {
				t.Fatalf("got %q", msg.Body)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the message never arrived")
}

// Each test gets a broker of its own: what another test declared is not there.
func TestWarrenIsFresh(t *testing.T) {
	a, b := StartWarren(t), StartWarren(t)
	if a.Listeners["amqp"] == b.Listeners["amqp"] {
		t.Fatalf("two brokers on one address %s", a.Listeners["amqp"])
	}
	conn, err := amqp.Dial(a.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	if _, err := ch.QueueDeclare("only-in-a", false, false, true, false, nil); err != nil {
		t.Fatal(err)
	}
	other, err := amqp.Dial(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	och, _ := other.Channel()
	if _, err := och.QueueDeclarePassive("only-in-a", false, false, true, false, nil); err == nil {
		t.Fatal("the second broker has the first one's queue")
	}
}
