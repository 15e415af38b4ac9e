"""Library internals, fenced: one module per library, each naming the upstream API it relies on.

Nothing outside this package imports a library's private modules; a test per
module (tests/core/test_compat.py) fails loudly when an upgrade changes them.
"""
