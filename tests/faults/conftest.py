"""Fault-injection bookkeeping: every test records the faults it injected and whether the tool
survived them (clear error or correct recovery) without losing a file; pytest prints the tally."""
import subprocess
import time
from dataclasses import dataclass, field

import pytest


@dataclass
class FaultLedger:
    injected: int = 0
    survived: int = 0
    files_lost: int = 0
    outcomes: list = field(default_factory=list)

    def record(self, fault: str, survived: bool, files_lost: int = 0) -> None:
        self.injected += 1
        self.survived += int(survived)
        self.files_lost += files_lost
        self.outcomes.append((fault, survived, files_lost))


LEDGER = FaultLedger()


@pytest.fixture
def faults() -> FaultLedger:
    return LEDGER


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


def pytest_terminal_summary(terminalreporter):
    if LEDGER.injected:
        for fault, survived, lost in LEDGER.outcomes:
            terminalreporter.write_line(f"  fault: {fault}: {'survived' if survived else 'NOT survived'}"
                                        f"{f', {lost} files lost' if lost else ''}")
        terminalreporter.write_line(f"faults: {LEDGER.injected} injected, {LEDGER.survived} survived, "
                                    f"{LEDGER.files_lost} files lost")
