// Interop test: amqp091-go declares, publishes with confirms, gets, consumes, acks, nacks, uses transactions and hits channel errors;
// then RabbitMQ's extensions: TTLs, dead-lettering, priorities, quorum queues, direct reply-to, exchange-to-exchange
// bindings, alternate exchanges, CC/BCC, length limits, queue expiry, consumer priorities, single active consumer,
// delayed messages, consumer timeouts, capabilities.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

const (
	testTime        = 40 * time.Second
	deliveryWait    = 3 * time.Second
	quiet           = 300 * time.Millisecond // how long to watch for a delivery the prefetch window must hold back
	confirmBatch    = 50
	eventBufferSize = 100
)

var failures = 0

func check(ok bool, text string) bool {
	if ok {
		fmt.Println("PASS: " + text)
	} else {
		fmt.Println("FAIL: " + text)
		failures++
	}
	return ok
}

func checkEqual(got, expected interface{}, text string) bool {
	if reflect.DeepEqual(got, expected) {
		return check(true, fmt.Sprintf("%s: %v", text, expected))
	}
	return check(false, fmt.Sprintf("%s: expected %#v, got %#v", text, expected, got))
}

func unique(what string) string {
	suffix := make([]byte, 8)
	if _, err := rand.Read(suffix); err != nil {
		panic(err)
	}
	return "amqp091go-" + what + "-" + hex.EncodeToString(suffix)
}

