"""The transports layer: the ASGI application serving Phoenix's wire protocol to real clients.

WebSocket and LongPoll, the V1 and V2 serializers, the connection state machine that both
share (`_multiplexer.Connection`, which the harness's wire mode drives too), drain, origin
checks and limits. It imports the runtime and never the harness; its public names are
re-exported from `pytest_channels`.
"""
