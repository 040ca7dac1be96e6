// Interop test: amqplib (node) declares, binds, publishes with confirms, gets, consumes, acks, nacks and hits a 404;
// then RabbitMQ's extensions: TTLs, dead-lettering, priorities, quorum queues, direct reply-to, exchange-to-exchange bindings,
// alternate exchanges, CC/BCC, length limits, queue expiry, consumer priorities, single active consumer, delayed messages,
// consumer timeouts, capabilities.
'use strict';

const amqp = require('amqplib');
const crypto = require('node:crypto');
const util = require('node:util');

const HOST = process.env.AMQP_HOST || '127.0.0.1';
const PORT = process.env.AMQP_PORT || '5672';
const URL = `amqp://guest:guest@${HOST}:${PORT}/`;
const TEST_SECONDS = 40;
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

// ---- RabbitMQ's extensions, as RabbitMQ 3.10.8 shows them through amqplib.

// The runner sets AMQP_EXPECT_PRODUCT=Warren against Warren; some checks differ.
const WARREN = process.env.AMQP_EXPECT_PRODUCT === 'Warren';
// Time for a broker-side step (a dead-lettering, a queue commit).
const SETTLE_MS = 300;

// Fresh queues and exchanges for one section, deleted again at its end.
class Extensions {
  constructor(connection) {
    this.connection = connection;
    this.queues = [];
    this.exchanges = [];
  }

  async queue(what, options = {}) {
    const name = unique(what);
    this.queues.push(name);
    const channel = await this.connection.createChannel();
    await channel.assertQueue(name, { durable: false, ...options });
    await channel.close();
    return name;
  }

  async exchange(what, type, options = {}) {
    const name = unique(what);
    this.exchanges.push(name);
    const channel = await this.connection.createChannel();
    await channel.assertExchange(name, type, { durable: false, ...options });
    await channel.close();
    return name;
  }

  async bind(queue, exchange, key) {
    const channel = await this.connection.createChannel();
    await channel.bindQueue(queue, exchange, key);
    await channel.close();
  }

  // Publishes on a fresh confirm channel and waits until each message is confirmed.
  async publishConfirmed(exchange, key, ...messages) {
    const channel = await this.connection.createConfirmChannel();
    const acks = await Promise.all(messages.map(([body, options]) => publishConfirmed(channel, exchange, key, body, options || {})));
    if (!acks.every((ack) => ack)) check(false, `publishes to '${exchange}'/'${key}' confirmed: ${show(acks)}`);
    await channel.close();
  }

  // basic.get with auto-ack until the queue is empty: the bodies in order.
  async bodies(queue) {
    const channel = await this.connection.createChannel();
    const out = [];
    for (;;) {
      const message = await channel.get(queue, { noAck: true });
      if (!message) break;
      out.push(message.content.toString());
    }
    await channel.close();
    return out;
  }

  async cleanUp() {
    const channel = await this.connection.createChannel();
    for (const name of this.queues) await channel.deleteQueue(name);
    for (const name of this.exchanges) await channel.deleteExchange(name);
    await channel.close();
  }
}

async function checkMessageTtl(e) {
  const queue = await e.queue('ttl-queue', { messageTtl: 200 });
  await e.publishConfirmed('', queue, ['t1'], ['t2']);
  await sleep(600);
  checkEqual(await e.bodies(queue), [], 'x-message-ttl 200: after 600 ms basic.get finds nothing');
  const channel = await e.connection.createChannel();
  checkEqual(await channel.checkQueue(queue), { queue, messageCount: 0, consumerCount: 0 }, 'x-message-ttl 200: passive queue.declare counts 0');
  await channel.close();

  const plain = await e.queue('expiration-queue');
  await e.publishConfirmed('', plain, ['short', { expiration: '200' }], ['stays']);
  await sleep(600);
  checkEqual(await e.bodies(plain), ['stays'], 'expiration "200" on a queue without TTL: that message expires, the one without stays');

  checkEqual(
    await channelErrorOf(e.connection, async (ch) => {
      ch.sendToQueue(plain, Buffer.from('bad'), { expiration: 'abc' });
    }),
    { code: 406, message: `Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - invalid expiration 'abc': no_integer"` },
    'expiration "abc": the channel closes with 406',
  );
  checkEqual(await e.bodies(plain), [], 'the malformed message was not enqueued');
}

