#!/usr/bin/python3
"""Interop test: tools/fixtures/WarrenBroker.java (the JUnit fixture) compiled with
fixtures_java/WarrenBrokerCheck.java against Debian's RabbitMQ Java client, and run."""
import os
import shutil
import subprocess
import sys

from checks import SKIP, TESTS_DIR, build_tree_dir, run_program, stale
from own_broker import WARREN

SOURCES = [os.path.join(os.path.dirname(os.path.dirname(TESTS_DIR)), "tools", "fixtures",
                        "WarrenBroker.java"),
           os.path.join(TESTS_DIR, "fixtures_java", "WarrenBrokerCheck.java")]
CLIENT_JAR = "/usr/share/java/amqp-client.jar"
SLF4J_API_JAR = "/usr/share/java/slf4j-api.jar"
SLF4J_NOP_JAR = "/usr/share/java/slf4j-nop.jar"
COMPILE_TIMEOUT_SECONDS = 120
RUN_TIMEOUT_SECONDS = 60


def main():
    missing = [tool for tool in ("javac", "java") if shutil.which(tool) is None]
    missing += [jar for jar in (CLIENT_JAR, SLF4J_API_JAR) if not os.path.exists(jar)]
    if missing:
        print("SKIP: %s not found (install librabbitmq-client-java default-jdk-headless)"
              % ", ".join(missing))
        return SKIP
    classpath = [CLIENT_JAR, SLF4J_API_JAR] + [j for j in [SLF4J_NOP_JAR] if os.path.exists(j)]
    out_dir = build_tree_dir("java-fixture")
    if stale(os.path.join(out_dir, "WarrenBrokerCheck.class"), SOURCES + classpath):
        os.makedirs(out_dir, exist_ok=True)
        command = ["javac", "-Xlint:all", "-Werror", "-encoding", "UTF-8",
                   "-cp", os.pathsep.join(classpath), "-d", out_dir] + SOURCES
        print("compiling: %s" % " ".join(command), flush=True)
        if subprocess.run(command, stdin=subprocess.DEVNULL,
                          timeout=COMPILE_TIMEOUT_SECONDS).returncode != 0:
            print("FAIL: javac failed")
            return 1
    os.environ["WARREN"] = WARREN
    return run_program(["java", "-cp", os.pathsep.join([out_dir] + classpath), "WarrenBrokerCheck"],
                       "WarrenBrokerCheck", RUN_TIMEOUT_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
