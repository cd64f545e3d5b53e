import pytest

# Shared fixtures live in tests/fixtures.py so every app's tests/ folder can use them.
pytest_plugins = ["tests.fixtures"]

# Tests that start server processes, drive a browser or put load on the stores are slow too:
# the fast lane (`-m "not slow"`) skips them without each of them saying so twice.
SLOW_KINDS = ("servers", "browser", "load")


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("slow") is None and any(
            item.get_closest_marker(kind) for kind in SLOW_KINDS
        ):
            item.add_marker(pytest.mark.slow)
