// Interop test: amqplib (node) declares, binds, publishes with confirms, gets, consumes, acks, nacks and hits a 404.
'use strict';

const amqp = require('amqplib');
const crypto = require('node:crypto');
const util = require('node:util');

const HOST = process.env.AMQP_HOST || '127.0.0.1';
const PORT = process.env.AMQP_PORT || '5672';
const URL = `amqp://guest:guest@${HOST}:${PORT}/`;
const TEST_SECONDS = 20;
const DELIVERY_WAIT_MS = 3000;
// How long to watch for a delivery that the prefetch window must hold back.
const QUIET_MS = 300;

let failures = 0;

function check(ok, text) {
  console.log(`${ok ? 'PASS' : 'FAIL'}: ${text}`);
  if (!ok) failures++;
  return ok;
}

function show(value) {
  return util.inspect(value, { depth: 8, breakLength: Infinity, compact: true });
}

function checkEqual(got, expected, text) {
  const ok = util.isDeepStrictEqual(got, expected);
  return check(ok, ok ? `${text}: ${show(expected)}` : `${text}: expected ${show(expected)}, got ${show(got)}`);
}

function unique(what) {
  return `amqplib-${what}-${crypto.randomUUID()}`;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Deliveries of one consumer, awaited one at a time in arrival order.
class Inbox {
  constructor() {
    this.messages = [];
    this.waiters = [];
  }

  push(message) {
    const waiter = this.waiters.shift();
    if (waiter) waiter(message);
    else this.messages.push(message);
  }

  next(ms = DELIVERY_WAIT_MS) {
    if (this.messages.length > 0) return Promise.resolve(this.messages.shift());
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(deliver), 1);
        resolve(null);
      }, ms);
      const deliver = (message) => {
        clearTimeout(timer);
        resolve(message);
      };
      this.waiters.push(deliver);
    });
  }
}

// The headers table: every field type amqplib can send, nested tables and arrays.
const HEADERS = {
  string: 'text with ünïcode',
  empty: '',
  true: true,
  false: false,
  byte: { '!': 'int8', value: -5 },
  ubyte: { '!': 'uint8', value: 200 },
  short: { '!': 'int16', value: -30000 },
  ushort: { '!': 'uint16', value: 60000 },
  int: { '!': 'int32', value: -2000000000 },
  uint: { '!': 'uint32', value: 4000000000 },
  long: { '!': 'int64', value: -1099511627776 },
  float: { '!': 'float', value: 1.5 },
  double: 2.25,
  decimal: { '!': 'decimal', value: { places: 2, digits: 12345 } },
  timestamp: { '!': 'timestamp', value: 1700000000 },
  void: null,
  bytes: Buffer.from([0, 1, 2, 255]),
  array: ['one', 2, true, null, 3.5, ['nested', 'array'], { in: 'table' }],
  emptyArray: [],
  table: { level: 1, inner: { level: 2, list: [1, 'two', { level: 3 }] } },
  emptyTable: {},
};

// What amqplib decodes the table above to: sized integers become numbers.
const HEADERS_DECODED = {
  string: 'text with ünïcode',
  empty: '',
  true: true,
  false: false,
  byte: -5,
  ubyte: 200,
  short: -30000,
  ushort: 60000,
  int: -2000000000,
  uint: 4000000000,
  long: -1099511627776,
  float: 1.5,
  double: 2.25,
  decimal: { '!': 'decimal', value: { places: 2, digits: 12345 } },
  timestamp: { '!': 'timestamp', value: 1700000000 },
  void: null,
  bytes: Buffer.from([0, 1, 2, 255]),
  array: ['one', 2, true, null, 3.5, ['nested', 'array'], { in: 'table' }],
  emptyArray: [],
  table: { level: 1, inner: { level: 2, list: [1, 'two', { level: 3 }] } },
  emptyTable: {},
};

const PUBLISH_OPTIONS = {
  contentType: 'application/json',
  contentEncoding: 'identity',
  headers: HEADERS,
  deliveryMode: 2,
  priority: 7,
  correlationId: 'correlation-1',
  replyTo: 'reply-queue',
  expiration: '60000',
  messageId: 'message-1',
  timestamp: 1700000001,
  type: 'interop.test',
  userId: 'guest',
  appId: 'amqplib-test',
};

