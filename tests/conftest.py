"""Shared test configuration: Hypothesis profiles.

``HYPOTHESIS_PROFILE=ci`` runs ten times the examples of the default ``dev`` profile. Neither
has a deadline: timings on a shared CI machine vary too much for one to mean anything.
"""

import os

from hypothesis import settings

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile("ci", max_examples=1000, deadline=None, derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