// The headers of a dead letter, with each x-death entry's time replaced by what it is.
function stampless(headers) {
  const out = { ...headers };
  if (Array.isArray(headers['x-death'])) {
    out['x-death'] = headers['x-death'].map((death) => {
      const stamp = death && death.time;
      const fresh = stamp && stamp['!'] === 'timestamp' && Number.isInteger(stamp.value) && Math.abs(stamp.value - Date.now() / 1000) < 60;
      return { ...death, time: fresh ? 'a timestamp within a minute of now' : stamp };
    });
  }
  return out;
}

// x-last-death-* are RabbitMQ 3.13's; 3.10 does not send them, Warren does.
function lastDeath(headers, queue, reason) {
  if (!WARREN) return headers;
  return { ...headers, 'x-last-death-queue': queue, 'x-last-death-reason': reason, 'x-last-death-exchange': '' };
}

function deathEntry(queue, reason, extra = {}) {
  return { count: 1, reason, queue, time: 'a timestamp within a minute of now', exchange: '', 'routing-keys': [queue], ...extra };
}

async function checkDeadLettering(e) {
  const dlx = await e.exchange('dlx', 'fanout');
  const dlq = await e.queue('dlq');
  await e.bind(dlq, dlx, '');
  const source = await e.queue('dlx-source', { deadLetterExchange: dlx });
  await e.publishConfirmed('', source, ['dead', { headers: { h: { '!': 'int32', value: 5 } }, expiration: '60000' }]);
  const channel = await e.connection.createChannel();
  const got = await channel.get(source, { noAck: false });
  if (!check(got !== false, 'basic.get from the source queue')) return;
  channel.reject(got, false);
  await sleep(SETTLE_MS);
  const dead = await channel.get(dlq, { noAck: true });
  if (check(dead !== false, 'the rejected message reaches the dead-letter queue')) {
    checkEqual(
      { exchange: dead.fields.exchange, routingKey: dead.fields.routingKey, expiration: dead.properties.expiration, body: dead.content.toString() },
      { exchange: dlx, routingKey: source, expiration: undefined, body: 'dead' },
      'dead-lettered: exchange = the DLX, routing key = the source queue, no expiration property',
    );
    checkEqual(
      stampless(dead.properties.headers),
      lastDeath(
        {
          h: 5,
          'x-death': [deathEntry(source, 'rejected', { 'original-expiration': '60000' })],
          'x-first-death-queue': source,
          'x-first-death-reason': 'rejected',
          'x-first-death-exchange': '',
        },
        source,
        'rejected',
      ),
      'headers: x-death one table (count 1, reason, queue, time a timestamp, exchange, routing-keys, original-expiration), x-first-death-*, h still 5',
    );
  }

  const limited = await e.queue('dlx-maxlen', { maxLength: 1, deadLetterExchange: dlx });
  await e.publishConfirmed('', limited, ['first'], ['second']);
  await sleep(SETTLE_MS);
  const dropped = await channel.get(dlq, { noAck: true });
  if (check(dropped !== false, 'x-max-length 1 (drop-head): the first message is dead-lettered')) {
    checkEqual(
      { exchange: dropped.fields.exchange, routingKey: dropped.fields.routingKey, body: dropped.content.toString() },
      { exchange: dlx, routingKey: limited, body: 'first' },
      'the head, routed by the DLX with its original key',
    );
    checkEqual(
      stampless(dropped.properties.headers),
      lastDeath(
        { 'x-death': [deathEntry(limited, 'maxlen')], 'x-first-death-queue': limited, 'x-first-death-reason': 'maxlen', 'x-first-death-exchange': '' },
        limited,
        'maxlen',
      ),
      'its x-death says reason maxlen',
    );
  }
  await channel.close();
  checkEqual(await e.bodies(limited), ['second'], 'the second message stays in the limited queue');
  checkEqual(await e.bodies(dlq), [], 'nothing else was dead-lettered');
}