// typed renders a field value with its Go type, which amqp091-go maps one to one onto the
// AMQP field type tags, so a value whose type changed in transit shows.
func typed(value interface{}) string {
	switch v := value.(type) {
	case nil:
		return "V"
	case amqp.Table:
		keys := make([]string, 0, len(v))
		for key := range v {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, key := range keys {
			parts = append(parts, key+"="+typed(v[key]))
		}
		return "F{" + strings.Join(parts, ", ") + "}"
	case []interface{}:
		parts := make([]string, 0, len(v))
		for _, item := range v {
			parts = append(parts, typed(item))
		}
		return "A[" + strings.Join(parts, ", ") + "]"
	case []byte:
		return fmt.Sprintf("x:%v", v)
	case time.Time:
		return fmt.Sprintf("T:%d", v.Unix())
	default:
		return fmt.Sprintf("%T:%v", v, v)
	}
}

// headers: every field type amqp091-go can send, nested tables and arrays.
func headers() amqp.Table {
	return amqp.Table{
		"string":     "text with ünïcode",
		"empty":      "",
		"bool-true":  true,
		"bool-false": false,
		"ubyte":      byte(200),
		"byte":       int8(-5),
		"short":      int16(-30000),
		"int":        int32(-2000000000),
		"long":       int64(-1099511627776),
		"float":      float32(1.5),
		"double":     2.25,
		"decimal":    amqp.Decimal{Scale: 2, Value: 12345},
		"timestamp":  time.Unix(1700000000, 0),
		"bytes":      []byte{0, 1, 2, 255},
		"void":       nil,
		"array":      []interface{}{"one", int32(2), true, nil, 3.5, []interface{}{"nested", "array"}, amqp.Table{"in": "table"}},
		"emptyArray": []interface{}{},
		"table": amqp.Table{"level": int32(1), "inner": amqp.Table{"level": int32(2),
			"list": []interface{}{int32(1), "two", amqp.Table{"level": int32(3)}}}},
		"emptyTable": amqp.Table{},
	}
}

func fullPublishing(body string) amqp.Publishing {
	return amqp.Publishing{
		Headers:         headers(),
		ContentType:     "application/json",
		ContentEncoding: "identity",
		DeliveryMode:    amqp.Persistent,
		Priority:        7,
		CorrelationId:   "correlation-1",
		ReplyTo:         "reply-queue",
		Expiration:      "60000",
		MessageId:       "message-1",
		Timestamp:       time.Unix(1700000001, 0),
		Type:            "interop.test",
		UserId:          "guest",
		AppId:           "amqp091go-test",
		Body:            []byte(body),
	}
}

func describeProperties(headers amqp.Table, contentType, contentEncoding string, deliveryMode, priority uint8,
	correlationID, replyTo, expiration, messageID string, timestamp time.Time, kind, userID, appID string) string {
	stamp := "zero"
	if !timestamp.IsZero() {
		stamp = fmt.Sprint(timestamp.Unix())
	}
	headerText := "nil"
	if headers != nil {
		headerText = typed(headers)
	}
	return fmt.Sprintf("contentType=%q contentEncoding=%q headers=%s deliveryMode=%d priority=%d correlationId=%q "+
		"replyTo=%q expiration=%q messageId=%q timestamp=%s type=%q userId=%q appId=%q",
		contentType, contentEncoding, headerText, deliveryMode, priority, correlationID, replyTo, expiration,
		messageID, stamp, kind, userID, appID)
}

func publishingProperties(p amqp.Publishing) string {
	return describeProperties(p.Headers, p.ContentType, p.ContentEncoding, p.DeliveryMode, p.Priority, p.CorrelationId,
		p.ReplyTo, p.Expiration, p.MessageId, p.Timestamp, p.Type, p.UserId, p.AppId)
}

func deliveryProperties(d amqp.Delivery) string {
	return describeProperties(d.Headers, d.ContentType, d.ContentEncoding, d.DeliveryMode, d.Priority, d.CorrelationId,
		d.ReplyTo, d.Expiration, d.MessageId, d.Timestamp, d.Type, d.UserId, d.AppId)
}

func describeGet(d amqp.Delivery, ok bool, err error) string {
	if err != nil {
		return "error " + err.Error()
	}
	if !ok {
		return "get-empty"
	}
	return fmt.Sprintf("tag=%d redelivered=%t exchange=%s key=%s count=%d body=%s",
		d.DeliveryTag, d.Redelivered, d.Exchange, d.RoutingKey, d.MessageCount, d.Body)
}

func describeDelivery(d amqp.Delivery, ok bool) string {
	if !ok {
		return "none"
	}
	return fmt.Sprintf("tag=%d redelivered=%t exchange=%s key=%s consumer=%s body=%s",
		d.DeliveryTag, d.Redelivered, d.Exchange, d.RoutingKey, d.ConsumerTag, d.Body)
}

func next(inbox <-chan amqp.Delivery, wait time.Duration) (amqp.Delivery, bool) {
	select {
	case d, open := <-inbox:
		return d, open
	case <-time.After(wait):
		return amqp.Delivery{}, false
	}
}

func describeError(err error) string {
	if err == nil {
		return "no error"
	}
	if amqpErr, ok := err.(*amqp.Error); ok {
		return fmt.Sprintf("%d %s", amqpErr.Code, amqpErr.Reason)
	}
	return "unexpected " + err.Error()
}

type interopTest struct {
	conn     *amqp.Connection
	exchange string
	queue    string
}

func (t *interopTest) channel() *amqp.Channel {
	ch, err := t.conn.Channel()
	if err != nil {
		panic(err)
	}
	return ch
}

func (t *interopTest) counts(name string) string {
	ch := t.channel()
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(name, false, false, false, false, nil)
	if err != nil {
		return describeError(err)
	}
	return fmt.Sprintf("%s messages=%d consumers=%d", q.Name, q.Messages, q.Consumers)
}

func expectedCounts(name string, messages, consumers int) string {
	return fmt.Sprintf("%s messages=%d consumers=%d", name, messages, consumers)
}

// channelError runs action on a fresh channel and returns the channel close it provoked:
// synchronous methods return it; asynchronous ones (publish, ack) deliver it to NotifyClose.
func (t *interopTest) channelError(action func(ch *amqp.Channel) error) string {
	ch := t.channel()
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	if err := action(ch); err != nil {
		return describeError(err)
	}
	select {
	case err := <-closed:
		if err == nil {
			return "closed without an error"
		}
		return describeError(err)
	case <-time.After(deliveryWait):
		ch.Close()
		return "no error"
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func (t *interopTest) declareBindPublishGet(ch *amqp.Channel, confirms <-chan amqp.Confirmation, returns <-chan amqp.Return) {
	checkEqual(describeError(ch.ExchangeDeclare(t.exchange, "direct", false, false, false, false, nil)), "no error",
		"exchange.declare direct answers declare-ok")
	q, err := ch.QueueDeclare(t.queue, false, false, false, false, nil)
	checkEqual(fmt.Sprintf("%s %d %d %v", q.Name, q.Messages, q.Consumers, err), t.queue+" 0 0 <nil>",
		"queue.declare answers its name and counts 0/0")
	checkEqual(describeError(ch.QueueBind(t.queue, "key-a", t.exchange, false, nil)), "no error", "queue.bind answers bind-ok")

	must(ch.Publish(t.exchange, "key-a", false, false, fullPublishing(`{"n":1}`)))
	must(ch.Publish(t.exchange, "key-a", false, false, amqp.Publishing{Body: []byte("plain")}))
	must(ch.Publish(t.exchange, "no-such-key", true, false, amqp.Publishing{MessageId: "lost", Body: []byte("unroutable")}))
	var seen []string
	returnsBeforeThird := -1
	for i := 0; i < 3; i++ {
		select {
		case c := <-confirms:
			seen = append(seen, fmt.Sprintf("%d:%t", c.DeliveryTag, c.Ack))
			if c.DeliveryTag == 3 {
				// The library queues a return before it reads the next frame.
				returnsBeforeThird = len(returns)
			}
		case <-time.After(deliveryWait):
			seen = append(seen, "timeout")
		}
	}
	checkEqual(seen, []string{"1:true", "2:true", "3:true"}, "three publishes confirmed in order with basic.ack")
	checkEqual(returnsBeforeThird, 1, "the basic.return arrived before the confirm of the unroutable publish")
	select {
	case r := <-returns:
		checkEqual(fmt.Sprintf("%d %s %s %s %s %s", r.ReplyCode, r.ReplyText, r.Exchange, r.RoutingKey, r.Body, r.MessageId),
			"312 NO_ROUTE "+t.exchange+" no-such-key unroutable lost", "basic.return carries 312 NO_ROUTE and the whole message")
	default:
		check(false, "basic.return arrived")
	}
	checkEqual(t.counts(t.queue), expectedCounts(t.queue, 2, 0), "passive queue.declare counts 2 messages")

	first, ok, err := ch.Get(t.queue, false)
	checkEqual(describeGet(first, ok, err), fmt.Sprintf("tag=1 redelivered=false exchange=%s key=key-a count=1 body={\"n\":1}", t.exchange),
		"basic.get-ok")
	checkEqual(deliveryProperties(first), publishingProperties(fullPublishing("")),
		"every property and the headers table round-trip with their types")
	second, ok, err := ch.Get(t.queue, true)
	checkEqual(describeGet(second, ok, err), fmt.Sprintf("tag=2 redelivered=false exchange=%s key=key-a count=0 body=plain", t.exchange),
		"second basic.get-ok")
	checkEqual(deliveryProperties(second), publishingProperties(amqp.Publishing{}), "plain message has no properties")
	empty, ok, err := ch.Get(t.queue, false)
	checkEqual(describeGet(empty, ok, err), "get-empty", "basic.get on an empty queue gets get-empty")
	must(first.Ack(false))
}

func (t *interopTest) waitConfirms(confirms <-chan amqp.Confirmation, count int) []string {
	var seen []string
	for i := 0; i < count; i++ {
		select {
		case c := <-confirms:
			seen = append(seen, fmt.Sprintf("%d:%t", c.DeliveryTag, c.Ack))
		case <-time.After(deliveryWait):
			return append(seen, "timeout")
		}
	}
	return seen
}

// publishFromAnotherConnection publishes on a second connection and waits for the confirm.
func publishFromAnotherConnection(routingKey, body string) {
	conn, err := amqp.Dial(brokerURL())
	must(err)
	defer conn.Close()
	ch, err := conn.Channel()
	must(err)
	must(ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	must(ch.Publish("", routingKey, false, false, amqp.Publishing{Body: []byte(body)}))
	select {
	case c := <-confirms:
		checkEqual(c.Ack, true, "the publish on another connection is confirmed")
	case <-time.After(deliveryWait):
		check(false, "the publish on another connection is confirmed")
	}
}

func (t *interopTest) consumeAckNack(ch *amqp.Channel, confirms <-chan amqp.Confirmation) {
	for _, body := range []string{"m1", "m2", "m3"} {
		must(ch.Publish("", t.queue, false, false, amqp.Publishing{Body: []byte(body)}))
	}
	checkEqual(t.waitConfirms(confirms, 3), []string{"4:true", "5:true", "6:true"}, "publish sequence numbers go on at 4")
	// amqp091-go always names its consumers, so the server never generates a tag here.
	tag := unique("ctag")
	inbox, err := ch.Consume(t.queue, tag, false, false, false, false, nil)
	must(err)
	var seen []string
	for i := 0; i < 3; i++ {
		d, ok := next(inbox, deliveryWait)
		seen = append(seen, describeDelivery(d, ok))
	}
	var expected []string
	for i, body := range []string{"m1", "m2", "m3"} {
		expected = append(expected, fmt.Sprintf("tag=%d redelivered=false exchange= key=%s consumer=%s body=%s", i+3, t.queue, tag, body))
	}
	checkEqual(seen, expected, "three deliveries in order with tags 3, 4, 5 (the gets used 1 and 2)")
	must(ch.Nack(3, false, true))
	d, ok := next(inbox, deliveryWait)
	checkEqual(describeDelivery(d, ok), fmt.Sprintf("tag=6 redelivered=true exchange= key=%s consumer=%s body=m1", t.queue, tag),
		"nack with requeue redelivers m1 with redelivered=true")
	must(ch.Ack(5, true))
	must(ch.Recover(true))
	d, ok = next(inbox, deliveryWait)
	checkEqual(describeDelivery(d, ok), fmt.Sprintf("tag=7 redelivered=true exchange= key=%s consumer=%s body=m1", t.queue, tag),
		"basic.recover requeues the unacked m1 again")
	must(d.Ack(false))
	publishFromAnotherConnection(t.queue, "late")
	d, ok = next(inbox, deliveryWait)
	checkEqual(describeDelivery(d, ok), fmt.Sprintf("tag=8 redelivered=false exchange= key=%s consumer=%s body=late", t.queue, tag),
		"a message published on another connection while the consumer waits is delivered at once")
	must(d.Ack(false))
	checkEqual(describeError(ch.Cancel(tag, false)), "no error", "basic.cancel answers cancel-ok")
	d, ok = next(inbox, quiet)
	checkEqual(describeDelivery(d, ok), "none", "nothing more delivered after cancel")
	checkEqual(t.counts(t.queue), expectedCounts(t.queue, 0, 0), "queue empty and without consumers after the acks")
}

func bodies(deliveries ...amqp.Delivery) []string {
	var out []string
	for _, d := range deliveries {
		out = append(out, string(d.Body))
	}
	return out
}

func (t *interopTest) prefetch(ch *amqp.Channel, confirms <-chan amqp.Confirmation) {
	must(ch.Qos(2, 0, false))
	for i := 1; i <= 5; i++ {
		must(ch.Publish("", t.queue, false, false, amqp.Publishing{Body: []byte(fmt.Sprintf("p%d", i))}))
	}
	t.waitConfirms(confirms, 5)
	inbox, err := ch.Consume(t.queue, "", false, false, false, false, nil)
	must(err)
	p1, _ := next(inbox, deliveryWait)
	p2, _ := next(inbox, deliveryWait)
	checkEqual(bodies(p1, p2), []string{"p1", "p2"}, "prefetch 2: the first two arrive")
	extra, ok := next(inbox, quiet)
	checkEqual(describeDelivery(extra, ok), "none", "prefetch 2: the third waits for an ack")
	must(p1.Ack(false))
	p3, _ := next(inbox, deliveryWait)
	checkEqual(bodies(p3), []string{"p3"}, "one ack lets p3 through")
	extra, ok = next(inbox, quiet)
	checkEqual(describeDelivery(extra, ok), "none", "and only p3")
	must(p3.Ack(true))
	p4, _ := next(inbox, deliveryWait)
	p5, _ := next(inbox, deliveryWait)
	checkEqual(bodies(p4, p5), []string{"p4", "p5"}, "a multiple ack frees the window for p4, p5")
	must(p4.Reject(false))
	must(p5.Reject(true))
	back, _ := next(inbox, deliveryWait)
	checkEqual(fmt.Sprintf("%s redelivered=%t", back.Body, back.Redelivered), "p5 redelivered=true",
		"reject with requeue redelivers p5; reject without requeue drops p4")
	must(back.Ack(false))
	must(ch.Cancel(back.ConsumerTag, false))
	must(ch.Qos(0, 0, false))
	checkEqual(t.counts(t.queue), expectedCounts(t.queue, 0, 0), "queue empty after the prefetch run")
}

// highestTag: the two consumers' goroutines may hand deliveries over out of tag order.
func highestTag(deliveries []amqp.Delivery) uint64 {
	var highest uint64
	for _, d := range deliveries {
		if d.DeliveryTag > highest {
			highest = d.DeliveryTag
		}
	}
	return highest
}

// globalPrefetch: with global=true the window is shared by every consumer on the channel.
func (t *interopTest) globalPrefetch() {
	ch := t.channel()
	defer ch.Close()
	must(ch.Qos(3, 0, true))
	for i := 1; i <= 6; i++ {
		must(ch.Publish("", t.queue, false, false, amqp.Publishing{Body: []byte(fmt.Sprintf("g%d", i))}))
	}
	merged := make(chan amqp.Delivery, eventBufferSize)
	for i := 0; i < 2; i++ {
		inbox, err := ch.Consume(t.queue, "", false, false, false, false, nil)
		must(err)
		go func() {
			for d := range inbox {
				merged <- d
			}
		}()
	}
	var got []amqp.Delivery
	for {
		d, ok := next(merged, quiet)
		if !ok {
			break
		}
		got = append(got, d)
	}
	checkEqual(len(got), 3, "global prefetch 3 over two consumers: 3 deliveries in flight")
	must(ch.Ack(highestTag(got), true))
	for {
		d, ok := next(merged, quiet)
		if !ok {
			break
		}
		got = append(got, d)
	}
	checkEqual(len(got), 6, "after a multiple ack the other 3 arrive")
	must(ch.Ack(highestTag(got), true))
	checkEqual(t.counts(t.queue), expectedCounts(t.queue, 0, 2), "queue drained, both consumers still there")
}

// confirms: sequence numbers, deferred confirms and a batch. (amqp091-go 1.5.0 waits for a
// select-ok even with Confirm(noWait=true), so nowait cannot be tested with it.)
func (t *interopTest) confirms() {
	ch := t.channel()
	defer ch.Close()
	must(ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, eventBufferSize))
	checkEqual(ch.GetNextPublishSeqNo(), uint64(1), "a new confirm channel: sequence starts at 1")
	deferred, err := ch.PublishWithDeferredConfirm("", t.queue, false, false, amqp.Publishing{Body: []byte("c1")})
	must(err)
	checkEqual(deferred.DeliveryTag, uint64(1), "deferred confirm has tag 1")
	// Its ack is checked through NotifyPublish below, not deferred.Wait(): amqp091-go 1.5.0
	// registers a deferred confirmation only after sending the publish, and drops an ack
	// that arrives in between, so Wait() can block for ever on a fast broker (seen twice in
	// CI runs; channel.go PublishWithDeferredConfirm, confirms.go Confirm).
	for i := 0; i < confirmBatch; i++ {
		must(ch.Publish("", t.queue, false, false, amqp.Publishing{Body: []byte(fmt.Sprintf("c%d", i+2))}))
	}
	// The library splits multiple acks into one Confirmation per tag, in order.
	var expected []string
	for i := 1; i <= confirmBatch+1; i++ {
		expected = append(expected, fmt.Sprintf("%d:true", i))
	}
	checkEqual(t.waitConfirms(confirms, confirmBatch+1), expected, fmt.Sprintf("%d confirms, in order", confirmBatch+1))
	checkEqual(t.counts(t.queue), expectedCounts(t.queue, confirmBatch+1, 0), "every confirmed message is in the queue")
	purged, err := ch.QueuePurge(t.queue, false)
	checkEqual(fmt.Sprintf("%d %v", purged, err), fmt.Sprintf("%d <nil>", confirmBatch+1), "queue.purge answers the count")
}

func (t *interopTest) transactions() {
	tx := t.channel()
	must(tx.Tx())
	must(tx.Publish(t.exchange, "key-a", false, false, amqp.Publishing{Body: []byte("t1")}))
	checkEqual(t.counts(t.queue), expectedCounts(t.queue, 0, 0), "tx: publishes are held until commit")
	must(tx.TxCommit())
	checkEqual(t.counts(t.queue), expectedCounts(t.queue, 1, 0), "tx.commit delivers it")
	must(tx.Publish(t.exchange, "key-a", false, false, amqp.Publishing{Body: []byte("t2")}))
	must(tx.TxRollback())
	checkEqual(t.counts(t.queue), expectedCounts(t.queue, 1, 0), "tx.rollback drops the held publish")
	d, ok, err := tx.Get(t.queue, false)
	checkEqual(describeGet(d, ok, err), fmt.Sprintf("tag=1 redelivered=false exchange=%s key=key-a count=0 body=t1", t.exchange), "tx: get t1")
	must(d.Ack(false))
	must(tx.TxRollback())
	tx.Close()
	checkEqual(t.counts(t.queue), expectedCounts(t.queue, 1, 0), "a rolled-back ack leaves t1 unacked; channel close requeues it")
	reader := t.channel()
	d, ok, err = reader.Get(t.queue, true)
	checkEqual(describeGet(d, ok, err), fmt.Sprintf("tag=1 redelivered=true exchange=%s key=key-a count=0 body=t1", t.exchange),
		"t1 comes back redelivered")
	reader.Close()
	checkEqual(t.channelError(func(ch *amqp.Channel) error {
		must(ch.Tx())
		return ch.Confirm(false)
	}), "406 PRECONDITION_FAILED - cannot switch from tx to confirm mode", "confirm.select on a tx channel: 406")
	checkEqual(t.channelError(func(ch *amqp.Channel) error {
		must(ch.Confirm(false))
		return ch.Tx()
	}), "406 PRECONDITION_FAILED - cannot switch from confirm to tx mode", "tx.select on a confirm channel: 406")
	checkEqual(t.channelError(func(ch *amqp.Channel) error { return ch.TxCommit() }),
		"406 PRECONDITION_FAILED - channel is not transactional", "tx.commit without tx.select: 406")
}

func (t *interopTest) errors() {
	missing := unique("missing")
	checkEqual(t.channelError(func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclarePassive(missing, false, false, false, false, nil)
		return err
	}), "404 NOT_FOUND - no queue '"+missing+"' in vhost '/'", "passive declare of a missing queue: 404")
	checkEqual(t.channelError(func(ch *amqp.Channel) error {
		return ch.Publish(missing, "x", false, false, amqp.Publishing{Body: []byte("lost")})
	}), "404 NOT_FOUND - no exchange '"+missing+"' in vhost '/'", "publish to a missing exchange: 404")
	checkEqual(t.channelError(func(ch *amqp.Channel) error { return ch.Ack(7, false) }),
		"406 PRECONDITION_FAILED - unknown delivery tag 7", "ack of an unknown tag: 406")
	checkEqual(t.channelError(func(ch *amqp.Channel) error {
		return ch.ExchangeDeclare(t.exchange, "fanout", false, false, false, false, nil)
	}), "406 PRECONDITION_FAILED - inequivalent arg 'type' for exchange '"+t.exchange+
		"' in vhost '/': received 'fanout' but current is 'direct'", "redeclare as fanout: 406 inequivalent arg")
}

func (t *interopTest) cleanUp(ch *amqp.Channel) {
	checkEqual(describeError(ch.QueueUnbind(t.queue, "key-a", t.exchange, nil)), "no error", "queue.unbind answers unbind-ok")
	purged, err := ch.QueueDelete(t.queue, false, false, false)
	checkEqual(fmt.Sprintf("%d %v", purged, err), "0 <nil>", "queue.delete answers 0 messages")
	checkEqual(describeError(ch.ExchangeDelete(t.exchange, false, false)), "no error", "exchange.delete answers delete-ok")
	checkEqual(t.channelError(func(c *amqp.Channel) error {
		return c.ExchangeDeclarePassive(t.exchange, "direct", false, false, false, false, nil)
	}), "404 NOT_FOUND - no exchange '"+t.exchange+"' in vhost '/'", "the exchange is gone")
}

func (t *interopTest) run() {
	defer func() {
		spare := t.channel()
		spare.QueueDelete(t.queue, false, false, false)
		spare.ExchangeDelete(t.exchange, false, false)
		spare.Close()
	}()
	ch := t.channel()
	must(ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, eventBufferSize))
	returns := ch.NotifyReturn(make(chan amqp.Return, eventBufferSize))
	t.declareBindPublishGet(ch, confirms, returns)
	t.consumeAckNack(ch, confirms)
	t.prefetch(ch, confirms)
	t.globalPrefetch()
	t.confirms()
	t.transactions()
	t.errors()
	t.cleanUp(ch)
	t.extensions()
}

// ---- RabbitMQ's extensions, as RabbitMQ 3.10.8 shows them through amqp091-go's types.

// warren: the runner sets AMQP_EXPECT_PRODUCT=Warren against Warren; some checks differ.
var warren = os.Getenv("AMQP_EXPECT_PRODUCT") == "Warren"

const settle = 300 * time.Millisecond // time for a broker-side step (a dead-lettering, a queue commit)

// extensions: fresh queues and exchanges per section, deleted again at its end.
type extensions struct {
	t         *interopTest
	queues    []string
	exchanges []string
}

func (e *extensions) queue(what string, durable bool, args amqp.Table) string {
	name := unique(what)
	e.queues = append(e.queues, name)
	ch := e.t.channel()
	defer ch.Close()
	_, err := ch.QueueDeclare(name, durable, false, false, false, args)
	must(err)
	return name
}

func (e *extensions) exchange(what, kind string, args amqp.Table) string {
	name := unique(what)
	e.exchanges = append(e.exchanges, name)
	ch := e.t.channel()
	defer ch.Close()
	must(ch.ExchangeDeclare(name, kind, false, false, false, false, args))
	return name
}

func (e *extensions) bind(queue, key, exchange string) {
	ch := e.t.channel()
	defer ch.Close()
	must(ch.QueueBind(queue, key, exchange, false, nil))
}

func (e *extensions) cleanUp() {
	ch := e.t.channel()
	defer ch.Close()
	for _, name := range e.queues {
		if _, err := ch.QueueDelete(name, false, false, false); err != nil {
			check(false, "queue.delete "+name+": "+describeError(err))
			return
		}
	}
	for _, name := range e.exchanges {
		if err := ch.ExchangeDelete(name, false, false); err != nil {
			check(false, "exchange.delete "+name+": "+describeError(err))
			return
		}
	}
}

// publishConfirmed publishes on a fresh confirm channel and waits until every message is confirmed.
func (e *extensions) publishConfirmed(exchange, key string, messages ...amqp.Publishing) {
	ch := e.t.channel()
	defer ch.Close()
	must(ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, eventBufferSize))
	for _, m := range messages {
		must(ch.Publish(exchange, key, false, false, m))
	}
	var expected []string
	for i := range messages {
		expected = append(expected, fmt.Sprintf("%d:true", i+1))
	}
	if seen := e.t.waitConfirms(confirms, len(messages)); !reflect.DeepEqual(seen, expected) {
		check(false, fmt.Sprintf("publishes to %q/%q confirmed: expected %v, got %v", exchange, key, expected, seen))
	}
}

