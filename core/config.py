"""Vahti's settings: one TOML file, overridden by ``VAHTI_*`` environment variables.

Never built at import time: call :func:`load_settings`. Validation errors name the key
and the problem (``providers[0].base_url: ...``). Secrets never sit in the file: tokens
come from the environment variable named by ``token_env`` (or a Prefect Secret block),
Apprise URLs may reference ``${ENV_VAR}``.

Environment overrides use ``__`` between levels, e.g. ``VAHTI_DATABASE__URL`` or
``VAHTI_ALERTS__SEND_WINDOW_START``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import ConfigError

DEFAULT_CONFIG = Path("vahti.toml")
_SLUG = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
_PLACEHOLDERS = {"changeme", "change-me", "secret", "token", "xxx", "todo", "placeholder"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    url: str = "sqlite:///vahti.db"
    # rejected provider payloads are deleted this many days after they were received
    rejected_retention_days: Annotated[int, Field(ge=1, le=3650)] = 90

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql+psycopg://", "postgresql://")):
            raise ValueError(
                f"unsupported database url scheme {value.split(':', 1)[0]!r}: "
                "use sqlite:///FILE or postgresql+psycopg://..."
            )
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value


class ProviderSettings(_Section):
    id: Annotated[str, Field(pattern=_SLUG)]
    name: str = ""
    base_url: str
    token_env: Annotated[str | None, Field(pattern=_ENV_NAME)] = None
    token_secret_block: str | None = None  # a Prefect Secret block name
    overrides: dict[str, float | int | bool | None] = Field(default_factory=dict)
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    page_size: Annotated[int, Field(ge=1, le=1000)] = 500
    max_pages: Annotated[int, Field(ge=1)] = 10_000  # a cursor that never ends is bounded
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    verify_tls: bool = True  # switching it off is explicit and logged
    # Limits on what a provider may send (provider-api.md, "Limits"); docs/sync.md
    request_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0  # whole request
    max_body_bytes: Annotated[int, Field(ge=1024)] = 16 * 1024 * 1024  # after decompression
    max_item_bytes: Annotated[int, Field(ge=256)] = 256 * 1024  # one item as JSON
    max_cursor_chars: Annotated[int, Field(ge=16, le=65536)] = 1024
    retry_after_max_seconds: Annotated[float, Field(ge=0, le=3600)] = 300.0  # longer: down
    sync_timeout_seconds: Annotated[float, Field(gt=0, le=86400)] = 900.0  # whole sync
    clock_skew_seconds: Annotated[float, Field(ge=0, le=86400)] = 300.0  # updated_at ahead
    # the only origins a case link may point to (https://host[:port]); other links are
    # shown as inert text, never clickable
    case_link_origins: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("case_link_origins")
    @classmethod
    def _https_origins(cls, values: list[str]) -> list[str]:
        return [link_origin(value) for value in values]

    @field_validator("base_url")
    @classmethod
    def _https_or_loopback(cls, value: str) -> str:
        value = value.rstrip("/")
        if value.startswith("https://"):
            return value
        loopback = re.match(r"^http://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/|$)", value)
        if loopback:
            return value
        raise ValueError(f"{value!r} must be https:// (plain http only for loopback)")

    @model_validator(mode="after")
    def _one_token_source(self) -> ProviderSettings:
        if self.token_env is None and self.token_secret_block is None:
            raise ValueError("set token_env (an environment variable name) or token_secret_block")
        return self

    def token(self, environ: Mapping[str, str] | None = None) -> str:
        """The bearer token, from the environment or a Prefect Secret block."""
        env = os.environ if environ is None else environ
        if self.token_env is not None:
            token = env.get(self.token_env, "")
            if not token:
                raise ConfigError(
                    f"providers[{self.id}].token_env: environment variable {self.token_env} "
                    "is not set"
                )
        else:
            token = _secret_block(str(self.token_secret_block))
        if token.strip().lower() in _PLACEHOLDERS:
            raise ConfigError(f"providers[{self.id}]: the token is a placeholder value")
        return token


class Recipient(_Section):
    """Who gets alerts: Apprise URLs (may hold ``${ENV}`` references) and a language."""

    urls: list[str] = Field(min_length=1)
    language: Literal["fi", "sv", "en"] = "fi"
    name: str = ""  # a label for logs and the ledger, not personal data


class RecipientsSettings(_Section):
    # by provider id, then that provider's coach id: a coach id is the provider's own
    coaches: dict[str, dict[str, Recipient]] = Field(default_factory=dict)
    quality: list[Recipient] = Field(default_factory=list)  # quality staff (laatuvastaava)
    operations: list[Recipient] = Field(default_factory=list)
    file: str | None = None  # optional TOML file holding this section instead

    @model_validator(mode="before")
    @classmethod
    def _no_flat_coaches(cls, data: object) -> object:
        """The flat form ``[recipients.coaches."c-001"]`` (before provider scoping) is
        refused with the exact rewrite: guessing a provider would route one provider's
        alerts to another's coach."""
        coaches = data.get("coaches") if isinstance(data, dict) else None
        if not isinstance(coaches, dict):
            return data
        flat = sorted(
            str(key)
            for key, value in coaches.items()
            if isinstance(value, dict) and ("urls" in value or "language" in value)
        )
        if flat:
            shown = ", ".join(repr(key) for key in flat[:5]) + (" ..." if len(flat) > 5 else "")
            raise ValueError(
                f"coach recipients are keyed by provider since December 2026: {shown} "
                'look like coach ids; rewrite each [recipients.coaches."COACH"] as '
                '[recipients.coaches.PROVIDER_ID."COACH"] (PROVIDER_ID: the id of the '
                "[[providers]] entry whose staff list holds that coach; see docs/alerts.md)"
            )
        return data