async function checkPriorities(e) {
  const queue = await e.queue('priority', { maxPriority: 10 });
  await e.publishConfirmed('', queue, ['none'], ['p5', { priority: 5 }], ['p10', { priority: 10 }], ['p255', { priority: 255 }], ['p1', { priority: 1 }]);
  const channel = await e.connection.createChannel();
  const seen = [];
  for (;;) {
    const message = await channel.get(queue, { noAck: true });
    if (!message) break;
    seen.push([message.content.toString(), message.properties.priority]);
  }
  await channel.close();
  checkEqual(
    seen,
    [['p10', 10], ['p255', 255], ['p5', 5], ['p1', 1], ['none', undefined]],
    'x-max-priority 10: basic.get order 10, 255 (counts as 10, FIFO after it), 5, 1, none',
  );
}

async function checkQuorum(e) {
  const queue = await e.queue('quorum', { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 1 } });
  await e.publishConfirmed('', queue, ['q']);
  const channel = await e.connection.createChannel();
  const seen = [];
  for (let i = 0; i < 3; i++) {
    const message = await channel.get(queue, { noAck: false });
    if (!message) {
      seen.push('get-empty');
      break;
    }
    seen.push([message.content.toString(), message.fields.redelivered, message.properties.headers]);
    channel.nack(message, false, true);
    await sleep(50);
  }
  await channel.close();
  checkEqual(
    seen,
    [['q', false, { 'x-delivery-count': 0 }], ['q', true, { 'x-delivery-count': 1 }], 'get-empty'],
    'quorum, x-delivery-limit 1: x-delivery-count 0, nack, 1, nack, then the queue is empty',
  );
}

async function checkDirectReplyTo(e) {
  const server = await e.queue('rpc-server');
  const requester = await e.connection.createChannel();
  const replies = new Inbox();
  await requester.consume('amq.rabbitmq.reply-to', (message) => replies.push(message), { noAck: true });
  requester.sendToQueue(server, Buffer.from('request'), { replyTo: 'amq.rabbitmq.reply-to', correlationId: 'rpc-1' });

  const other = await amqp.connect(URL);
  try {
    const responder = await other.createChannel();
    let request = false;
    for (const deadline = Date.now() + DELIVERY_WAIT_MS; !request && Date.now() < deadline; ) {
      request = await responder.get(server, { noAck: true });
      if (!request) await sleep(50);
    }
    if (check(request !== false, "the server's connection gets the request")) {
      const replyTo = request.properties.replyTo;
      check(
        typeof replyTo === 'string' && replyTo.startsWith('amq.rabbitmq.reply-to.') && replyTo.length > 'amq.rabbitmq.reply-to.'.length,
        `its replyTo is rewritten to amq.rabbitmq.reply-to.<opaque>: ${replyTo}`,
      );
      responder.publish('', replyTo, Buffer.from('reply'), { correlationId: request.properties.correlationId });
      const reply = await replies.next();
      checkEqual(
        reply && [reply.content.toString(), reply.fields.exchange, reply.fields.routingKey, reply.properties.correlationId],
        ['reply', '', replyTo, 'rpc-1'],
        "the requester's no-ack consumer gets the reply",
      );
    }
  } finally {
    await other.close();
  }
  await requester.close();

  checkEqual(
    await channelErrorOf(e.connection, (ch) => ch.consume('amq.rabbitmq.reply-to', () => {}, { noAck: false })),
    { code: 406, message: 'Operation failed: BasicConsume; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - reply consumer cannot acknowledge"' },
    'consuming amq.rabbitmq.reply-to with ack: 406',
  );
}

// A passive exchange.declare on a fresh channel: 'exists', or the channel close it provoked.
async function passiveExchange(connection, name) {
  const channel = await connection.createChannel();
  channel.on('error', () => {});
  try {
    await channel.checkExchange(name);
  } catch (err) {
    return { code: err.code, message: err.message };
  }
  await channel.close();
  return 'exists';
}

