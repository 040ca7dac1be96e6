#!/usr/bin/python3
"""Interop test: runs ruby/bunny_refused_test.rb (Debian's ruby-bunny): connections refused at
connection.open (missing vhost) and at login, many times, each seen as the broker's error."""

import sys

from bunny_test import run_ruby

if __name__ == "__main__":
    sys.exit(run_ruby("bunny_refused_test.rb"))
