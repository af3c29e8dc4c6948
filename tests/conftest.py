# the shared fixtures live in tests/support (test modules never import each other)
pytest_plugins = ["tests.support.fixtures"]
