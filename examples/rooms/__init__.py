"""Chat rooms with an online list and typing indicators that expire, on Presence.

`presence` declares who is online (keyed by user name, one meta per device, with the
display name fetched in one batch); `channel` tracks the user after join and turns "typing"
pushes into a meta that says so, which expires by itself after `TYPING_FOR` seconds unless the
user keeps typing; `sockets` accepts users by name. Every node of a cluster runs the same
presence, so the list is the same everywhere once the network lets the nodes talk.
"""