// getBodies drains queue with basic.get (auto-ack), in order.
func (e *extensions) getBodies(queue string) []string {
	ch := e.t.channel()
	defer ch.Close()
	var out []string
	for {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			return append(out, describeError(err))
		}
		if !ok {
			return out
		}
		out = append(out, string(d.Body))
	}
}

func (e *extensions) messageTTL() {
	queue := e.queue("ttl-queue", false, amqp.Table{"x-message-ttl": int32(200)})
	e.publishConfirmed("", queue, amqp.Publishing{Body: []byte("t1")}, amqp.Publishing{Body: []byte("t2")})
	time.Sleep(600 * time.Millisecond)
	ch := e.t.channel()
	d, ok, err := ch.Get(queue, true)
	checkEqual(describeGet(d, ok, err), "get-empty", "x-message-ttl 200: after 600 ms basic.get finds nothing")
	ch.Close()
	checkEqual(e.t.counts(queue), expectedCounts(queue, 0, 0), "x-message-ttl 200: passive queue.declare counts 0")

	plain := e.queue("expiration-queue", false, nil)
	e.publishConfirmed("", plain, amqp.Publishing{Expiration: "200", Body: []byte("short")},
		amqp.Publishing{Body: []byte("stays")})
	time.Sleep(600 * time.Millisecond)
	checkEqual(e.getBodies(plain), []string{"stays"},
		"expiration \"200\" on a queue without TTL: that message expires, the one without stays")

	checkEqual(e.t.channelError(func(ch *amqp.Channel) error {
		return ch.Publish("", plain, false, false, amqp.Publishing{Expiration: "abc", Body: []byte("bad")})
	}), "406 PRECONDITION_FAILED - invalid expiration 'abc': no_integer", "expiration \"abc\": the channel closes with 406")
	checkEqual(e.t.counts(plain), expectedCounts(plain, 0, 0), "the malformed message was not enqueued")
}

