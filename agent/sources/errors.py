"""Errors raised while reading untrusted inputs; each message is one line a user can act on."""

from __future__ import annotations


class SourceError(Exception):
    """An input that cannot be imported; the batch goes on and reports the reason."""

    category = "source"


class TooLarge(SourceError):
    """The input (or what it decompresses to) is over the size cap."""


class Undecodable(SourceError):
    """Bytes that are not text in any encoding we accept."""


class NotAFeed(SourceError):
    """XML that feedparser cannot turn into a single entry."""


class NoMainText(SourceError):
    """An HTML page whose main text could not be found."""


class FetchError(SourceError):
    """A URL that could not be fetched: timeout, HTTP error, redirects, refused target."""


class BlockedTarget(FetchError):
    """A URL that resolves to a private, loopback or otherwise internal address."""


class UnknownFormat(SourceError):
    """A file whose format could not be detected or was not what --format said."""
