"""Who is online in each room: keys are user names, one meta per connected device."""

from __future__ import annotations

from typing import Any

from pytest_channels import Presence

DIRECTORY = {"ada": "Ada Lovelace", "grace": "Grace Hopper", "alan": "Alan Turing"}
"""Stands in for the user table that `fetch` would query once per batch."""


class RoomPresence(Presence):
    """Presence for rooms, with each user's display name added by `fetch`."""

    def fetch(self, topic: str, presences: dict[str, Any]) -> dict[str, Any]:
        names = {key: DIRECTORY.get(key, key) for key in presences}  # one lookup for the whole batch
        return {key: {**presence, "name": names[key]} for key, presence in presences.items()}
