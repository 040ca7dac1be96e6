# Interop test: Bunny (ruby-bunny) is refused at connection.open (missing vhost, 530) and at login (bad password, 403), many times over, and always sees the broker's error.
# frozen_string_literal: true

require "bunny"
require "logger"
require "securerandom"

HOST = ENV.fetch("AMQP_HOST", "127.0.0.1")
PORT = Integer(ENV.fetch("AMQP_PORT", "5672"))
ROUNDS = 30
TEST_SECONDS = 50

$failures = 0

def check(ok, text)
  puts "#{ok ? 'PASS' : 'FAIL'}: #{text}"
  $stdout.flush
  $failures += 1 unless ok
  ok
end

# What start raised (a random vhost name replaced by VHOST); "no error" if it opened.
def outcome_of_start(vhost, password)
  connection = Bunny.new(host: HOST, port: PORT, username: "guest", password: password, vhost: vhost,
                         automatically_recover: false, logger: Logger.new(IO::NULL))
  connection.start
  connection.close
  "no error"
rescue Bunny::PossibleAuthenticationFailureError, Bunny::NotAllowedError => e
  "#{e.class}: #{vhost == '/' ? e.message : e.message.sub(vhost, 'VHOST')}"
rescue StandardError, Bunny::TCPConnectionFailed => e
  "#{e.class}: #{e.message}"
end

def check_rounds(what, expected)
  outcomes = Hash.new(0)
  ROUNDS.times { outcomes[yield] += 1 }
  others = outcomes.reject { |k, _| k == expected }
  check(others.empty?, "#{what}: #{expected} in #{outcomes[expected]} of #{ROUNDS} rounds" \
                       "#{others.empty? ? '' : ", otherwise #{others.inspect}"}")
end

def main
  watchdog = Thread.new do
    sleep TEST_SECONDS
    check(false, "finished within #{TEST_SECONDS} s")
    exit!(1)
  end
  check_rounds("connection.open of a missing vhost",
               "Bunny::NotAllowedError: Connection-level error: NOT_ALLOWED - vhost VHOST not found") do
    outcome_of_start("no-such-vhost-#{SecureRandom.uuid}", "guest")
  end
  # Bunny advertises authentication_failure_close, so the broker says 403 before closing.
  check_rounds("login with a wrong password",
               "Bunny::AuthenticationFailureError: Authentication with RabbitMQ failed. " \
               "Please check your connection settings. Username: guest, vhost: /, password length: 5") do
    outcome_of_start("/", "wrong")
  end
  watchdog.kill
  exit($failures.zero? ? 0 : 1)
end

main
