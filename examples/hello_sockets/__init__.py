"""The chapter's HelloSockets application, in Python: sockets and channels only."""
