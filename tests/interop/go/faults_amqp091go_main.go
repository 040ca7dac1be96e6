// Interop test: fault injection (/api/warren/faults) as amqp091-go sees each fault, through its own error and notification paths.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

const wait = 5 * time.Second

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

func env(name, dflt string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return dflt
}

var (
	host    = env("AMQP_HOST", "127.0.0.1")
	amqpURL = fmt.Sprintf("amqp://guest:guest@%s:%s/", host, env("AMQP_PORT", "5672"))
	apiURL  = fmt.Sprintf("http://%s:%s/api/warren/faults", host, env("MANAGEMENT_PORT", "15672"))
)

// inject POSTs a fault for the connection named (its API name or connection_name).
func inject(name string, fault map[string]interface{}) int {
	return post(apiURL+"/connections/"+url.PathEscape(name), fault)
}

func post(target string, body interface{}) int {
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", target, bytes.NewReader(data))
	req.SetBasicAuth("guest", "guest")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

func dial(name string, heartbeat time.Duration) *amqp.Connection {
	conn, err := amqp.DialConfig(amqpURL, amqp.Config{
		Heartbeat:  heartbeat,
		Properties: amqp.Table{"connection_name": name, "product": "amqp091-go faults test"},
	})
	if err != nil {
		fmt.Printf("FAIL: dial %s: %v\n", name, err)
		os.Exit(1)
	}
	return conn
}

func closeError(c chan *amqp.Error) *amqp.Error {
	select {
	case e := <-c:
		return e
	case <-time.After(wait):
		return nil
	}
}

// stillWorks: a connection the faults were not aimed at declares, publishes and gets.
func stillWorks(conn *amqp.Connection, what string) {
	ch, err := conn.Channel()
	if !check(err == nil, what+": the other connection opens a channel") {
		return
	}
	defer ch.Close()
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err == nil {
		err = ch.Publish("", q.Name, false, false, amqp.Publishing{Body: []byte("ok")})
	}
	var got amqp.Delivery
	ok := false
	for i := 0; err == nil && i < 50 && !ok; i++ {
		got, ok, err = ch.Get(q.Name, true)
		if !ok {
			time.Sleep(20 * time.Millisecond)
		}
	}
	check(err == nil && ok && string(got.Body) == "ok", fmt.Sprintf("%s: the other connection is unaffected (%v)", what, err))
}

func testClose(other *amqp.Connection) {
	conn := dial("go-close", 0)
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	status := inject("go-close", map[string]interface{}{"fault": "close", "code": 320, "text": "CONNECTION_FORCED - go test"})
	e := closeError(closed)
	check(status == 200 && e != nil && e.Code == 320 && e.Reason == "CONNECTION_FORCED - go test" && e.Server,
		fmt.Sprintf("close: NotifyClose gets *amqp.Error 320 from the server: %+v", e))
	check(conn.IsClosed(), "close: the connection reports itself closed")
	// the application's recovery: dial again
	again := dial("go-close-again", 0)
	stillWorks(again, "close then redial")
	again.Close()
	stillWorks(other, "close")
}

func testBlock(other *amqp.Connection) {
	conn := dial("go-block", 0)
	defer conn.Close()
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 4))
	inject("go-block", map[string]interface{}{"fault": "block", "reason": "go says wait"})
	var b amqp.Blocking
	select {
	case b = <-blocked:
	case <-time.After(wait):
	}
	check(b.Active && b.Reason == "go says wait", fmt.Sprintf("block: NotifyBlocked gets Active with the reason: %+v", b))
	inject("go-block", map[string]interface{}{"fault": "unblock"})
	b = amqp.Blocking{Active: true}
	select {
	case b = <-blocked:
	case <-time.After(wait):
	}
	check(!b.Active, fmt.Sprintf("unblock: NotifyBlocked gets inactive: %+v", b))
	stillWorks(other, "block")
}

