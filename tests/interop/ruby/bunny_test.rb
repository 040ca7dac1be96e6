# Interop test: Bunny (ruby-bunny) declares, publishes with confirms, gets, consumes, acks, nacks, uses transactions and hits channel errors.
# frozen_string_literal: true

require "bunny"
require "logger"
require "securerandom"
require "timeout"

HOST = ENV.fetch("AMQP_HOST", "127.0.0.1")
PORT = Integer(ENV.fetch("AMQP_PORT", "5672"))
TEST_SECONDS = 20
DELIVERY_WAIT = 3.0
# How long to watch for a delivery that the prefetch window must hold back.
QUIET = 0.3

$failures = 0

def check(ok, text)
  puts "#{ok ? 'PASS' : 'FAIL'}: #{text}"
  $stdout.flush
  $failures += 1 unless ok
  ok
end

def check_equal(got, expected, text)
  ok = got == expected
  check(ok, ok ? "#{text}: #{expected.inspect}" : "#{text}: expected #{expected.inspect}, got #{got.inspect}")
end

def unique(what)
  "bunny-#{what}-#{SecureRandom.uuid}"
end

# A field value with its Ruby type, so a value that changed type in transit shows.
# amq-protocol decodes longstr without an encoding; the test sends UTF-8.
def typed(value)
  case value
  when String then "S:" + value.dup.force_encoding(Encoding::UTF_8)
  when Integer then "int:#{value}"
  when AMQ::Protocol::Float32Bit then "float:#{value.value}"
  when Float then "float:#{value}"
  when true, false then "t:#{value}"
  when Time then "T:#{value.to_i}"
  when nil then "V"
  when Array then "A[" + value.map { |item| typed(item) }.join(", ") + "]"
  when Hash then "F{" + value.keys.map(&:to_s).sort.map { |k| "#{k}=#{typed(value.key?(k) ? value[k] : value[k.to_sym])}" }.join(", ") + "}"
  else "?#{value.class}:#{value.inspect}"
  end
end

# The headers table: every field type Bunny can send, nested tables and arrays
# (amq-protocol encodes every Integer as a signed 64-bit 'l').
HEADERS = {
  "string" => "text with ünïcode",
  "empty" => "",
  "long" => -1_099_511_627_776,
  "small" => 7,
  "float" => AMQ::Protocol::Float32Bit.new(1.5),
  "double" => 2.25,
  "true" => true,
  "false" => false,
  "timestamp" => Time.at(1_700_000_000),
  "void" => nil,
  "array" => ["one", 2, true, nil, 3.5, ["nested", "array"], { "in" => "table" }],
  "empty_array" => [],
  "table" => { "level" => 1, "inner" => { "level" => 2, "list" => [1, "two", { "level" => 3 }] } },
  "empty_table" => {},
}.freeze

FULL_PROPERTIES = {
  content_type: "application/json",
  content_encoding: "identity",
  headers: HEADERS,
  delivery_mode: 2,
  priority: 7,
  correlation_id: "correlation-1",
  reply_to: "reply-queue",
  expiration: "60000",
  message_id: "message-1",
  timestamp: 1_700_000_001,
  type: "interop.test",
  user_id: "guest",
  app_id: "bunny-test",
}.freeze

# Bunny sends the timestamp property as an Integer and decodes it as a Time.
FULL_PROPERTIES_DECODED = FULL_PROPERTIES.merge(timestamp: Time.at(1_700_000_001)).freeze

# Bunny's basic_publish fills these in when the caller gives none.
PLAIN_PROPERTIES_DECODED = { content_type: "application/octet-stream", delivery_mode: 2, priority: 0 }.freeze

PROPERTY_NAMES = %i[content_type content_encoding headers delivery_mode priority correlation_id reply_to
                    expiration message_id timestamp type user_id app_id cluster_id].freeze

# Every basic property, typed, in a stable order.
def describe_properties(properties)
  return nil if properties.nil?

  PROPERTY_NAMES.map do |name|
    value = properties.is_a?(Hash) ? properties[name] : properties.send(name)
    "#{name}=#{name == :headers && !value.nil? ? typed(value) : value.inspect}"
  end.join(" ")
