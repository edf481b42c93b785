"""The kernel: secrets, the secret store, errors, scope, logging and process helpers.

Everything else in keyturn may import from here; nothing here imports anything else of
keyturn (tests/test_layers.py holds it so).
"""
