#!/usr/bin/python3
"""Interop test: compiles java/InteropTest.java against Debian's RabbitMQ Java client and runs it."""

import os
import shutil
import subprocess
import sys
import tempfile

SKIP = 77
COMPILE_TIMEOUT_SECONDS = 120
RUN_TIMEOUT_SECONDS = 60
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(TESTS_DIR, "java", "InteropTest.java")
CLIENT_JAR = "/usr/share/java/amqp-client.jar"
SLF4J_API_JAR = "/usr/share/java/slf4j-api.jar"
# Without a binding slf4j prints a warning on every run; nop keeps the output to the checks.
SLF4J_NOP_JAR = "/usr/share/java/slf4j-nop.jar"
PACKAGES = "librabbitmq-client-java default-jdk-headless"


def class_dir():
    """Compiled classes go to the build tree, never the source tree (a temporary directory
    when run by hand without BUILDDIR)."""
    build_dir = os.environ.get("BUILDDIR") or os.path.join(
        tempfile.gettempdir(), "warren-interop-%d" % os.getuid())
    return os.path.join(build_dir, "tests", "interop", "java")


def stale(compiled, inputs):
    if not os.path.exists(compiled):
        return True
    built = os.path.getmtime(compiled)
    return any(os.path.getmtime(path) > built for path in inputs)


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
    out_dir = class_dir()
    failure = compile_if_needed(classpath, out_dir)
    if failure:
        print("FAIL: %s" % failure)
        return 1
    command = ["java", "-cp", os.pathsep.join([out_dir, *classpath]), "InteropTest"]
    print("running %s" % " ".join(command), flush=True)
    try:
        return subprocess.run(command, stdin=subprocess.DEVNULL,
                              timeout=RUN_TIMEOUT_SECONDS).returncode
    except subprocess.TimeoutExpired:
        print("FAIL: InteropTest did not finish within %d s" % RUN_TIMEOUT_SECONDS)
        return 1


if __name__ == "__main__":
    sys.exit(main())
