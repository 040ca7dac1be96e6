#!/usr/bin/python3
"""Interop test: the protocol-fault scenarios of malformed_test.py that need the messaging model
(queues, exchanges, basic.*); it joins the suite together with that model."""
import sys

from malformed_test import NEEDS_MODEL, scenarios
from rawamqp import run_scenarios

if __name__ == "__main__":
    sys.exit(run_scenarios([s for s in scenarios() if s[0] in NEEDS_MODEL]))