class AlertSettings(_Section):
    lead_days: list[Annotated[int, Field(ge=0, le=365)]] = Field(default_factory=lambda: [7, 3, 1])
    send_window_start: Annotated[str, Field(pattern=r"^\d\d:\d\d$")] = "08:00"
    send_window_end: Annotated[str, Field(pattern=r"^\d\d:\d\d$")] = "16:00"
    timezone: str = "Europe/Helsinki"
    breach_repeat: bool = True  # daily repeat to quality staff on working days
    retry_base_minutes: Annotated[int, Field(ge=0)] = 10
    max_attempts_before_operations: Annotated[int, Field(ge=1)] = 3
    resolved_note: bool = True  # one "resolved" note to quality staff after a breach
    claim_lease_minutes: Annotated[int, Field(ge=1)] = 15  # a crashed run's claim expires
    digest_max_items: Annotated[int, Field(ge=1, le=1000)] = 50  # the rest as counts per rule
    # on a provider's first check or after its outage, breaches overdue longer than this
    # go to quality staff as one backlog summary (docs/alerts.md), not one alert each
    backlog_age_days: Annotated[int, Field(ge=0, le=3650)] = 14


class FlowSettings(_Section):
    # provider steps (sync, evaluation) running at once in one process
    provider_steps: Annotated[int, Field(ge=1, le=64)] = 3
    # worker processes the scheduled check's provider checks run in ("auto": one per
    # usable core plus one, none on one core; 0: in the flow's own process,
    # provider_steps at once)
    provider_processes: Annotated[int, Field(ge=0, le=64)] | Literal["auto"] = "auto"
    # a provider check that failed on a transient error (down, 429, 5xx, timeouts: after the
    # client's own retries) is run again after each of these delays (seconds)
    check_retry_delays: list[Annotated[float, Field(ge=0, le=3600)]] = Field(
        default_factory=lambda: [30.0, 120.0], max_length=10
    )
    # one provider check's time (seconds); past it the check is failed and the others'
    # alerts go out; None: the longest provider sync_timeout_seconds plus 5 minutes
    check_timeout_seconds: Annotated[float, Field(gt=0, le=86400)] | None = None
    # where compliance-check runs its provider checks: "local" in its own process (and its
    # worker processes), "pool" as provider-check flow runs any worker of the pool picks up
    fan_out: Literal["local", "pool"] = "local"
    # providers per provider-check flow run in "pool" mode (a run costs a process start)
    shard_size: Annotated[int, Field(ge=1, le=1000)] = 25
    # attempts per shard whose flow run crashed (a lost worker) or got stuck
    shard_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    # the provider-check deployment "pool" mode runs ("flow name/deployment name")
    shard_deployment: str = "provider-check/provider-check"

    def check_timeout(self, providers: list[ProviderSettings]) -> float:
        """``check_timeout_seconds``, or the longest provider sync cap plus 5 minutes."""
        if self.check_timeout_seconds is not None:
            return self.check_timeout_seconds
        longest = max((p.sync_timeout_seconds for p in providers), default=900.0)
        return longest + 300.0


