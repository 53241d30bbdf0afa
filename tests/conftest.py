"""Shared test setup: hypothesis profiles.

``dev`` (default) runs the property tests with 100 examples; ``ci`` (``.ci/run`` passes
``--hypothesis-profile=ci``) runs fewer, derandomized examples so the suite stays fast
and reproducible, without dropping any test.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("dev")