const PROPERTIES_DECODED = {
  contentType: 'application/json',
  contentEncoding: 'identity',
  headers: HEADERS_DECODED,
  deliveryMode: 2,
  priority: 7,
  correlationId: 'correlation-1',
  replyTo: 'reply-queue',
  expiration: '60000',
  messageId: 'message-1',
  timestamp: 1700000001,
  type: 'interop.test',
  userId: 'guest',
  appId: 'amqplib-test',
  clusterId: undefined,
};

// amqplib always sends a headers table; with nothing else set this is all that comes back.
const PLAIN_PROPERTIES = { ...Object.fromEntries(Object.keys(PROPERTIES_DECODED).map((k) => [k, undefined])), headers: {} };

// Publishes on a confirm channel and resolves with the broker's ack (true) or nack (false);
// onConfirm runs as the confirm arrives.
function publishConfirmed(channel, exchange, key, body, options, onConfirm = () => {}) {
  return new Promise((resolve) => {
    channel.publish(exchange, key, Buffer.from(body), options, (err) => {
      onConfirm();
      resolve(err === null || err === undefined);
    });
  });
}

// A publish from a second connection, confirmed before it returns.
async function publishFromAnotherConnection(queue, body) {
  const connection = await amqp.connect(URL);
  try {
    const channel = await connection.createConfirmChannel();
    channel.sendToQueue(queue, Buffer.from(body));
    await channel.waitForConfirms();
  } finally {
    await connection.close();
  }
}

// The reply code and text a channel close carried, from the error amqplib raised.
async function channelErrorOf(connection, action) {
  const channel = await connection.createChannel();
  const closed = new Promise((resolve) => channel.on('close', resolve));
  let errorEvent = null;
  channel.on('error', (err) => {
    errorEvent = err;
  });
  let thrown = null;
  try {
    await action(channel);
  } catch (err) {
    thrown = err;
  }
  await Promise.race([closed, sleep(DELIVERY_WAIT_MS)]);
  const err = thrown || errorEvent;
  return err ? { code: err.code, message: err.message } : null;
}

async function checkDeclareBindPublishGet(channel, names) {
  checkEqual(await channel.assertExchange(names.exchange, 'direct', { durable: false, autoDelete: false }), { exchange: names.exchange }, 'exchange.declare direct answers declare-ok');
  checkEqual(
    await channel.assertQueue(names.queue, { durable: false, exclusive: false, autoDelete: false }),
    { queue: names.queue, messageCount: 0, consumerCount: 0 },
    'queue.declare answers its name and counts 0/0',
  );
  checkEqual(await channel.bindQueue(names.queue, names.exchange, 'key-a'), {}, 'queue.bind answers bind-ok');

  const returned = [];
  channel.on('return', (message) => returned.push(message));
  check(await publishConfirmed(channel, names.exchange, 'key-a', '{"n":1}', PUBLISH_OPTIONS), 'publish with every property is confirmed (basic.ack)');
  check(await publishConfirmed(channel, names.exchange, 'key-a', 'plain', {}), 'publish without properties is confirmed');
  let returnedBeforeConfirm = null;
  check(
    await publishConfirmed(channel, names.exchange, 'no-such-key', 'unroutable', { mandatory: true, messageId: 'lost' }, () => {
      returnedBeforeConfirm = returned.length;
    }),
    'an unroutable mandatory publish is still confirmed',
  );
  await channel.waitForConfirms();
  checkEqual(returnedBeforeConfirm, 1, 'its basic.return arrived before the confirm');
  checkEqual(returned.length, 1, 'exactly one basic.return');
  if (returned.length === 1) {
    const r = returned[0];
    checkEqual(
      { fields: r.fields, body: r.content.toString(), messageId: r.properties.messageId },
      { fields: { replyCode: 312, replyText: 'NO_ROUTE', exchange: names.exchange, routingKey: 'no-such-key' }, body: 'unroutable', messageId: 'lost' },
      'basic.return carries 312 NO_ROUTE and the whole message',
    );
  }
  checkEqual(await channel.checkQueue(names.queue), { queue: names.queue, messageCount: 2, consumerCount: 0 }, 'passive queue.declare counts 2 messages');

  const first = await channel.get(names.queue, { noAck: false });
  checkEqual(
    first && first.fields,
    { deliveryTag: 1, redelivered: false, exchange: names.exchange, routingKey: 'key-a', messageCount: 1 },
    'basic.get-ok fields',
  );
  checkEqual(first && first.content.toString(), '{"n":1}', 'basic.get body');
  checkEqual(first && first.properties, PROPERTIES_DECODED, 'every property and the headers table round-trip');
  const second = await channel.get(names.queue, { noAck: true });
  checkEqual(second && second.fields.messageCount, 0, 'second get-ok says 0 messages remain');
  checkEqual(second && second.properties, PLAIN_PROPERTIES, 'plain message has only an empty headers table');
  checkEqual(second && second.content.toString(), 'plain', 'plain message body');
  checkEqual(await channel.get(names.queue), false, 'basic.get on an empty queue gets get-empty');
  channel.ack(first);
}

