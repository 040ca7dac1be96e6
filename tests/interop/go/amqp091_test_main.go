// Interop test: amqp091-go declares, publishes with confirms, gets, consumes, acks, nacks, uses transactions and hits channel errors.
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
	testTime        = 20 * time.Second
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
	waited := make(chan bool, 1)
	go func() { waited <- deferred.Wait() }()
	select {
	case acked := <-waited:
		checkEqual(acked, true, "deferred confirm acked")
	case <-time.After(deliveryWait):
		check(false, "deferred confirm arrived")
	}
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
