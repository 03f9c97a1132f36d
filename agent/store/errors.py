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

    code = 4

    def __init__(self, topic: str, base: int | None, current: int | None) -> None:
        super().__init__(
            f"topic '{topic}' moved on: the change was based on revision {base}, "
            f"the current revision is {current}; nothing was written"
        )
        self.topic, self.base, self.current = topic, base, current


class StoreUnavailable(StoreError):
    """The database cannot be opened: unreachable server, refused login, not a database file."""

    def __init__(self, url, exc: Exception) -> None:  # noqa: ANN001 - a SQLAlchemy URL
        where = url.render_as_string(hide_password=True)
        detail = " ".join(str(getattr(exc, "orig", exc)).split())
        if "database is locked" in detail:
            hint = ("another absorb process held it for the whole 30 s wait (a refresh or a "
                    "migration); try again when it finishes")
        elif url.get_backend_name() == "sqlite" and _read_only(url.database):
            hint = ("the store is read-only here (absorb writes to it and beside it on every "
                    "command, even a read): give this user write access to "
                    f"{_read_only(url.database)}, or set ABSORB_HOME to another folder")
        elif url.get_backend_name() == "sqlite":
            hint = ("it is not a SQLite database absorb can open (corrupt or another file?): "
                    "move it aside, or set ABSORB_HOME to another folder")
        else:
            hint = "check ABSORB_DATABASE_URL and that the server is running"
        super().__init__(f"cannot open the database {where}: {detail[:200]}; {hint}")


def _read_only(database: str | None) -> str | None:
    """The file or folder of a SQLite store that this process cannot write, if any: a database
    on a read-only mount or without write permission fails to open with SQLite's "unable to
    open database file", which says nothing about why."""
    import os
    from pathlib import Path

    if not database or database == ":memory:":
        return None
    path = Path(database)
    for candidate in (path, path.parent):
        if candidate.exists() and not os.access(candidate, os.W_OK):
            return str(candidate)
    try:
        if path.parent.exists() and os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return str(path.parent)
    except OSError:
        return None
    return None