async function checkConsumeAckNack(channel, names) {
  for (const body of ['m1', 'm2', 'm3']) channel.sendToQueue(names.queue, Buffer.from(body), { messageId: body });
  await channel.waitForConfirms();
  const inbox = new Inbox();
  const { consumerTag } = await channel.consume(names.queue, (message) => inbox.push(message), { noAck: false });
  check(/^amq\.ctag-[A-Za-z0-9_-]{22}$/.test(consumerTag), `server-generated consumer tag ${consumerTag}`);
  const seen = [];
  for (let i = 0; i < 3; i++) {
    const m = await inbox.next();
    seen.push(m && [m.content.toString(), m.fields.deliveryTag, m.fields.redelivered, m.fields.consumerTag, m.fields.exchange, m.fields.routingKey]);
  }
  checkEqual(
    seen,
    [
      ['m1', 3, false, consumerTag, '', names.queue],
      ['m2', 4, false, consumerTag, '', names.queue],
      ['m3', 5, false, consumerTag, '', names.queue],
    ],
    'three deliveries in order with tags 3, 4, 5 (the gets used 1 and 2)',
  );
  channel.nack({ fields: { deliveryTag: 3 } }, false, true);
  const again = await inbox.next();
  checkEqual(again && [again.content.toString(), again.fields.deliveryTag, again.fields.redelivered], ['m1', 6, true], 'nack with requeue redelivers m1 with redelivered=true and tag 6');
  channel.ack({ fields: { deliveryTag: 5 } }, true);
  channel.ack(again);
  await publishFromAnotherConnection(names.queue, 'late');
  const late = await inbox.next();
  checkEqual(
    late && [late.content.toString(), late.fields.deliveryTag, late.fields.redelivered],
    ['late', 7, false],
    'a message published on another connection while the consumer waits is delivered at once (tag 7)',
  );
  channel.ack(late);
  checkEqual(await channel.cancel(consumerTag), { consumerTag }, 'basic.cancel answers cancel-ok with the tag');
  checkEqual(await inbox.next(QUIET_MS), null, 'nothing more delivered after cancel');
  checkEqual(await channel.checkQueue(names.queue), { queue: names.queue, messageCount: 0, consumerCount: 0 }, 'queue empty and without consumers after the acks');
}

