"""What request handlers share, one per app: settings, store, pub/sub, authenticator,
the open rooms and the metrics."""

from __future__ import annotations

from dataclasses import dataclass

from collab.auth import Authenticator
from collab.metrics import Metrics
from collab.pubsub.base import PubSub
from collab.registry import Rooms
from collab.settings import Settings
from collab.store.base import Store


@dataclass
class Services:
    """What request handlers share; one per app."""

    settings: Settings
    store: Store
    pubsub: PubSub
    auth: Authenticator
    rooms: Rooms
    metrics: Metrics
