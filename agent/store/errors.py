"""Errors the store raises; each message is one line a user can act on."""


class StoreError(Exception):
    """Base class of store errors."""


class NotFound(StoreError):
    pass


class UnknownTopic(NotFound):
    def __init__(self, slug: str) -> None:
        super().__init__(f"unknown topic '{slug}' (see `absorb topics`)")
        self.slug = slug


class ConflictError(StoreError):
    """A writer's base revision is no longer the topic's current one."""

    def __init__(self, topic: str, base: int | None, current: int | None) -> None:
        super().__init__(
            f"topic '{topic}' moved on: the change was based on revision {base}, "
            f"the current revision is {current}; nothing was written"
        )
        self.topic, self.base, self.current = topic, base, current
