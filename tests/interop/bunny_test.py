#!/usr/bin/python3
"""Interop test: runs ruby/bunny_test.rb (Debian's ruby-bunny) against the broker."""

import os
import shutil
import subprocess
import sys

SKIP = 77
TIMEOUT_SECONDS = 60
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ruby", "bunny_test.rb")


def bunny_installed(ruby):
    probe = subprocess.run([ruby, "-e", "require 'bunny'"], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=TIMEOUT_SECONDS)
    return probe.returncode == 0


def main():
    ruby = shutil.which("ruby")
    if ruby is None or not bunny_installed(ruby):
        print("SKIP: ruby or the bunny gem is missing (install ruby-bunny)")
        return SKIP
    command = [ruby, "-w", SCRIPT]
    print("running %s" % " ".join(command), flush=True)
    try:
        return subprocess.run(command, stdin=subprocess.DEVNULL,
                              timeout=TIMEOUT_SECONDS).returncode
    except subprocess.TimeoutExpired:
        print("FAIL: bunny_test.rb did not finish within %d s" % TIMEOUT_SECONDS)
        return 1


if __name__ == "__main__":
    sys.exit(main())