async function checkPrefetch(channel, names) {
  await channel.prefetch(2);
  for (let i = 1; i <= 5; i++) channel.sendToQueue(names.queue, Buffer.from(`p${i}`));
  await channel.waitForConfirms();
  const inbox = new Inbox();
  const { consumerTag } = await channel.consume(names.queue, (message) => inbox.push(message));
  const first = [await inbox.next(), await inbox.next()];
  checkEqual(
    first.map((m) => m && m.content.toString()),
    ['p1', 'p2'],
    'prefetch 2: the first two arrive',
  );
  checkEqual(await inbox.next(QUIET_MS), null, 'prefetch 2: the third waits for an ack');
  channel.ack(first[0]);
  const third = await inbox.next();
  checkEqual(third && third.content.toString(), 'p3', 'one ack lets p3 through');
  checkEqual(await inbox.next(QUIET_MS), null, 'and only p3');
  channel.ack(third, true);
  const rest = [await inbox.next(), await inbox.next()];
  checkEqual(
    rest.map((m) => m && m.content.toString()),
    ['p4', 'p5'],
    'a multiple ack frees the window for p4, p5',
  );
  channel.reject(rest[0], false);
  channel.reject(rest[1], true);
  const back = await inbox.next();
  checkEqual(back && [back.content.toString(), back.fields.redelivered], ['p5', true], 'reject with requeue redelivers p5; reject without requeue drops p4');
  channel.ack(back);
  await channel.cancel(consumerTag);
  await channel.prefetch(0);
  checkEqual(await channel.checkQueue(names.queue), { queue: names.queue, messageCount: 0, consumerCount: 0 }, 'queue empty after prefetch run');
}

async function checkErrors(connection, names) {
  const missingQueue = unique('missing');
  checkEqual(
    await channelErrorOf(connection, (channel) => channel.checkQueue(missingQueue)),
    {
      code: 404,
      message: `Operation failed: QueueDeclare; 404 (NOT-FOUND) with message "NOT_FOUND - no queue '${missingQueue}' in vhost '/'"`,
    },
    'passive declare of a missing queue: channel closed with 404',
  );
  const missingExchange = unique('missing');
  checkEqual(
    await channelErrorOf(connection, async (channel) => {
      channel.publish(missingExchange, 'x', Buffer.from('lost'));
    }),
    {
      code: 404,
      message: `Channel closed by server: 404 (NOT-FOUND) with message "NOT_FOUND - no exchange '${missingExchange}' in vhost '/'"`,
    },
    'publish to a missing exchange: channel closed with 404',
  );
  checkEqual(
    await channelErrorOf(connection, async (channel) => {
      channel.ack({ fields: { deliveryTag: 7 } });
    }),
    { code: 406, message: 'Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - unknown delivery tag 7"' },
    'ack of an unknown tag: channel closed with 406',
  );
  checkEqual(
    await channelErrorOf(connection, (channel) => channel.assertExchange(names.exchange, 'fanout', { durable: false })),
    {
      code: 406,
      message:
        `Operation failed: ExchangeDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg 'type' for exchange '${names.exchange}' in vhost '/': received 'fanout' but current is 'direct'"`,
    },
    'redeclare as fanout: 406 inequivalent arg',
  );
}

async function cleanUp(channel, names) {
  for (const body of ['q1', 'q2']) channel.publish(names.exchange, 'key-a', Buffer.from(body));
  await channel.waitForConfirms();
  checkEqual(await channel.purgeQueue(names.queue), { messageCount: 2 }, 'queue.purge answers 2 messages');
  checkEqual(await channel.unbindQueue(names.queue, names.exchange, 'key-a'), {}, 'queue.unbind answers unbind-ok');
  checkEqual(await channel.deleteQueue(names.queue), { messageCount: 0 }, 'queue.delete answers 0 messages');
  checkEqual(await channel.deleteExchange(names.exchange), {}, 'exchange.delete answers delete-ok');
}

async function main() {
  const names = { exchange: unique('exchange'), queue: unique('queue') };
  const connection = await amqp.connect(URL);
  const channel = await connection.createConfirmChannel();
  try {
    await checkDeclareBindPublishGet(channel, names);
    await checkConsumeAckNack(channel, names);
    await checkPrefetch(channel, names);
    await checkErrors(connection, names);
    await cleanUp(channel, names);
  } finally {
    const spare = await connection.createChannel();
    await spare.deleteQueue(names.queue);
    await spare.deleteExchange(names.exchange);
    await connection.close();
  }
}

const watchdog = setTimeout(() => {
  check(false, `finished within ${TEST_SECONDS} s`);
  process.exit(1);
}, TEST_SECONDS * 1000);

main().then(
  () => {
    clearTimeout(watchdog);
    process.exit(failures ? 1 : 0);
  },
  (err) => {
    clearTimeout(watchdog);
    check(false, `no unexpected exception (${err && err.stack})`);
    process.exit(1);
  },
);