// stampless copies a header table, with each x-death entry's time replaced by its Go type,
// so the rest compares exactly.
func stampless(headers amqp.Table) amqp.Table {
	out := amqp.Table{}
	for key, value := range headers {
		out[key] = value
	}
	deaths, ok := headers["x-death"].([]interface{})
	if !ok {
		return out
	}
	var copied []interface{}
	for _, death := range deaths {
		table, ok := death.(amqp.Table)
		if !ok {
			copied = append(copied, death)
			continue
		}
		entry := amqp.Table{}
		for key, value := range table {
			entry[key] = value
		}
		if stamp, ok := table["time"].(time.Time); ok {
			entry["time"] = fmt.Sprintf("time.Time within a minute of now: %t",
				!stamp.IsZero() && time.Since(stamp) < time.Minute && time.Until(stamp) < time.Minute)
		} else if present := table["time"]; present != nil {
			entry["time"] = fmt.Sprintf("%T", present)
		}
		copied = append(copied, entry)
	}
	out["x-death"] = copied
	return out
}

// lastDeath: x-last-death-* are RabbitMQ 3.13's; 3.10 does not send them, Warren does.
func lastDeath(headers amqp.Table, queue, reason string) amqp.Table {
	if warren {
		headers["x-last-death-queue"] = queue
		headers["x-last-death-reason"] = reason
		headers["x-last-death-exchange"] = ""
	}
	return headers
}