func testCut(other *amqp.Connection) {
	conn := dial("go-cut", 0)
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	inject("go-cut", map[string]interface{}{"fault": "cut"})
	e := closeError(closed)
	check(e != nil && e.Code == amqp.FrameError && e.Reason == "EOF" && !e.Server,
		fmt.Sprintf("cut: NotifyClose gets the client's own frame error, EOF: %+v", e))

	conn = dial("go-cut-after", 0)
	closed = conn.NotifyClose(make(chan *amqp.Error, 1))
	ch, _ := conn.Channel()
	// 13 bytes of the declare-ok: its frame header, class and method, the name's length and
	// one byte of the name
	inject("go-cut-after", map[string]interface{}{"fault": "cut", "after_bytes": 13})
	_, err := ch.QueueDeclare("", false, true, true, false, nil)
	e = closeError(closed)
	check(err != nil && e != nil && e.Code == amqp.FrameError && e.Reason == "unexpected EOF",
		fmt.Sprintf("cut after 13 bytes: the declare fails (%v) and the truncated frame is an unexpected EOF: %+v", err, e))
	again := dial("go-cut-again", 0)
	stillWorks(again, "cut then redial")
	again.Close()
	stillWorks(other, "cut")
}

func testNack(other *amqp.Connection) {
	conn := dial("go-nack", 0)
	defer conn.Close()
	ch, _ := conn.Channel()
	ch.Confirm(false)
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 8))
	q, _ := ch.QueueDeclare("", false, true, true, false, nil)
	inject("go-nack", map[string]interface{}{"fault": "nack", "count": 2})
	var acks []bool
	for i := 0; i < 3; i++ {
		ch.Publish("", q.Name, false, false, amqp.Publishing{Body: []byte(fmt.Sprint(i))})
		select {
		case c := <-confirms:
			acks = append(acks, c.Ack)
		case <-time.After(wait):
		}
	}
	check(fmt.Sprint(acks) == "[false false true]", fmt.Sprintf("nack 2: NotifyPublish gets Ack=false twice, then true: %v", acks))
	// the application's recovery: publish the nacked ones again
	for i := 0; i < 2; i++ {
		ch.Publish("", q.Name, false, false, amqp.Publishing{Body: []byte("again")})
		select {
		case c := <-confirms:
			acks = append(acks, c.Ack)
		case <-time.After(wait):
		}
	}
	declared, _ := ch.QueueDeclarePassive(q.Name, false, true, true, false, nil)
	check(fmt.Sprint(acks[3:]) == "[true true]" && declared.Messages == 3,
		fmt.Sprintf("nack: republished, acked, and only the acked ones were routed (%d messages)", declared.Messages))
	stillWorks(other, "nack")
}

func testChannelFaults(other *amqp.Connection) {
	conn := dial("go-channel", 0)
	defer conn.Close()
	ch, _ := conn.Channel()
	chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	inject("go-channel", map[string]interface{}{"fault": "close_channel", "channel": 1, "code": 406, "text": "PRECONDITION_FAILED - go channel"})
	e := closeError(chClosed)
	check(e != nil && e.Code == 406 && e.Reason == "PRECONDITION_FAILED - go channel" && e.Recover,
		fmt.Sprintf("close_channel: the channel's NotifyClose gets a recoverable 406: %+v", e))
	ch, _ = conn.Channel()
	inject("go-channel", map[string]interface{}{"fault": "fail_next", "method": "queue.declare", "code": 404, "text": "NOT_FOUND - go declare"})
	_, err := ch.QueueDeclare("", false, true, true, false, nil)
	var ae *amqp.Error
	check(errors.As(err, &ae) && ae.Code == 404 && ae.Reason == "NOT_FOUND - go declare",
		fmt.Sprintf("fail_next queue.declare: QueueDeclare returns the 404: %v", err))
	ch, _ = conn.Channel()
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	check(err == nil, "fail_next: only the next declare failed")
	inject("go-channel", map[string]interface{}{"fault": "fail_next", "method": "basic.consume", "code": 403, "text": "ACCESS_REFUSED - go consume"})
	_, err = ch.Consume(q.Name, "", true, false, false, false, nil)
	check(errors.As(err, &ae) && ae.Code == 403 && ae.Reason == "ACCESS_REFUSED - go consume",
		fmt.Sprintf("fail_next basic.consume: Consume returns the 403: %v", err))
	stillWorks(other, "channel faults")
}

