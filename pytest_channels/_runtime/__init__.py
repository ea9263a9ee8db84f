"""The runtime layer: sockets, channels, PubSub, tokens, Presence, and the clocks they run on.

It knows nothing of pytest, of the harness or of any transport: it runs in production on the
system clock and in tests on a virtual one. The layers above it (`pytest_channels._server`,
`pytest_channels.testing`, the plugin) import it; it imports none of them, which
`tests/test_layers.py` checks. Its public names are re-exported from `pytest_channels`.
"""
