"""What a request body can be refused for, whichever decoder and transport met it."""

from __future__ import annotations


class MalformedRequest(ValueError):
    """The request body is not a valid export request; answered with 400 / INVALID_ARGUMENT."""


class BodyTooLarge(ValueError):
    """The body, or what it inflates to, is past the size limit; answered with 413."""