async function checkExchangeBindings(e) {
  const source = await e.exchange('e2e-source', 'fanout');
  const destination = await e.exchange('e2e-destination', 'direct');
  const queue = await e.queue('e2e-queue');
  await e.bind(queue, destination, 'k');
  const channel = await e.connection.createChannel();
  checkEqual(await channel.bindExchange(destination, source, ''), {}, 'exchange.bind a fanout source to a direct destination answers bind-ok');
  await e.publishConfirmed(source, 'k', ['through']);
  checkEqual(await e.bodies(queue), ['through'], "a message published to the source reaches the destination's queue");
  checkEqual(await channel.bindExchange(source, destination, 'k'), {}, 'exchange.bind the destination back to the source (a loop) answers bind-ok');
  await e.publishConfirmed(source, 'k', ['loop-1']);
  await e.publishConfirmed(destination, 'k', ['loop-2']);
  checkEqual(await e.bodies(queue), ['loop-1', 'loop-2'], 'with the loop, a message published to either exchange reaches the queue once');
  checkEqual(await channel.unbindExchange(source, destination, 'k'), {}, 'exchange.unbind the loop answers unbind-ok');
  checkEqual(await channel.unbindExchange(destination, source, ''), {}, 'exchange.unbind source from destination answers unbind-ok');
  await e.publishConfirmed(source, 'k', ['after-unbind']);
  checkEqual(await e.bodies(queue), [], 'after exchange.unbind the source routes nothing to the queue');

  // auto-delete: not in e.exchanges, the broker deletes it.
  const auto = unique('e2e-auto-delete');
  await channel.assertExchange(auto, 'fanout', { durable: false, autoDelete: true });
  await channel.bindExchange(destination, auto, '');
  checkEqual(await passiveExchange(e.connection, auto), 'exists', 'an auto-delete source with a binding exists');
  checkEqual(await channel.unbindExchange(destination, auto, ''), {}, "exchange.unbind of the auto-delete source's only binding answers unbind-ok");
  checkEqual(
    await passiveExchange(e.connection, auto),
    { code: 404, message: `Operation failed: ExchangeDeclare; 404 (NOT-FOUND) with message "NOT_FOUND - no exchange '${auto}' in vhost '/'"` },
    'the auto-delete source left without bindings is gone: passive declare 404',
  );
  await channel.close();
}

async function checkAlternateExchange(e) {
  const alternate = await e.exchange('ae', 'fanout');
  const caught = await e.queue('ae-queue');
  await e.bind(caught, alternate, '');
  const primary = await e.exchange('ae-main', 'direct', { alternateExchange: alternate });
  await e.publishConfirmed(primary, 'nowhere', ['unroutable']);
  checkEqual(await e.bodies(caught), ['unroutable'], "alternate-exchange: an unroutable publish lands in the alternate's queue");

  const channel = await e.connection.createConfirmChannel();
  const returned = [];
  channel.on('return', (message) => returned.push(message.content.toString()));
  checkEqual(await publishConfirmed(channel, primary, 'nowhere', 'mandatory', { mandatory: true }), true, 'a mandatory publish the alternate routes is confirmed');
  await channel.waitForConfirms();
  checkEqual(returned, [], 'and no basic.return arrived before its confirm');
  await channel.close();
  checkEqual(await e.bodies(caught), ['mandatory'], "the mandatory message is in the alternate's queue");
}

async function checkCcBcc(e) {
  const q1 = await e.queue('cc-q1');
  const q2 = await e.queue('cc-q2');
  const q3 = await e.queue('cc-q3');
  const channel = await e.connection.createChannel();
  const inbox = new Inbox();
  await channel.consume(q3, (message) => inbox.push(message), { noAck: true });
  // amqplib puts its CC and BCC options into the headers as arrays of long strings.
  await e.publishConfirmed('', q1, ['copied', { CC: [q2], BCC: [q3] }]);
  const describe = (m) => m && [m.content.toString(), m.fields.routingKey, m.properties.headers];
  const seen = [describe(await channel.get(q1, { noAck: true })), describe(await channel.get(q2, { noAck: true })), describe(await inbox.next())];
  const copied = ['copied', q1, { CC: [q2] }];
  checkEqual(seen, [copied, copied, copied], "CC [q2], BCC [q3] to q1: all three queues get it, each with CC and without BCC (q3's consumer too)");
  await channel.close();
}

