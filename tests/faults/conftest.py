"""Helpers of the fault-injection tests (their ledger, `faults`, is in tests/conftest.py: it gathers what
every worker recorded)."""
import subprocess
import time

import pytest


@pytest.fixture
def wait_for():
    """wait_for(condition, proc, timeout): poll until condition() holds (True) or proc ends or time runs out (False)."""

    def wait(condition, proc: subprocess.Popen, timeout: float = 300) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if condition():
                return True
            time.sleep(0.02)
        return False

    return wait
