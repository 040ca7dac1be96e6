#!/usr/bin/python3
"""Interop test: runs ruby/bunny_test.rb (Debian's ruby-bunny) against the broker."""

import os
import shutil
import subprocess
import sys

from checks import SKIP, TESTS_DIR, run_program

TIMEOUT_SECONDS = 60


def bunny_installed(ruby):
    probe = subprocess.run([ruby, "-e", "require 'bunny'"], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=TIMEOUT_SECONDS)
    return probe.returncode == 0


def run_ruby(script):
    """Runs ruby/<script> with warnings on; SKIP without ruby or the bunny gem."""
    ruby = shutil.which("ruby")
    if ruby is None or not bunny_installed(ruby):
        print("SKIP: ruby or the bunny gem is missing (install ruby-bunny)")
        return SKIP
    return run_program([ruby, "-w", os.path.join(TESTS_DIR, "ruby", script)], script,
                       TIMEOUT_SECONDS)


def main():
    return run_ruby("bunny_test.rb")


if __name__ == "__main__":
    sys.exit(main())