async function checkLengthLimits(e) {
  const queue = await e.queue('maxlen', { maxLength: 2 });
  await e.publishConfirmed('', queue, ['m1'], ['m2'], ['m3']);
  checkEqual(await e.bodies(queue), ['m2', 'm3'], 'x-max-length 2 (drop-head): the newest two stay');

  const rejecting = await e.queue('maxlen-reject', { maxLength: 2, overflow: 'reject-publish' });
  const channel = await e.connection.createConfirmChannel();
  const acks = await Promise.all(['r1', 'r2', 'r3'].map((body) => publishConfirmed(channel, '', rejecting, body, {})));
  checkEqual(acks, [true, true, false], 'x-overflow reject-publish: the third publish is nacked (its confirm callback gets an error)');
  await channel.close();
  checkEqual(await e.bodies(rejecting), ['r1', 'r2'], 'the first two stay');
}

async function checkQueueExpiry(e) {
  // Not in e.queues: the broker deletes it.
  const queue = unique('expires');
  const channel = await e.connection.createChannel();
  await channel.assertQueue(queue, { durable: false, expires: 500 });
  checkEqual(await channel.checkQueue(queue), { queue, messageCount: 0, consumerCount: 0 }, 'x-expires 500: the queue exists at once');
  await channel.close();
  await sleep(1500);
  checkEqual(
    await channelErrorOf(e.connection, (ch) => ch.checkQueue(queue)),
    { code: 404, message: `Operation failed: QueueDeclare; 404 (NOT-FOUND) with message "NOT_FOUND - no queue '${queue}' in vhost '/'"` },
    'after 1.5 s unused: passive declare 404',
  );
}

async function checkConsumerPriorities(e) {
  const queue = await e.queue('consumer-priority');
  const channels = [];
  const consume = async (priority, ack) => {
    const channel = await e.connection.createChannel();
    channels.push(channel);
    const got = []; // no prefetch: a consumer with credit always, so the order is fixed
    await channel.consume(queue, (message) => {
      got.push(message.content.toString());
      if (ack) channel.ack(message);
    }, { noAck: false, priority });
    return got;
  };
  const high = await consume(10, true);
  const low = await consume(1, false);
  await e.publishConfirmed('', queue, ['c1'], ['c2'], ['c3'], ['c4'], ['c5']);
  await sleep(SETTLE_MS + QUIET_MS);
  checkEqual(
    [high, low],
    [['c1', 'c2', 'c3', 'c4', 'c5'], []],
    'no prefetch, x-priority 10 and 1: while the higher one can take messages the lower gets none',
  );
  for (const channel of channels) await channel.close();
}

async function checkSingleActiveConsumer(e) {
  const queue = await e.queue('sac', { arguments: { 'x-single-active-consumer': true } });
  const first = await e.connection.createChannel();
  const second = await e.connection.createChannel();
  const firstInbox = new Inbox();
  const secondInbox = new Inbox();
  const { consumerTag } = await first.consume(queue, (message) => {
    firstInbox.push(message);
    first.ack(message);
  });
  await second.consume(queue, (message) => {
    secondInbox.push(message);
    second.ack(message);
  });
  await e.publishConfirmed('', queue, ['s1'], ['s2'], ['s3']);
  const firstGot = [];
  for (let i = 0; i < 3; i++) {
    const m = await firstInbox.next();
    if (!m) break;
    firstGot.push(m.content.toString());
  }
  checkEqual(firstGot, ['s1', 's2', 's3'], 'x-single-active-consumer: the first consumer gets every message');
  checkEqual(await secondInbox.next(QUIET_MS), null, 'the second consumer gets none');
  await first.cancel(consumerTag);
  await first.close();
  await e.publishConfirmed('', queue, ['s4'], ['s5']);
  const secondGot = [];
  for (let i = 0; i < 2; i++) {
    const m = await secondInbox.next();
    if (!m) break;
    secondGot.push(m.content.toString());
  }
  checkEqual(secondGot, ['s4', 's5'], 'after the first cancels, the second gets the rest');
  await second.close();
}

