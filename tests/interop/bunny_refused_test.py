#!/usr/bin/python3
"""Interop test: runs ruby/bunny_refused_test.rb (Debian's ruby-bunny): connections refused at
connection.open (missing vhost) and at login, many times, each seen as the broker's error."""

import os
import shutil
import sys

from bunny_test import bunny_installed
from checks import SKIP, TESTS_DIR, run_program

TIMEOUT_SECONDS = 60
SCRIPT = os.path.join(TESTS_DIR, "ruby", "bunny_refused_test.rb")


def main():
    ruby = shutil.which("ruby")
    if ruby is None or not bunny_installed(ruby):
        print("SKIP: ruby or the bunny gem is missing (install ruby-bunny)")
        return SKIP
    return run_program([ruby, "-w", SCRIPT], "bunny_refused_test.rb", TIMEOUT_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