func deathEntry(queue, reason string, extra amqp.Table) amqp.Table {
	entry := amqp.Table{
		"count":        int64(1),
		"reason":       reason,
		"queue":        queue,
		"time":         "time.Time within a minute of now: true",
		"exchange":     "",
		"routing-keys": []interface{}{queue},
	}
	for key, value := range extra {
		entry[key] = value
	}
	return entry
}

func (e *extensions) deadLettering() {
	dlx := e.exchange("dlx", "fanout", nil)
	dlq := e.queue("dlq", false, nil)
	e.bind(dlq, "", dlx)
	source := e.queue("dlx-source", false, amqp.Table{"x-dead-letter-exchange": dlx})
	e.publishConfirmed("", source, amqp.Publishing{Headers: amqp.Table{"h": int32(5)}, Expiration: "60000",
		Body: []byte("dead")})
	ch := e.t.channel()
	defer ch.Close()
	d, ok, err := ch.Get(source, false)
	if !check(err == nil && ok, "basic.get from the source queue: "+describeGet(d, ok, err)) {
		return
	}
	must(d.Reject(false))
	time.Sleep(settle)
	dead, ok, err := ch.Get(dlq, true)
	if !check(err == nil && ok, "the rejected message reaches the dead-letter queue: "+describeGet(dead, ok, err)) {
		return
	}
	checkEqual(fmt.Sprintf("exchange=%s key=%s expiration=%q body=%s", dead.Exchange, dead.RoutingKey, dead.Expiration, dead.Body),
		fmt.Sprintf("exchange=%s key=%s expiration=\"\" body=dead", dlx, source),
		"dead-lettered: exchange = the DLX, routing key = the source queue, no expiration property")
	expected := lastDeath(amqp.Table{
		"h":                      int32(5),
		"x-death":                []interface{}{deathEntry(source, "rejected", amqp.Table{"original-expiration": "60000"})},
		"x-first-death-queue":    source,
		"x-first-death-reason":   "rejected",
		"x-first-death-exchange": "",
	}, source, "rejected")
	checkEqual(typed(stampless(dead.Headers)), typed(expected),
		"headers: x-death an []interface{} of one amqp.Table (count int64, time time.Time, routing-keys []interface{}), x-first-death-*, h still int32")

	limited := e.queue("dlx-maxlen", false, amqp.Table{"x-max-length": int32(1), "x-dead-letter-exchange": dlx})
	e.publishConfirmed("", limited, amqp.Publishing{Body: []byte("first")}, amqp.Publishing{Body: []byte("second")})
	time.Sleep(settle)
	dropped, ok, err := ch.Get(dlq, true)
	if check(err == nil && ok, "x-max-length 1 (drop-head): the first message is dead-lettered: "+describeGet(dropped, ok, err)) {
		checkEqual(fmt.Sprintf("exchange=%s key=%s body=%s", dropped.Exchange, dropped.RoutingKey, dropped.Body),
			fmt.Sprintf("exchange=%s key=%s body=first", dlx, limited), "the head, routed by the DLX with its original key")
		checkEqual(typed(stampless(dropped.Headers)), typed(lastDeath(amqp.Table{
			"x-death":                []interface{}{deathEntry(limited, "maxlen", nil)},
			"x-first-death-queue":    limited,
			"x-first-death-reason":   "maxlen",
			"x-first-death-exchange": "",
		}, limited, "maxlen")), "its x-death says reason maxlen")
	}
	checkEqual(e.getBodies(limited), []string{"second"}, "the second message stays in the limited queue")
	checkEqual(e.getBodies(dlq), []string(nil), "nothing else was dead-lettered")
}