// Warren only: RabbitMQ 3.10 ignores x-consumer-timeout.
async function checkConsumerTimeout(e) {
  const queue = await e.queue('consumer-timeout', { arguments: { 'x-consumer-timeout': 1000 } });
  await e.publishConfirmed('', queue, ['never-acked']);
  const channel = await e.connection.createChannel();
  let error = null;
  channel.on('error', (err) => {
    error = err;
  });
  const closed = new Promise((resolve) => channel.on('close', resolve));
  const inbox = new Inbox();
  await channel.consume(queue, (message) => inbox.push(message), { noAck: false });
  const delivered = await inbox.next();
  check(delivered !== null, 'the manual-ack consumer gets the message');
  const start = Date.now();
  await Promise.race([closed, sleep(5000)]);
  const elapsed = Date.now() - start;
  const number = channel.ch;
  checkEqual(
    error && { code: error.code, message: error.message },
    {
      code: 406,
      message: `Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - delivery acknowledgement on channel ${number} timed out. Timeout value used: 1000 ms. This timeout value can be configured, see consumers doc guide to learn more"`,
    },
    `x-consumer-timeout 1000, never acked: channel ${number} closed with 406`,
  );
  check(elapsed >= 900, `not before the timeout: ${elapsed} ms after the delivery`);
  await sleep(SETTLE_MS);
  const spare = await e.connection.createChannel();
  checkEqual(await spare.checkQueue(queue), { queue, messageCount: 1, consumerCount: 0 }, 'the unacked message is back in the queue, no consumer left');
  await spare.close();
}

// Warren only: the RabbitMQ under test lacks rabbitmq_delayed_message_exchange.
async function checkDelayed(e) {
  const exchange = await e.exchange('delayed', 'x-delayed-message', { arguments: { 'x-delayed-type': 'direct' } });
  const queue = await e.queue('delayed-queue');
  await e.bind(queue, exchange, 'k');
  const channel = await e.connection.createChannel();
  const inbox = new Inbox();
  const arrived = [];
  await channel.consume(queue, (message) => {
    arrived.push(Date.now());
    inbox.push(message);
  }, { noAck: true });
  const start = Date.now();
  channel.publish(exchange, 'k', Buffer.from('delayed'), { headers: { 'x-delay': { '!': 'int32', value: 500 } } });
  channel.publish(exchange, 'k', Buffer.from('immediate'));
  const first = await inbox.next();
  const second = await inbox.next();
  checkEqual(
    [first && first.content.toString(), second && second.content.toString()],
    ['immediate', 'delayed'],
    'x-delayed-message (direct): the message without x-delay, published second, arrives first',
  );
  const elapsed = second ? arrived[1] - start : null;
  check(elapsed !== null && elapsed >= 450, `x-delay 500: arrives no earlier than 450 ms (after ${elapsed} ms)`);
  await channel.close();
}

function checkCapabilities(connection) {
  const expected = {};
  for (const name of ['publisher_confirms', 'exchange_exchange_bindings', 'basic.nack', 'consumer_cancel_notify', 'consumer_priorities',
    'authentication_failure_close', 'per_consumer_qos', 'direct_reply_to']) expected[name] = true;
  expected['connection.blocked'] = true; // Warren advertises it too, since its alarms work
  checkEqual(connection.connection.serverProperties.capabilities, expected, 'server-properties capabilities, all true');
}

async function checkExtensions(connection) {
  const sections = [checkMessageTtl, checkDeadLettering, checkPriorities, checkQuorum, checkDirectReplyTo, checkExchangeBindings,
    checkAlternateExchange, checkCcBcc, checkLengthLimits, checkQueueExpiry, checkConsumerPriorities, checkSingleActiveConsumer];
  if (WARREN) sections.push(checkDelayed, checkConsumerTimeout);
  for (const section of sections) {
    const e = new Extensions(connection);
    try {
      await section(e);
    } finally {
      await e.cleanUp();
    }
  }
  checkCapabilities(connection);
}

async function main() {
  const names = { exchange: unique('exchange'), queue: unique('queue') };
  const connection = await amqp.connect(URL);
  // A connection closed by the server must fail the test, not crash node with an unhandled 'error'.
  connection.on('error', (err) => check(false, `the connection stays open (${err.message})`));
  const channel = await connection.createConfirmChannel();
  try {
    await checkDeclareBindPublishGet(channel, names);
    await checkConsumeAckNack(channel, names);
    await checkPrefetch(channel, names);
    await checkErrors(connection, names);
    await cleanUp(channel, names);
    await checkExtensions(connection);
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
