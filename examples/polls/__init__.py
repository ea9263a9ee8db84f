"""A poll application that keeps what matters in SQLite, so it survives what the chapter warns about.

`core` decides (pure functions on plain values), `store` remembers (SQLite from the standard
library, one connection per operation, so every vote is on disk once `record` returns), and
`channel` only communicates: it asks the core, writes through the store, and tells clients.
A crashed channel, a dropped client or a restarted node loses only what the channel held in
memory; the votes are in the store, and a rejoin reads them back.
"""
