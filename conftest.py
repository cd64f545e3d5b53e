# Shared fixtures live in tests/fixtures.py so every app's tests/ folder can use them.
pytest_plugins = ["tests.fixtures"]