func (e *extensions) priorities() {
	queue := e.queue("priority", false, amqp.Table{"x-max-priority": int32(10)})
	var messages []amqp.Publishing
	for _, p := range []uint8{0, 5, 10, 255, 1} {
		// Priority 0 is "none": amqp091-go leaves the property out.
		messages = append(messages, amqp.Publishing{Priority: p, Body: []byte(fmt.Sprintf("p%d", p))})
	}
	e.publishConfirmed("", queue, messages...)
	ch := e.t.channel()
	defer ch.Close()
	var seen []string
	for {
		d, ok, err := ch.Get(queue, true)
		if err != nil || !ok {
			break
		}
		seen = append(seen, fmt.Sprintf("%s priority=%d", d.Body, d.Priority))
	}
	checkEqual(seen, []string{"p10 priority=10", "p255 priority=255", "p5 priority=5", "p1 priority=1", "p0 priority=0"},
		"x-max-priority 10: basic.get order 10, 255 (counts as 10, FIFO after it), 5, 1, none")
}

func (e *extensions) quorum() {
	queue := e.queue("quorum", true, amqp.Table{"x-queue-type": "quorum", "x-delivery-limit": int32(1)})
	e.publishConfirmed("", queue, amqp.Publishing{Body: []byte("q")})
	ch := e.t.channel()
	defer ch.Close()
	var seen []string
	for i := 0; i < 3; i++ {
		d, ok, err := ch.Get(queue, false)
		if err != nil || !ok {
			seen = append(seen, describeGet(d, ok, err))
			break
		}
		seen = append(seen, fmt.Sprintf("%s redelivered=%t headers=%s", d.Body, d.Redelivered, typed(d.Headers)))
		must(d.Nack(false, true))
		time.Sleep(50 * time.Millisecond)
	}
	checkEqual(seen, []string{"q redelivered=false headers=F{x-delivery-count=int64:0}",
		"q redelivered=true headers=F{x-delivery-count=int64:1}", "get-empty"},
		"quorum, x-delivery-limit 1: x-delivery-count int64 0, nack, 1, nack, then the queue is empty")
}