end

def describe_get(get_ok, content)
  return nil if get_ok.nil?

  "tag=#{get_ok.delivery_tag.to_i} redelivered=#{get_ok.redelivered} exchange=#{get_ok.exchange} " \
    "key=#{get_ok.routing_key} count=#{get_ok.message_count} body=#{content}"
end

def describe_delivery(delivery)
  return nil if delivery.nil?

  info, _properties, body = delivery
  "tag=#{info.delivery_tag.to_i} redelivered=#{info.redelivered?} exchange=#{info.exchange} " \
    "key=#{info.routing_key} body=#{body}"
end

# Deliveries of one consumer, taken one at a time with a time limit
# (Ruby 3.1's Queue#pop has no timeout).
class Inbox
  def initialize
    @messages = []
    @lock = Mutex.new
    @arrived = ConditionVariable.new
  end

  def push(delivery)
    @lock.synchronize do
      @messages << delivery
      @arrived.signal
    end
  end

  def next(wait = DELIVERY_WAIT)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + wait
    @lock.synchronize do
      while @messages.empty?
        left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
        return nil if left <= 0

        @arrived.wait(@lock, left)
      end
      @messages.shift
    end
  end
end

class InteropTest
  def initialize(connection)
    @connection = connection
    @exchange = unique("exchange")
    @queue = unique("queue")
  end

  def counts(name)
    channel = @connection.create_channel
    ok = channel.queue_declare(name, passive: true)
    channel.close
    "#{ok.queue} messages=#{ok.message_count} consumers=#{ok.consumer_count}"
  end

  def expected_counts(name, messages, consumers)
    "#{name} messages=#{messages} consumers=#{consumers}"
  end

  # The reply code and text of the channel close that the block provoked. Synchronous
  # methods raise it; Bunny reports a close after basic.ack/nack/reject to on_error and
  # keeps one after a publish for the channel's next call.
  def channel_error
    channel = @connection.create_channel
    reported = nil
    channel.on_error { |_channel, close| reported = close }
    yield channel
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + DELIVERY_WAIT
    sleep 0.01 until reported || channel.closed? || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
    return describe_close(reported) if reported
    return "no error" unless channel.closed?

    channel.send(:raise_if_continuation_resulted_in_a_channel_error!)
    "closed without an error"
  rescue Bunny::ChannelLevelException => e
    describe_close(e.channel_close)
  end

  def describe_close(close)
    "#{close.reply_code} #{close.reply_text} (class #{close.class_id}, method #{close.method_id})"
  end

  def declare_bind_publish_get(channel)
    ok = channel.exchange_declare(@exchange, "direct", durable: false, auto_delete: false)
    check_equal(ok.class, AMQ::Protocol::Exchange::DeclareOk, "exchange.declare direct answers declare-ok")
    exchange = channel.direct(@exchange, durable: false, auto_delete: false)
    ok = channel.queue_declare(@queue, durable: false, exclusive: false, auto_delete: false)
    check_equal([ok.queue, ok.message_count, ok.consumer_count], [@queue, 0, 0], "queue.declare answers its name and counts 0/0")
    check_equal(channel.queue_bind(@queue, @exchange, routing_key: "key-a").class, AMQ::Protocol::Queue::BindOk,
                "queue.bind answers bind-ok")

    returns = []
    exchange.on_return { |info, properties, body| returns << [info.reply_code, info.reply_text, info.exchange, info.routing_key, body, properties.message_id] }
    exchange.publish('{"n":1}', FULL_PROPERTIES.merge(routing_key: "key-a"))
    exchange.publish("plain", routing_key: "key-a")
    exchange.publish("unroutable", routing_key: "no-such-key", mandatory: true, message_id: "lost")
    check_equal(channel.wait_for_confirms, true, "three publishes confirmed with basic.ack")
    check_equal(@returns_before_third_confirm, 1, "the basic.return arrived before the confirm of the unroutable publish")
    check_equal(returns, [[312, "NO_ROUTE", @exchange, "no-such-key", "unroutable", "lost"]],
                "basic.return carries 312 NO_ROUTE and the whole message")
    check_equal(counts(@queue), expected_counts(@queue, 2, 0), "passive queue.declare counts 2 messages")

    get_ok, properties, body = channel.basic_get(@queue, manual_ack: true)
    check_equal(describe_get(get_ok, body), "tag=1 redelivered=false exchange=#{@exchange} key=key-a count=1 body={\"n\":1}", "basic.get-ok")
    check_equal(describe_properties(properties), describe_properties(FULL_PROPERTIES_DECODED),
                "every property and the headers table round-trip")
    get_ok, properties, body = channel.basic_get(@queue, manual_ack: false)
    check_equal(describe_get(get_ok, body), "tag=2 redelivered=false exchange=#{@exchange} key=key-a count=0 body=plain",
                "second basic.get-ok")
    check_equal(describe_properties(properties), describe_properties(PLAIN_PROPERTIES_DECODED),
                "a message published without options carries Bunny's defaults")
    check_equal(channel.basic_get(@queue, manual_ack: true), [nil, nil, nil], "basic.get on an empty queue gets get-empty")
    channel.ack(1)
  end

  # A publish from a second connection, confirmed before it returns.
  def publish_from_another_connection(routing_key, body)
    other = connect
    channel = other.create_channel
    channel.confirm_select
    channel.default_exchange.publish(body, routing_key: routing_key)
    check_equal(channel.wait_for_confirms, true, "the publish on another connection is confirmed")
  ensure
    other&.close
  end

  def consume_ack_nack(channel, queue)
    %w[m1 m2 m3].each { |body| channel.default_exchange.publish(body, routing_key: @queue) }
    channel.wait_for_confirms
    inbox = Inbox.new
    tag = unique("ctag")
    consumer = queue.subscribe(manual_ack: true, consumer_tag: tag) { |*delivery| inbox.push(delivery) }
    check_equal(consumer.consumer_tag, tag, "basic.consume-ok echoes the client's tag")
    seen = Array.new(3) { describe_delivery(inbox.next) }
    check_equal(seen, %w[m1 m2 m3].each_with_index.map { |body, i| "tag=#{i + 3} redelivered=false exchange= key=#{@queue} body=#{body}" },
                "three deliveries in order with tags 3, 4, 5 (the gets used 1 and 2)")
    channel.nack(3, false, true)
    check_equal(describe_delivery(inbox.next), "tag=6 redelivered=true exchange= key=#{@queue} body=m1",
                "nack with requeue redelivers m1 with redelivered=true")
    channel.ack(5, true)
    channel.recover
    check_equal(describe_delivery(inbox.next), "tag=7 redelivered=true exchange= key=#{@queue} body=m1",
                "basic.recover requeues the unacked m1 again")
    channel.ack(7)
    publish_from_another_connection(@queue, "late")
    check_equal(describe_delivery(inbox.next), "tag=8 redelivered=false exchange= key=#{@queue} body=late",
                "a message published on another connection while the consumer waits is delivered at once")
    channel.ack(8)
    check_equal(consumer.cancel.class, AMQ::Protocol::Basic::CancelOk, "basic.cancel answers cancel-ok")
    check_equal(inbox.next(QUIET), nil, "nothing more delivered after cancel")
    check_equal(counts(@queue), expected_counts(@queue, 0, 0), "queue empty and without consumers after the acks")
  end

  def body_of(delivery)
    delivery && delivery[2]
  end

  def tag_of(delivery)
    delivery[0].delivery_tag.to_i
  end

  def prefetch(channel, queue)
    channel.prefetch(2)
    (1..5).each { |i| channel.default_exchange.publish("p#{i}", routing_key: @queue) }
    channel.wait_for_confirms
    inbox = Inbox.new
    consumer = queue.subscribe(manual_ack: true) { |*delivery| inbox.push(delivery) }
    p1 = inbox.next
    p2 = inbox.next
    check_equal([body_of(p1), body_of(p2)], %w[p1 p2], "prefetch 2: the first two arrive")
    check_equal(inbox.next(QUIET), nil, "prefetch 2: the third waits for an ack")
    channel.ack(tag_of(p1))
    p3 = inbox.next
    check_equal(body_of(p3), "p3", "one ack lets p3 through")
    check_equal(inbox.next(QUIET), nil, "and only p3")
    channel.ack(tag_of(p3), true)
    p4 = inbox.next
    p5 = inbox.next
    check_equal([body_of(p4), body_of(p5)], %w[p4 p5], "a multiple ack frees the window for p4, p5")
    channel.reject(tag_of(p4), false)
    channel.reject(tag_of(p5), true)
    back = inbox.next
    check_equal(back && [back[2], back[0].redelivered?], ["p5", true],
                "reject with requeue redelivers p5; reject without requeue drops p4")
    channel.ack(tag_of(back))
    consumer.cancel
    channel.prefetch(0)
    check_equal(counts(@queue), expected_counts(@queue, 0, 0), "queue empty after the prefetch run")
  end

  def transactions
    tx = @connection.create_channel
    tx.tx_select
    exchange = tx.direct(@exchange, durable: false, auto_delete: false)
    exchange.publish("t1", routing_key: "key-a")
    exchange.publish("t2", routing_key: "key-a")
    check_equal(counts(@queue), expected_counts(@queue, 0, 0), "tx: publishes are held until commit")
    tx.tx_commit
    check_equal(counts(@queue), expected_counts(@queue, 2, 0), "tx.commit delivers both")
    exchange.publish("t3", routing_key: "key-a")
    tx.tx_rollback
    check_equal(counts(@queue), expected_counts(@queue, 2, 0), "tx.rollback drops the held publish")

    get_ok, _properties, body = tx.basic_get(@queue, manual_ack: true)
    check_equal(describe_get(get_ok, body), "tag=1 redelivered=false exchange=#{@exchange} key=key-a count=1 body=t1", "tx: get t1")
    tx.ack(1)
    tx.tx_rollback
    # The rolled-back ack is forgotten: t1 stays unacked, so a multiple ack may cover it again.
    get_ok, _properties, body = tx.basic_get(@queue, manual_ack: true)
    check_equal(describe_get(get_ok, body), "tag=2 redelivered=false exchange=#{@exchange} key=key-a count=0 body=t2", "tx: get t2")
    tx.ack(2, true)
    tx.tx_commit
    check_equal(counts(@queue), expected_counts(@queue, 0, 0), "tx: acks of t1 and t2 committed")
    tx.close

    rolled_back = @connection.create_channel
    rolled_back.tx_select
    rolled_back.default_exchange.publish("t4", routing_key: @queue)
    rolled_back.tx_commit
    get_ok, _properties, body = rolled_back.basic_get(@queue, manual_ack: true)
    check_equal(describe_get(get_ok, body), "tag=1 redelivered=false exchange= key=#{@queue} count=0 body=t4", "tx: get t4")
    rolled_back.ack(1)
    rolled_back.tx_rollback
    rolled_back.close
    check_equal(counts(@queue), expected_counts(@queue, 1, 0), "a rolled-back ack leaves t4 unacked; channel close requeues it")
    reader = @connection.create_channel
    get_ok, _properties, body = reader.basic_get(@queue, manual_ack: false)
    check_equal(describe_get(get_ok, body), "tag=1 redelivered=true exchange= key=#{@queue} count=0 body=t4", "t4 comes back redelivered")
    reader.close

    check_equal(channel_error { |ch| ch.tx_select; ch.confirm_select },
                "406 PRECONDITION_FAILED - cannot switch from tx to confirm mode (class 85, method 10)", "confirm.select on a tx channel: 406")
    check_equal(channel_error { |ch| ch.confirm_select; ch.tx_select },
                "406 PRECONDITION_FAILED - cannot switch from confirm to tx mode (class 90, method 10)", "tx.select on a confirm channel: 406")
    check_equal(channel_error(&:tx_commit),
                "406 PRECONDITION_FAILED - channel is not transactional (class 90, method 20)", "tx.commit without tx.select: 406")
  end

  def errors
    missing = unique("missing")
    check_equal(channel_error { |ch| ch.queue_declare(missing, passive: true) },
                "404 NOT_FOUND - no queue '#{missing}' in vhost '/' (class 50, method 10)", "passive declare of a missing queue: 404")
    check_equal(channel_error { |ch| ch.basic_publish("lost", missing, "x", {}) },
                "404 NOT_FOUND - no exchange '#{missing}' in vhost '/' (class 60, method 40)", "publish to a missing exchange: 404")
    check_equal(channel_error { |ch| ch.ack(7) },
                "406 PRECONDITION_FAILED - unknown delivery tag 7 (class 60, method 80)", "ack of an unknown tag: 406")
    check_equal(channel_error { |ch| ch.exchange_declare(@exchange, "fanout", durable: false) },
                "406 PRECONDITION_FAILED - inequivalent arg 'type' for exchange '#{@exchange}' in vhost '/': " \
                "received 'fanout' but current is 'direct' (class 40, method 10)",
                "redeclare as fanout: 406 inequivalent arg")
  end

  def clean_up(channel)
    %w[q1 q2].each { |body| channel.basic_publish(body, @exchange, "key-a", {}) }
    channel.wait_for_confirms
    check_equal(channel.queue_purge(@queue).message_count, 2, "queue.purge answers 2 messages")
    check_equal(channel.queue_unbind(@queue, @exchange, routing_key: "key-a").class, AMQ::Protocol::Queue::UnbindOk,
                "queue.unbind answers unbind-ok")
    check_equal(channel.queue_delete(@queue).message_count, 0, "queue.delete answers 0 messages")
    check_equal(channel.exchange_delete(@exchange).class, AMQ::Protocol::Exchange::DeleteOk, "exchange.delete answers delete-ok")
    check_equal(channel_error { |ch| ch.exchange_declare(@exchange, "direct", passive: true) },
                "404 NOT_FOUND - no exchange '#{@exchange}' in vhost '/' (class 40, method 10)", "the exchange is gone")
  end

  def run
    channel = @connection.create_channel
    @returns_before_third_confirm = nil
    returns_seen = 0
    channel.confirm_select(lambda do |tag, _multiple, nack|
      check(false, "no basic.nack (got one for tag #{tag})") if nack
      @returns_before_third_confirm ||= returns_seen if tag >= 3
    end)
    # Count returns as the reader thread sees them, before the exchange's own handler.
    channel.define_singleton_method(:handle_basic_return) do |*args|
      returns_seen += 1
      super(*args)
    end
    declare_bind_publish_get(channel)
    # Bunny's queue object for subscribing; this redeclares the queue with the same arguments.
    queue = channel.queue(@queue, durable: false, exclusive: false, auto_delete: false)
    consume_ack_nack(channel, queue)
    prefetch(channel, queue)
    transactions
    errors
    clean_up(channel)
  ensure
    spare = @connection.create_channel
    spare.queue_delete(@queue)
    spare.exchange_delete(@exchange)
    spare.close
  end
end

def connect
  connection = Bunny.new(host: HOST, port: PORT, username: "guest", password: "guest",
                         automatically_recover: false, logger: Logger.new(IO::NULL))
  connection.start
  connection
end

def main
  watchdog = Thread.new do
    sleep TEST_SECONDS
    check(false, "finished within #{TEST_SECONDS} s")
    exit!(1)
  end
  connection = connect
  begin
    InteropTest.new(connection).run
  rescue StandardError => e
    check(false, "no unexpected exception: #{e.class}: #{e.message}\n#{e.backtrace.join("\n")}")
  ensure
    connection.close
  end
  watchdog.kill
  exit($failures.zero? ? 0 : 1)
end

main