func testHeartbeat(other *amqp.Connection) {
	conn := dial("go-quiet", time.Second)
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	// amqp091-go arms its read deadline on each frame it reads: let a server heartbeat or two
	// arrive first, as on any connection that has lived a little
	time.Sleep(1500 * time.Millisecond)
	start := time.Now()
	inject("go-quiet", map[string]interface{}{"fault": "stop_heartbeats"})
	e := closeError(closed)
	check(e != nil && e.Code == amqp.FrameError && strings.Contains(e.Reason, "i/o timeout"),
		fmt.Sprintf("stop_heartbeats: amqp091-go's read deadline fires after %.1f s: %+v", time.Since(start).Seconds(), e))
	stillWorks(other, "stop_heartbeats")
}

func testAlarm(other *amqp.Connection) {
	conn := dial("go-alarm", 0)
	defer conn.Close()
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 4))
	ch, _ := conn.Channel()
	q, _ := ch.QueueDeclare("", false, true, true, false, nil)
	for _, alarm := range []string{"memory", "disk"} {
		post(apiURL+"/alarms", map[string]interface{}{"alarm": alarm, "set": true})
		ch.Publish("", q.Name, false, false, amqp.Publishing{Body: []byte("held")})
		var b amqp.Blocking
		select {
		case b = <-blocked:
		case <-time.After(wait):
		}
		check(b.Active && b.Reason == "low on "+alarm,
			fmt.Sprintf("%s alarm: NotifyBlocked gets Active, low on %s: %+v", alarm, alarm, b))
		post(apiURL+"/alarms", map[string]interface{}{"alarm": alarm, "set": false})
		b = amqp.Blocking{Active: true}
		select {
		case b = <-blocked:
		case <-time.After(wait):
		}
		check(!b.Active, fmt.Sprintf("%s alarm cleared: NotifyBlocked gets inactive: %+v", alarm, b))
	}
	declared, err := ch.QueueDeclarePassive(q.Name, false, true, true, false, nil)
	check(err == nil && declared.Messages == 2, fmt.Sprintf("alarms cleared: both held publishes arrived (%d)", declared.Messages))
	stillWorks(other, "alarms")
}

func testDelay(other *amqp.Connection) {
	conn := dial("go-delay", 0)
	defer conn.Close()
	ch, _ := conn.Channel()
	inject("go-delay", map[string]interface{}{"fault": "delay", "ms": 300})
	start := time.Now()
	_, err := ch.QueueDeclare("", false, true, true, false, nil)
	took := time.Since(start)
	check(err == nil && took >= 300*time.Millisecond, fmt.Sprintf("delay 300 ms: a declare took %v", took))
	start = time.Now()
	stillWorks(other, "delay")
	check(time.Since(start) < 300*time.Millisecond, "delay: the other connection is not delayed")
	inject("go-delay", map[string]interface{}{"fault": "delay", "ms": 0})
	start = time.Now()
	_, err = ch.QueueDeclare("", false, true, true, false, nil)
	check(err == nil && time.Since(start) < 300*time.Millisecond, "delay 0: at once again")
}

func main() {
	other := dial("go-bystander", 0)
	testClose(other)
	testBlock(other)
	testCut(other)
	testNack(other)
	testChannelFaults(other)
	testAlarm(other)
	testDelay(other)
	testHeartbeat(other)
	stillWorks(other, "the end")
	other.Close()
	if failures > 0 {
		os.Exit(1)
	}
}
