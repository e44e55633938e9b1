"""Vahti's one error hierarchy.

    VahtiError
    ├── ConfigError          settings file or environment is unusable (names the key)
    ├── InputError           an input file or argument is unusable (names the value)
    ├── ProviderError        a provider API call failed (provider, URL without secrets, status)
    │   ├── TransientProviderError   retried: transport errors, 408, 429, 5xx
    │   └── PermanentProviderError   not retried: 401, 403, other 4xx, contract violations
    ├── StoreError           the database refused or is at the wrong schema version
    ├── DeliveryError        an alert could not be delivered (kept pending, retried later)
    └── IncompleteRunError   a flow run ended Failed for the named reasons (its data kept)

Messages say which value was wrong and where, e.g.
``case 'TK-17': first_meeting_on 2025-02-01 is before decision_received_on 2025-03-03``.
"""

from __future__ import annotations

from typing import Any


class VahtiError(Exception):
    """Base of every error Vahti raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable whatever the subclass's __init__ takes (errors travel back from
        # worker processes): the message and the attributes, without calling __init__.
        return _restore, (type(self), self.args, self.__dict__)


def _restore(cls: type[VahtiError], args: tuple[object, ...], state: dict[str, Any]) -> VahtiError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ConfigError(VahtiError):
    """The configuration cannot be used."""


class InputError(VahtiError):
    """An input file or argument cannot be used."""


class ProviderError(VahtiError):
    """A call to a provider's Case API failed.

    Carries the provider id, the URL (never the token) and the HTTP status when any.
    """

    def __init__(self, message: str, *, provider: str, url: str, status: int | None = None) -> None:
        self.provider = provider
        self.url = url
        self.status = status
        where = f"provider {provider!r}: {url}"
        if status is not None:
            where += f" -> HTTP {status}"
        super().__init__(f"{where}: {message}")


class TransientProviderError(ProviderError):
    """Worth retrying: transport failure, 408, 429 or 5xx."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        url: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, url=url, status=status)
        self.retry_after = retry_after


class PermanentProviderError(ProviderError):
    """Never retried: 401, 403, other 4xx, or a response that breaks the contract."""


class StoreError(VahtiError):
    """The database cannot be used as asked."""


class DeliveryError(VahtiError):
    """An alert was not (fully) delivered."""


class IncompleteRunError(VahtiError):
    """A flow run ended Failed for expected, named reasons (a provider down, an alert
    undelivered): the message names each one, ``data`` keeps the run's counts."""

    def __init__(self, message: str, *, data: dict[str, object] | None = None) -> None:
        self.data = data or {}
        super().__init__(message)


def first_line(exc: BaseException, limit: int = 500) -> str:
    """The first line of ``exc``'s message, at most ``limit`` characters: a database driver's
    message goes on with the statement and a link, which a log line or a report need not."""
    return (str(exc).splitlines() or [""])[0][:limit]
