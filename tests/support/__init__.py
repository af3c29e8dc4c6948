"""What tests share: the one fake host and the inventories it stands on (unit tests), the sandbox
helpers (integration tests) and the fixtures every test gets (registered by tests/conftest.py).

Test modules import from here, never from each other (tests/unit/test_test_layout.py checks it).
"""
