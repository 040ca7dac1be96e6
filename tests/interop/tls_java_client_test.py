#!/usr/bin/python3
"""Interop test: the RabbitMQ Java client over TLS 1.2 and 1.3 (java_tls/TlsInteropTest.java,
compiled against Debian's client) against a Warren with a TLS listener."""

import os
import shutil
import subprocess
import sys

import own_broker
from checks import SKIP, TESTS_DIR, build_tree_dir, run_program, stale
from own_broker import free_port, start
from tls_certs import Certs

COMPILE_TIMEOUT_SECONDS = 120
RUN_TIMEOUT_SECONDS = 60
SOURCE = os.path.join(TESTS_DIR, "java_tls", "TlsInteropTest.java")
CLIENT_JAR = "/usr/share/java/amqp-client.jar"
SLF4J_API_JAR = "/usr/share/java/slf4j-api.jar"
SLF4J_NOP_JAR = "/usr/share/java/slf4j-nop.jar"
PACKAGES = "librabbitmq-client-java default-jdk-headless"


def compile_if_needed(classpath, out_dir):
    """None once the classes are up to date, else why the build failed."""
    if not stale(os.path.join(out_dir, "TlsInteropTest.class"), [SOURCE, *classpath]):
        return None
    os.makedirs(out_dir, exist_ok=True)
    command = ["javac", "-Xlint:all", "-Werror", "-encoding", "UTF-8",
               "-cp", os.pathsep.join(classpath), "-d", out_dir, SOURCE]
    try:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, timeout=COMPILE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return "javac did not finish within %d s" % COMPILE_TIMEOUT_SECONDS
    return None if result.returncode == 0 else "javac exited with %d" % result.returncode


def main():
    missing = [tool for tool in ("javac", "java") if shutil.which(tool) is None]
    missing += [jar for jar in (CLIENT_JAR, SLF4J_API_JAR) if not os.path.exists(jar)]
    if missing:
        print("SKIP: %s not found (install %s)" % (", ".join(missing), PACKAGES))
        return SKIP
    classpath = [CLIENT_JAR, SLF4J_API_JAR] + ([SLF4J_NOP_JAR] if os.path.exists(SLF4J_NOP_JAR) else [])
    out_dir = build_tree_dir("java_tls")
    failure = compile_if_needed(classpath, out_dir)
    if failure:
        print("FAIL: %s" % failure)
        return 1
    certs = Certs()
    try:
        port = free_port()
        conf = os.path.join(certs.dir, "java.conf")
        with open(conf, "w") as f:
            f.write("listeners.ssl.default = 127.0.0.1:%d\nssl_options.certfile = %s\n"
                    "ssl_options.keyfile = %s\n" % (port, certs.server_cert, certs.server_key))
        proc = start(["--config", conf, "--port", str(free_port()), "--management-port", "0",
                      "--prometheus-port", "0"], port)
        command = ["java", "-cp", os.pathsep.join([out_dir, *classpath]), "TlsInteropTest",
                   str(port), certs.ca, certs.rogue_ca]
        status = run_program(command, "TlsInteropTest", RUN_TIMEOUT_SECONDS)
        stopped = own_broker.stop(proc)
        print("%s: broker exits 0 on SIGTERM" % ("PASS" if stopped == 0 else "FAIL"))
        return status or (stopped != 0)
    finally:
        own_broker.kill_leftovers()
        certs.remove()


if __name__ == "__main__":
    sys.exit(main())
