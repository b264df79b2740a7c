"""Shared test configuration: Hypothesis profiles.

``HYPOTHESIS_PROFILE=ci`` runs ten times the examples of the default ``dev`` profile. Neither
has a deadline: timings on a shared CI machine vary too much for one to mean anything.
"""

import os

from hypothesis import settings

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile("ci", max_examples=1000, deadline=None, derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    """Report how many store faults the fault-injection tests injected."""
    import sys

    faults = sys.modules.get("tests.collab.faults")
    if faults is not None and faults.INJECTED:
        total = sum(faults.INJECTED.values())
        per = ", ".join(f"{m} {n}" for m, n in sorted(faults.INJECTED.items()))
        terminalreporter.write_line(f"injected store faults: {total} ({per})")
