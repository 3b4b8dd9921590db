"""Fault-injection bookkeeping: every test records the faults it injected and whether the tool
survived them (clear error or correct recovery) without losing a file; pytest prints the tally."""
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


def pytest_terminal_summary(terminalreporter):
    if LEDGER.injected:
        for fault, survived, lost in LEDGER.outcomes:
            terminalreporter.write_line(f"  fault: {fault}: {'survived' if survived else 'NOT survived'}"
                                        f"{f', {lost} files lost' if lost else ''}")
        terminalreporter.write_line(f"faults: {LEDGER.injected} injected, {LEDGER.survived} survived, "
                                    f"{LEDGER.files_lost} files lost")
