#!/usr/bin/python3
"""Interop test: compiles java/InteropTest.java against Debian's RabbitMQ Java client and runs it."""

import os
import shutil
import subprocess
import sys

from checks import SKIP, TESTS_DIR, build_tree_dir, run_program, stale

COMPILE_TIMEOUT_SECONDS = 120
RUN_TIMEOUT_SECONDS = 60
SOURCE = os.path.join(TESTS_DIR, "java", "InteropTest.java")
CLIENT_JAR = "/usr/share/java/amqp-client.jar"
SLF4J_API_JAR = "/usr/share/java/slf4j-api.jar"
# Without a binding slf4j prints a warning on every run; nop keeps the output to the checks.
SLF4J_NOP_JAR = "/usr/share/java/slf4j-nop.jar"
PACKAGES = "librabbitmq-client-java default-jdk-headless"


def compile_if_needed(classpath, out_dir):
    """None if the classes are up to date (or were just built), else why the build failed."""
    compiled = os.path.join(out_dir, "InteropTest.class")
    if not stale(compiled, [SOURCE, *classpath]):
        return None
    os.makedirs(out_dir, exist_ok=True)
    command = ["javac", "-Xlint:all", "-Werror", "-encoding", "UTF-8",
               "-cp", os.pathsep.join(classpath), "-d", out_dir, SOURCE]
    print("compiling: %s" % " ".join(command), flush=True)
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
    classpath = [CLIENT_JAR, SLF4J_API_JAR]
    if os.path.exists(SLF4J_NOP_JAR):
        classpath.append(SLF4J_NOP_JAR)
    out_dir = build_tree_dir("java")
    failure = compile_if_needed(classpath, out_dir)
    if failure:
        print("FAIL: %s" % failure)
        return 1
    command = ["java", "-cp", os.pathsep.join([out_dir, *classpath]), "InteropTest"]
    return run_program(command, "InteropTest", RUN_TIMEOUT_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