class Settings(_Section):
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    flows: FlowSettings = Field(default_factory=FlowSettings)
    providers: list[ProviderSettings] = Field(default_factory=list)
    recipients: RecipientsSettings = Field(default_factory=RecipientsSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    reports_dir: str = "reports"
    pack: str | None = None  # force one rule pack id; default: the pack in force per trigger

    @model_validator(mode="after")
    def _unique_provider_ids(self) -> Settings:
        seen: set[str] = set()
        for provider in self.providers:
            if provider.id in seen:
                raise ValueError(f"provider id {provider.id!r} appears twice")
            seen.add(provider.id)
        unknown = sorted(set(self.recipients.coaches) - seen)
        if self.providers and unknown:  # without providers (notify-only tools) not checked
            raise ValueError(
                f"recipients.coaches: no provider with id {', '.join(map(repr, unknown))} "
                f"(configured: {', '.join(sorted(seen))})"
            )
        return self

    def provider(self, provider_id: str) -> ProviderSettings:
        for provider in self.providers:
            if provider.id == provider_id:
                return provider
        known = ", ".join(p.id for p in self.providers) or "none"
        raise ConfigError(f"unknown provider {provider_id!r} (configured: {known})")


def config_path(config: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The settings file a flow reads: ``config`` when given, else ``VAHTI_CONFIG`` from the
    environment (each worker's own), else ``vahti.toml`` in the working directory."""
    if config:
        return config
    env = os.environ if environ is None else environ
    return env.get("VAHTI_CONFIG") or str(DEFAULT_CONFIG)


def link_origin(value: str) -> str:
    """``https://host[:port]`` in lower case, or ValueError naming the value."""
    parts = urlsplit(value.strip())
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"case link origin {value!r}: {exc}") from None
    host = parts.hostname or ""
    loopback = parts.scheme == "http" and re.fullmatch(r"127\.\d+\.\d+\.\d+|localhost", host)
    if (parts.scheme != "https" and not loopback) or not host:
        raise ValueError(f"case link origin {value!r} must be https://HOST[:PORT]")
    if parts.username or parts.password or parts.path not in ("", "/") or parts.query:
        raise ValueError(f"case link origin {value!r}: only scheme, host and port (an origin)")
    if parts.fragment:
        raise ValueError(f"case link origin {value!r}: only scheme, host and port (an origin)")
    default = {"https": 443, "http": 80}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def _secret_block(name: str) -> str:
    from prefect.blocks.system import Secret  # noqa: PLC0415 (only when configured)

    value = Secret.load(name).get()  # type: ignore[union-attr]
    return str(value)


def _env_overrides(data: dict[str, object], environ: Mapping[str, str]) -> dict[str, object]:
    """Apply ``VAHTI_SECTION__KEY=value`` on top of the file's data.

    Tables are walked by name; the ``providers`` list by provider id, e.g.
    ``VAHTI_PROVIDERS__DEMO__BASE_URL`` sets ``base_url`` of the provider ``demo``
    (ids compare case-insensitively, as environment names are upper case).
    """
    for name in sorted(environ):
        if not name.startswith("VAHTI_") or "__" not in name:
            continue
        path = name.removeprefix("VAHTI_").lower().split("__")
        node: object = data
        for part in path[:-1]:
            node = _child(node, part, name)
        if not isinstance(node, dict):
            raise ConfigError(f"{name}: {path[-2]!r} is a list; name one of its ids")
        node[path[-1]] = environ[name]
    return data


def _child(node: object, part: str, name: str) -> object:
    """The table ``part`` of ``node``; in a list of tables, the one whose id is ``part``."""
    if isinstance(node, list):
        for item in node:
            if isinstance(item, dict) and str(item.get("id", "")).lower() == part:
                return item
        raise ConfigError(f"{name}: no entry with id {part!r} in the configuration")
    if isinstance(node, dict):
        child = node.setdefault(part, {})
        if isinstance(child, dict | list):
            return child
    raise ConfigError(f"{name}: {part!r} is not a table in the configuration")


def _format_errors(error: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for item in error.errors(include_url=False):
        key = ""
        for part in item["loc"]:
            key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  {key or '(top level)'}: {message}")
    return "\n".join(lines)


def load_settings(
    path: Path | str | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read, merge and validate the settings; raise ConfigError naming the bad key."""
    env = os.environ if environ is None else environ
    config_path = Path(path) if path is not None else Path(env.get("VAHTI_CONFIG", DEFAULT_CONFIG))
    data: dict[str, object] = {}
    if config_path.exists():
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_path}: not valid TOML: {exc}") from exc
    elif path is not None:
        raise ConfigError(f"configuration file {config_path} does not exist")
    recipients = data.get("recipients")
    if isinstance(recipients, dict) and isinstance(recipients.get("file"), str):
        extra = (config_path.parent / recipients["file"]).resolve()
        try:
            loaded = tomllib.loads(extra.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"recipients.file {recipients['file']!r}: {exc}") from exc
        data["recipients"] = {**loaded.get("recipients", loaded), "file": recipients["file"]}
    data = _env_overrides(data, env)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, str(config_path))) from None
