"""Who gets an alert, and whether the configured recipients are usable.

Routing (issue 4):

* case rules → the case's coach; while the coach is absent on that day, the coach's
  substitute; quality staff when there is no substitute or no recipient configured;
* breaches (the "quality" audience of the policy), escalations, audit and staff rules →
  quality staff;
* delivery and sync failures (``OPERATIONS_RULES``) → operations.

Recipients are validated at start (:func:`validate_recipients`); URLs keep their
``${ENV}`` references until :func:`expand_env` runs at send time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

import orjson

from contract.payloads import CoachPayload
from core.config import Recipient, RecipientsSettings
from core.errors import ConfigError
from models.ledger import OPERATIONS_RULES
from notifications.apprise_loader import load_plugins
from notifications.masking import guard_apprise_logs, mask_url
from notifications.policy import PlannedAlert

Role = Literal["coach", "quality", "operations"]
CATCH_ALL_TAGS = frozenset({"all", "always"})
_ENV_REF = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")
_OFF = frozenset({"no", "false", "0", "off", "n", "f"})
log = logging.getLogger("vahti.notifications")


@dataclass(frozen=True, slots=True)
class Target:
    """One Apprise URL of one recipient: the unit the ledger deduplicates on."""

    recipient_key: str  # coach:ID, quality:NAME, operations:NAME
    role: Role
    language: Literal["fi", "sv", "en"]
    url: str  # as configured, ``${ENV}`` references unexpanded

    @property
    def key(self) -> str:
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:12]
        return f"{self.recipient_key}#{digest}"

    @property
    def label(self) -> str:
        return f"{self.recipient_key} {mask_url(self.url)}"


def expand_env(url: str, environ: Mapping[str, str] | None = None, *, where: str = "") -> str:
    """Replace ``${NAME}`` with the environment's value (at send time only)."""
    env = os.environ if environ is None else environ

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env or not env[name]:
            raise ConfigError(f"{where or mask_url(url)}: environment variable {name} is not set")
        return env[name]

    expanded = _ENV_REF.sub(value, url)
    guard_apprise_logs(expanded)  # Apprise logs the URLs it loads (DEBUG): mask them there
    return expanded


def _role_entries(recipients: RecipientsSettings) -> list[tuple[str, Role, Recipient]]:
    entries: list[tuple[str, Role, Recipient]] = [
        (f"coach:{coach_id}", "coach", r) for coach_id, r in recipients.coaches.items()
    ]
    for role, group in (("quality", recipients.quality), ("operations", recipients.operations)):
        for index, r in enumerate(group):
            entries.append((f"{role}:{r.name or index}", role, r))  # type: ignore[arg-type]
    return entries


def targets_of(key: str, role: Role, recipient: Recipient) -> list[Target]:
    return [Target(key, role, recipient.language, url) for url in recipient.urls]


def validate_recipients(
    recipients: RecipientsSettings,
    *,
    known_coach_ids: Collection[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Refuse unknown coach ids, unloadable URLs, empty recipients and catch-all tags."""
    if known_coach_ids is not None:
        unknown = sorted(set(recipients.coaches) - set(known_coach_ids))
        if unknown:
            raise ConfigError(
                f"recipients.coaches: unknown coach id(s) {', '.join(map(repr, unknown))} "
                "(not in any provider's coach list)"
            )
    for key, _role, recipient in _role_entries(recipients):
        for url in recipient.urls:
            where = f"recipients {key} url {mask_url(url)}"
            tags = {
                t.strip().lower()
                for k, v in parse_qsl(urlsplit(url).query)
                if k.lower() in {"tag", "tags"}
                for t in re.split(r"[,\s]+", v)
            }
            if tags & CATCH_ALL_TAGS:
                raise ConfigError(f"{where}: catch-all tag {sorted(tags & CATCH_ALL_TAGS)} refused")
            _warn_if_unverified(url, where)
            load_plugins()
            import apprise  # noqa: PLC0415 - loaded by load_plugins; not at import time

            loaded = apprise.Apprise()
            if not loaded.add(expand_env(url, environ, where=where)):
                raise ConfigError(f"{where}: Apprise cannot load this URL")
            if len(loaded) == 0:
                raise ConfigError(f"{where}: no notification service behind this URL")
            for server in loaded:
                if set(server.tags) & CATCH_ALL_TAGS:
                    raise ConfigError(f"{where}: catch-all tag refused")


_checked: set[str] = set()  # recipients found valid (as JSON, with environment and coach ids)


def check_recipients(
    recipients: RecipientsSettings,
    *,
    coaches: Collection[CoachPayload] | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """:func:`validate_recipients`, done once per process for the same recipients,
    environment and coach ids (``coaches``: the providers' staff; None or empty: coach ids
    are not checked). Every path that plans or sends alerts calls this one."""
    env = os.environ if environ is None else environ
    known = sorted({coach.id for coach in coaches}) if coaches else None
    key = orjson.dumps(
        [recipients.model_dump(mode="json"), sorted(env.items()), known], default=str
    ).decode()
    if key in _checked:
        return
    validate_recipients(recipients, known_coach_ids=known, environ=environ)
    if len(_checked) > 32:
        _checked.clear()
    _checked.add(key)


def _warn_if_unverified(url: str, where: str) -> None:
    """Apprise's own TLS switch (``verify=no``) is explicit in the URL; never silent."""
    query = parse_qsl(urlsplit(url).query)
    if any(k.lower() == "verify" and v.strip().lower() in _OFF for k, v in query):
        log.warning("%s: TLS certificate verification is OFF (verify=no)", where)


def _absent(coach: CoachPayload, on: date) -> bool:
    return any(a.start_on <= on <= a.end_on for a in coach.absent)


class Router:
    """Maps a planned alert to the targets that should receive it."""

    def __init__(
        self, recipients: RecipientsSettings, coaches: Iterable[CoachPayload] = ()
    ) -> None:
        self._recipients = recipients
        self._coaches = {c.id: c for c in coaches}
        entries = _role_entries(recipients)
        self._quality = [t for k, r, rc in entries if r == "quality" for t in targets_of(k, r, rc)]
        self._ops = [t for k, r, rc in entries if r == "operations" for t in targets_of(k, r, rc)]

    @property
    def operations(self) -> list[Target]:
        return list(self._ops)

    @property
    def quality(self) -> list[Target]:
        """Quality staff, or operations when no quality staff is configured."""
        return list(self._quality or self._ops)

    def _coach_targets(self, coach_id: str) -> list[Target]:
        recipient = self._recipients.coaches.get(coach_id)
        return targets_of(f"coach:{coach_id}", "coach", recipient) if recipient else []

    def owner(self, coach_id: str | None, *, on: date) -> list[Target]:
        """The coach, the substitute while the coach is absent, else quality staff."""
        if coach_id is None:
            return self.quality
        coach = self._coaches.get(coach_id)
        if coach is not None and _absent(coach, on):
            substitute = self._coaches.get(coach.substitute_id or "")
            if substitute is None or _absent(substitute, on):
                return self.quality
            return self._coach_targets(substitute.id) or self.quality
        return self._coach_targets(coach_id) or self.quality

    def route(self, alert: PlannedAlert, *, on: date) -> list[Target]:
        """Every target for ``alert``, without duplicates, in a stable order."""
        d = alert.deadline
        if d.rule in OPERATIONS_RULES:
            return self.operations
        found: list[Target] = []
        if "owner" in alert.audience:
            found += self.owner(d.coach_id, on=on) if d.subject_kind == "case" else self.quality
        if "quality" in alert.audience:
            found += self.quality
        unique = {t.key: t for t in found}
        return list(unique.values())