func (e *extensions) directReplyTo() {
	server := e.queue("rpc-server", false, nil)
	requester := e.t.channel()
	defer requester.Close()
	replies, err := requester.Consume("amq.rabbitmq.reply-to", "", true, false, false, false, nil)
	if !check(err == nil, "consume amq.rabbitmq.reply-to with no-ack: "+describeError(err)) {
		return
	}
	must(requester.Publish("", server, false, false, amqp.Publishing{ReplyTo: "amq.rabbitmq.reply-to",
		CorrelationId: "rpc-1", Body: []byte("request")}))

	conn, err := amqp.Dial(brokerURL())
	must(err)
	defer conn.Close()
	responder, err := conn.Channel()
	must(err)
	var request amqp.Delivery
	got := false
	for deadline := time.Now().Add(deliveryWait); !got && time.Now().Before(deadline); {
		request, got, err = responder.Get(server, true)
		must(err)
		if !got {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !check(got, "the server's connection gets the request") {
		return
	}
	check(strings.HasPrefix(request.ReplyTo, "amq.rabbitmq.reply-to.") && len(request.ReplyTo) > len("amq.rabbitmq.reply-to."),
		fmt.Sprintf("its ReplyTo is rewritten to amq.rabbitmq.reply-to.<opaque>: %q", request.ReplyTo))
	must(responder.Publish("", request.ReplyTo, false, false, amqp.Publishing{CorrelationId: request.CorrelationId,
		Body: []byte("reply")}))
	reply, ok := next(replies, deliveryWait)
	checkEqual(fmt.Sprintf("%s exchange=%q key=%q correlationId=%s", reply.Body, reply.Exchange, reply.RoutingKey, reply.CorrelationId),
		fmt.Sprintf("reply exchange=\"\" key=%q correlationId=rpc-1", request.ReplyTo),
		"the requester's no-ack consumer gets the reply")
	check(ok, "the reply arrived")

	checkEqual(e.t.channelError(func(ch *amqp.Channel) error {
		_, err := ch.Consume("amq.rabbitmq.reply-to", "", false, false, false, false, nil)
		return err
	}), "406 PRECONDITION_FAILED - reply consumer cannot acknowledge", "consuming amq.rabbitmq.reply-to with ack: 406")
}

// passiveExchange: a passive exchange.declare on a fresh channel, its error as text.
func (e *extensions) passiveExchange(name string) string {
	ch := e.t.channel()
	if err := ch.ExchangeDeclarePassive(name, "fanout", false, false, false, false, nil); err != nil {
		return describeError(err) // the broker closed the channel
	}
	ch.Close()
	return "exists"
}

func (e *extensions) exchangeBindings() {
	source := e.exchange("e2e-source", "fanout", nil)
	destination := e.exchange("e2e-destination", "direct", nil)
	queue := e.queue("e2e-queue", false, nil)
	e.bind(queue, "k", destination)
	ch := e.t.channel()
	defer ch.Close()
	checkEqual(describeError(ch.ExchangeBind(destination, "", source, false, nil)), "no error",
		"exchange.bind a fanout source to a direct destination answers bind-ok")
	e.publishConfirmed(source, "k", amqp.Publishing{Body: []byte("through")})
	checkEqual(e.getBodies(queue), []string{"through"}, "a message published to the source reaches the destination's queue")
	checkEqual(describeError(ch.ExchangeBind(source, "k", destination, false, nil)), "no error",
		"exchange.bind the destination back to the source (a loop) answers bind-ok")
	e.publishConfirmed(source, "k", amqp.Publishing{Body: []byte("loop-1")})
	e.publishConfirmed(destination, "k", amqp.Publishing{Body: []byte("loop-2")})
	checkEqual(e.getBodies(queue), []string{"loop-1", "loop-2"},
		"with the loop, a message published to either exchange reaches the queue once")
	checkEqual(describeError(ch.ExchangeUnbind(source, "k", destination, false, nil)), "no error",
		"exchange.unbind the loop answers unbind-ok")
	checkEqual(describeError(ch.ExchangeUnbind(destination, "", source, false, nil)), "no error",
		"exchange.unbind source from destination answers unbind-ok")
	e.publishConfirmed(source, "k", amqp.Publishing{Body: []byte("after-unbind")})
	checkEqual(e.getBodies(queue), []string(nil), "after exchange.unbind the source routes nothing to the queue")

	// auto-delete: not in e.exchanges, the broker deletes it.
	auto := unique("e2e-auto-delete")
	must(ch.ExchangeDeclare(auto, "fanout", false, true, false, false, nil))
	must(ch.ExchangeBind(destination, "", auto, false, nil))
	checkEqual(e.passiveExchange(auto), "exists", "an auto-delete source with a binding exists")
	checkEqual(describeError(ch.ExchangeUnbind(destination, "", auto, false, nil)), "no error",
		"exchange.unbind of the auto-delete source's only binding answers unbind-ok")
	checkEqual(e.passiveExchange(auto), "404 NOT_FOUND - no exchange '"+auto+"' in vhost '/'",
		"the auto-delete source left without bindings is gone: passive declare 404")
}

func (e *extensions) alternateExchange() {
	alternate := e.exchange("ae", "fanout", nil)
	caught := e.queue("ae-queue", false, nil)
	e.bind(caught, "", alternate)
	primary := e.exchange("ae-main", "direct", amqp.Table{"alternate-exchange": alternate})
	e.publishConfirmed(primary, "nowhere", amqp.Publishing{Body: []byte("unroutable")})
	checkEqual(e.getBodies(caught), []string{"unroutable"}, "alternate-exchange: an unroutable publish lands in the alternate's queue")

	ch := e.t.channel()
	defer ch.Close()
	must(ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, eventBufferSize))
	returns := ch.NotifyReturn(make(chan amqp.Return, eventBufferSize))
	must(ch.Publish(primary, "nowhere", true, false, amqp.Publishing{Body: []byte("mandatory")}))
	checkEqual(e.t.waitConfirms(confirms, 1), []string{"1:true"}, "a mandatory publish the alternate routes is confirmed")
	checkEqual(len(returns), 0, "and no basic.return arrived before its confirm")
	checkEqual(e.getBodies(caught), []string{"mandatory"}, "the mandatory message is in the alternate's queue")
}

func (e *extensions) ccBcc() {
	q1 := e.queue("cc-q1", false, nil)
	q2 := e.queue("cc-q2", false, nil)
	q3 := e.queue("cc-q3", false, nil)
	ch := e.t.channel()
	defer ch.Close()
	inbox, err := ch.Consume(q3, "", true, false, false, false, nil)
	must(err)
	e.publishConfirmed("", q1, amqp.Publishing{Headers: amqp.Table{"CC": []interface{}{q2}, "BCC": []interface{}{q3}},
		Body: []byte("copied")})
	var seen []string
	for _, queue := range []string{q1, q2} {
		d, ok, err := ch.Get(queue, true)
		if err != nil || !ok {
			seen = append(seen, describeGet(d, ok, err))
			continue
		}
		seen = append(seen, fmt.Sprintf("%s key=%s headers=%s", d.Body, d.RoutingKey, typed(d.Headers)))
	}
	d, ok := next(inbox, deliveryWait)
	if ok {
		seen = append(seen, fmt.Sprintf("%s key=%s headers=%s", d.Body, d.RoutingKey, typed(d.Headers)))
	} else {
		seen = append(seen, "none")
	}
	copied := fmt.Sprintf("copied key=%s headers=F{CC=A[string:%s]}", q1, q2)
	checkEqual(seen, []string{copied, copied, copied},
		"CC [q2], BCC [q3] to q1: all three queues get it, each with CC and without BCC (q3's consumer too)")
}

func (e *extensions) lengthLimits() {
	queue := e.queue("maxlen", false, amqp.Table{"x-max-length": int32(2)})
	e.publishConfirmed("", queue, amqp.Publishing{Body: []byte("m1")}, amqp.Publishing{Body: []byte("m2")},
		amqp.Publishing{Body: []byte("m3")})
	checkEqual(e.getBodies(queue), []string{"m2", "m3"}, "x-max-length 2 (drop-head): the newest two stay")

	rejecting := e.queue("maxlen-reject", false, amqp.Table{"x-max-length": int32(2), "x-overflow": "reject-publish"})
	ch := e.t.channel()
	defer ch.Close()
	must(ch.Confirm(false))
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, eventBufferSize))
	for _, body := range []string{"r1", "r2", "r3"} {
		must(ch.Publish("", rejecting, false, false, amqp.Publishing{Body: []byte(body)}))
	}
	checkEqual(e.t.waitConfirms(confirms, 3), []string{"1:true", "2:true", "3:false"},
		"x-overflow reject-publish: the third publish is nacked (Confirmation.Ack false)")
	checkEqual(e.getBodies(rejecting), []string{"r1", "r2"}, "the first two stay")
}

func (e *extensions) queueExpiry() {
	// Not in e.queues: the broker deletes it.
	queue := unique("expires")
	ch := e.t.channel()
	_, err := ch.QueueDeclare(queue, false, false, false, false, amqp.Table{"x-expires": int32(500)})
	must(err)
	ch.Close()
	checkEqual(e.t.counts(queue), expectedCounts(queue, 0, 0), "x-expires 500: the queue exists at once")
	time.Sleep(1500 * time.Millisecond)
	checkEqual(e.t.counts(queue), "404 NOT_FOUND - no queue '"+queue+"' in vhost '/'",
		"after 1.5 s unused: passive declare 404")
}

func (e *extensions) consumerPriorities() {
	queue := e.queue("consumer-priority", false, nil)
	var channels []*amqp.Channel
	consume := func(priority int32, ack bool) <-chan string {
		ch := e.t.channel() // no prefetch: a consumer with credit always, so the order is fixed
		inbox, err := ch.Consume(queue, "", false, false, false, false, amqp.Table{"x-priority": priority})
		must(err)
		out := make(chan string, eventBufferSize)
		go func() {
			for d := range inbox {
				out <- string(d.Body)
				if ack {
					d.Ack(false)
				}
			}
			close(out)
		}()
		channels = append(channels, ch)
		return out
	}
	high := consume(10, true)
	low := consume(1, false)
	e.publishConfirmed("", queue, amqp.Publishing{Body: []byte("c1")}, amqp.Publishing{Body: []byte("c2")},
		amqp.Publishing{Body: []byte("c3")}, amqp.Publishing{Body: []byte("c4")}, amqp.Publishing{Body: []byte("c5")})
	collect := func(inbox <-chan string) []string {
		var out []string
		for {
			select {
			case body := <-inbox:
				out = append(out, body)
			case <-time.After(quiet):
				return out
			}
		}
	}
	time.Sleep(settle)
	checkEqual([][]string{collect(high), collect(low)}, [][]string{{"c1", "c2", "c3", "c4", "c5"}, nil},
		"no prefetch, x-priority 10 and 1: while the higher one can take messages the lower gets none")
	for _, ch := range channels {
		ch.Close()
	}
}

