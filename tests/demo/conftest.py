from __future__ import annotations

import pytest

from appointment_pipeline.demo import DemoData, build_demo


@pytest.fixture(scope="module")
def data() -> DemoData:
    """The demo with its default arguments, built in memory once per module."""
    return build_demo()
