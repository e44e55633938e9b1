"""Who gets an alert, and whether the configured recipients are usable.

Routing (issue 4):

* case rules → the case's coach; while the coach is absent on that day, the coach's
  substitute; quality staff when there is no substitute or no recipient configured;
  coaches, substitutes and coach recipients are looked up only within the alert's own
  provider (a coach id is the provider's own: ``c-001`` at two providers is two people,
  ``coach:PROVIDER/COACH`` in the ledger);
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
from collections.abc import Collection, Iterable, Mapping, Sequence
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

    recipient_key: str  # coach:PROVIDER/COACH, quality:NAME, operations:NAME
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


def coach_key(provider_id: str, coach_id: str) -> str:
    """A coach's recipient key: the provider's id, then its own coach id."""
    return f"coach:{provider_id}/{coach_id}"


def role_entries(recipients: RecipientsSettings) -> list[tuple[str, Role, Recipient]]:
    """Every configured recipient with its key and role."""
    entries: list[tuple[str, Role, Recipient]] = [
        (coach_key(provider_id, coach_id), "coach", r)
        for provider_id, coaches in recipients.coaches.items()
        for coach_id, r in coaches.items()
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
    known_coach_ids: Mapping[str, Collection[str]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Refuse unknown coach ids, unloadable URLs, empty recipients and catch-all tags.

    ``known_coach_ids``: each provider's coach ids; a provider without a stored staff
    list (never synced) is not checked."""
    for provider_id, coaches in sorted(recipients.coaches.items()):
        known = (known_coach_ids or {}).get(provider_id)
        unknown = sorted(set(coaches) - set(known)) if known else []
        if unknown:
            raise ConfigError(
                f"recipients.coaches.{provider_id}: unknown coach id(s) "
                f"{', '.join(map(repr, unknown))} (not in provider {provider_id!r}'s coach list)"
            )
    for key, _role, recipient in role_entries(recipients):
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
    coaches: Mapping[str, Sequence[CoachPayload]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """:func:`validate_recipients`, done once per process for the same recipients,
    environment and coach ids (``coaches``: each provider's staff; None or empty: coach
    ids are not checked). Every path that plans or sends alerts calls this one."""
    env = os.environ if environ is None else environ
    known = (
        {pid: sorted({c.id for c in staff}) for pid, staff in sorted(coaches.items()) if staff}
        if coaches
        else None
    )
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
        self,
        recipients: RecipientsSettings,
        staff: Mapping[str, Iterable[CoachPayload]] | None = None,
    ) -> None:
        """``staff``: each provider's coaches, by provider id."""
        self._recipients = recipients
        self._staff = {pid: {c.id: c for c in coaches} for pid, coaches in (staff or {}).items()}
        entries = role_entries(recipients)
        self._quality = [t for k, r, rc in entries if r == "quality" for t in targets_of(k, r, rc)]
        self._ops = [t for k, r, rc in entries if r == "operations" for t in targets_of(k, r, rc)]

    @property
    def operations(self) -> list[Target]:
        return list(self._ops)

    @property
    def quality(self) -> list[Target]:
        """Quality staff, or operations when no quality staff is configured."""
        return list(self._quality or self._ops)

    def _coach_targets(self, provider_id: str, coach_id: str) -> list[Target]:
        recipient = self._recipients.coaches.get(provider_id, {}).get(coach_id)
        key = coach_key(provider_id, coach_id)
        return targets_of(key, "coach", recipient) if recipient else []

    def owner(self, provider_id: str, coach_id: str | None, *, on: date) -> list[Target]:
        """The provider's coach, the same provider's substitute while the coach is absent,
        else quality staff."""
        if coach_id is None:
            return self.quality
        coaches = self._staff.get(provider_id, {})
        coach = coaches.get(coach_id)
        if coach is not None and _absent(coach, on):
            substitute = coaches.get(coach.substitute_id or "")
            if substitute is None or _absent(substitute, on):
                return self.quality
            return self._coach_targets(provider_id, substitute.id) or self.quality
        return self._coach_targets(provider_id, coach_id) or self.quality

    def route(self, alert: PlannedAlert, *, on: date) -> list[Target]:
        """Every target for ``alert``, without duplicates, in a stable order."""
        d = alert.deadline
        if d.rule in OPERATIONS_RULES:
            return self.operations
        found: list[Target] = []
        if "owner" in alert.audience:
            found += (
                self.owner(alert.provider_id, d.coach_id, on=on)
                if d.subject_kind == "case"
                else self.quality
            )
        if "quality" in alert.audience:
            found += self.quality
        unique = {t.key: t for t in found}
        return list(unique.values())