func (e *extensions) singleActiveConsumer() {
	queue := e.queue("sac", false, amqp.Table{"x-single-active-consumer": true})
	first := e.t.channel()
	second := e.t.channel()
	defer second.Close()
	firstInbox, err := first.Consume(queue, "first", false, false, false, false, nil)
	must(err)
	secondInbox, err := second.Consume(queue, "second", false, false, false, false, nil)
	must(err)
	e.publishConfirmed("", queue, amqp.Publishing{Body: []byte("s1")}, amqp.Publishing{Body: []byte("s2")},
		amqp.Publishing{Body: []byte("s3")})
	var got []string
	for i := 0; i < 3; i++ {
		d, ok := next(firstInbox, deliveryWait)
		if !ok {
			break
		}
		got = append(got, string(d.Body))
		must(d.Ack(false))
	}
	checkEqual(got, []string{"s1", "s2", "s3"}, "x-single-active-consumer: the first consumer gets every message")
	d, ok := next(secondInbox, quiet)
	checkEqual(describeDelivery(d, ok), "none", "the second consumer gets none")
	must(first.Cancel("first", false))
	first.Close()
	e.publishConfirmed("", queue, amqp.Publishing{Body: []byte("s4")}, amqp.Publishing{Body: []byte("s5")})
	got = nil
	for i := 0; i < 2; i++ {
		d, ok := next(secondInbox, deliveryWait)
		if !ok {
			break
		}
		got = append(got, string(d.Body))
		must(d.Ack(false))
	}
	checkEqual(got, []string{"s4", "s5"}, "after the first cancels, the second gets the rest")
}

// consumerTimeout: Warren only (RabbitMQ 3.10 ignores x-consumer-timeout).
func (e *extensions) consumerTimeout() {
	queue := e.queue("consumer-timeout", false, amqp.Table{"x-consumer-timeout": int32(1000)})
	e.publishConfirmed("", queue, amqp.Publishing{Body: []byte("never-acked")})
	// A connection of its own, so the consumer's channel number is known: amqp091-go numbers from 1.
	conn, err := amqp.Dial(brokerURL())
	must(err)
	defer conn.Close()
	spare, err := conn.Channel()
	must(err)
	defer spare.Close()
	ch, err := conn.Channel()
	must(err)
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	inbox, err := ch.Consume(queue, "", false, false, false, false, nil)
	must(err)
	d, ok := next(inbox, deliveryWait)
	checkEqual(describeDelivery(d, ok) != "none", true, "the manual-ack consumer gets the message")
	start := time.Now()
	var reason string
	select {
	case err := <-closed:
		reason = describeError(err)
	case <-time.After(5 * time.Second):
		reason = "not closed within 5 s"
	}
	checkEqual(reason, "406 PRECONDITION_FAILED - delivery acknowledgement on channel 2 timed out. Timeout value used: 1000 ms. "+
		"This timeout value can be configured, see consumers doc guide to learn more",
		"x-consumer-timeout 1000, never acked: channel 2 closed with 406")
	elapsed := time.Since(start)
	check(elapsed >= 900*time.Millisecond, fmt.Sprintf("not before the timeout: %d ms after the delivery", elapsed.Milliseconds()))
	time.Sleep(settle)
	checkEqual(e.t.counts(queue), expectedCounts(queue, 1, 0), "the unacked message is back in the queue, no consumer left")
}

// delayed: Warren only (the RabbitMQ under test lacks rabbitmq_delayed_message_exchange).
func (e *extensions) delayed() {
	exchange := e.exchange("delayed", "x-delayed-message", amqp.Table{"x-delayed-type": "direct"})
	queue := e.queue("delayed-queue", false, nil)
	e.bind(queue, "k", exchange)
	ch := e.t.channel()
	defer ch.Close()
	inbox, err := ch.Consume(queue, "", true, false, false, false, nil)
	must(err)
	start := time.Now()
	must(ch.Publish(exchange, "k", false, false, amqp.Publishing{Headers: amqp.Table{"x-delay": int32(500)},
		Body: []byte("delayed")}))
	must(ch.Publish(exchange, "k", false, false, amqp.Publishing{Body: []byte("immediate")}))
	first, _ := next(inbox, deliveryWait)
	second, ok := next(inbox, deliveryWait)
	elapsed := time.Since(start)
	checkEqual(bodies(first, second), []string{"immediate", "delayed"},
		"x-delayed-message (direct): the message without x-delay, published second, arrives first")
	check(ok && elapsed >= 450*time.Millisecond, fmt.Sprintf("x-delay int32 500: arrives no earlier than 450 ms (after %d ms)",
		elapsed.Milliseconds()))
}

func capabilities(conn *amqp.Connection) {
	expected := amqp.Table{}
	for _, name := range []string{"publisher_confirms", "exchange_exchange_bindings", "basic.nack", "consumer_cancel_notify",
		"connection.blocked", "consumer_priorities", "authentication_failure_close", "per_consumer_qos", "direct_reply_to"} {
		expected[name] = true
	}
	checkEqual(typed(conn.Properties["capabilities"]), typed(expected), "server-properties capabilities, all true")
}

func (t *interopTest) extensions() {
	sections := []func(e *extensions){(*extensions).messageTTL, (*extensions).deadLettering, (*extensions).priorities,
		(*extensions).quorum, (*extensions).directReplyTo, (*extensions).exchangeBindings, (*extensions).alternateExchange,
		(*extensions).ccBcc, (*extensions).lengthLimits, (*extensions).queueExpiry, (*extensions).consumerPriorities,
		(*extensions).singleActiveConsumer}
	if warren {
		sections = append(sections, (*extensions).delayed, (*extensions).consumerTimeout)
	}
	for _, section := range sections {
		e := &extensions{t: t}
		section(e)
		e.cleanUp()
	}
	capabilities(t.conn)
}

func brokerURL() string {
	host := os.Getenv("AMQP_HOST")
	if host == "" {
		host = "127.0.0.1"
	}
	port := os.Getenv("AMQP_PORT")
	if port == "" {
		port = "5672"
	}
	return fmt.Sprintf("amqp://guest:guest@%s:%s/", host, port)
}

func main() {
	go func() {
		time.Sleep(testTime)
		check(false, fmt.Sprintf("finished within %s", testTime))
		os.Exit(1)
	}()
	conn, err := amqp.Dial(brokerURL())
	if err != nil {
		check(false, "connect: "+err.Error())
		os.Exit(1)
	}
	func() {
		defer func() {
			if recovered := recover(); recovered != nil {
				check(false, fmt.Sprintf("no unexpected error: %v", recovered))
			}
		}()
		t := &interopTest{conn: conn, exchange: unique("exchange"), queue: unique("queue")}
		t.run()
	}()
	conn.Close()
	if failures > 0 {
		os.Exit(1)
	}
}
