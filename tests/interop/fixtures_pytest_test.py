#!/usr/bin/python3
"""Interop test: tools/fixtures/warren_pytest.py in a real pytest run (fixtures_pytest_example.py):
brokers started with --port 0 --ephemeral, found by their READY line, stopped by PID."""
import os
import subprocess
import sys

from checks import SKIP, TESTS_DIR, check, exit_status
from own_broker import WARREN

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(TESTS_DIR)), "tools", "fixtures")
EXAMPLE = os.path.join(TESTS_DIR, "fixtures_pytest_example.py")


def main():
    try:
        import pytest  # noqa: F401  (Debian's python3-pytest)
    except ImportError:
        print("SKIP: pytest is missing (apt-get install python3-pytest)")
        return SKIP
    env = dict(os.environ, WARREN=WARREN, PYTHONPATH=FIXTURES, PYTHONDONTWRITEBYTECODE="1")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "--rootdir", TESTS_DIR, EXAMPLE], env=env, cwd=TESTS_DIR,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, timeout=120, text=True)
    print(result.stdout)
    check(result.returncode == 0, "pytest passes with the fixture (exit %d)" % result.returncode)
    check("3 passed" in result.stdout, "all three example tests ran")
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
