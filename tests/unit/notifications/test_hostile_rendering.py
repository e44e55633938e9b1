"""A hostile provider's strings rendered into digests and artifacts stay inert (issue 22)."""

from __future__ import annotations

import re
from datetime import date

import pytest

from contract.hetu import contains_identity_code
from flows.artifacts import explanations_markdown, summary_markdown
from flows.outcome import CheckOutcome, ProviderOutcome
from notifications.items import MessageItem
from notifications.messages import LANGUAGES, Message, render_digest
from notifications.policy import PlannedAlert
from notifications.safe_text import case_link, markdown, plain
from notifications.write_ahead import message_item
from pipeline.rows import DeadlineRow
from rules.deadline import Deadline, Status

ORIGINS = {"good": ("https://crm.example.fi",)}
#: The issue's payload: closes the link's parenthesis and adds a phishing link after it.
PHISHING_URL = (
    "https://crm.example.fi/c/1) **Kela: tunnuksesi vanhenee** "
    "[Kirjaudu tästä](https://evil.example/login"
)
MENTIONS = (
    "@channel @here @everyone @all <!channel> <!here> <!everyone> <@U024BE7LH> "
    "<@123456789> <@&987654321> <#C024BE7LH> <at>Boss</at> <users/all>"
)
MENTION_TOKENS = ("@channel", "@here", "@everyone", "@all", "<!", "<@", "<#", "<at>", "<users/")
UNSAFE_CHARS = re.compile("[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
#: A Markdown link or image: "](" not escaped.
LINK = re.compile(r"(?<!\\)\]\(")
IDENTITY_CODE = "131052-308T"  # a well-formed code with a correct check character


def item(subject: str = "TK-1", **kw: object) -> MessageItem:
    base: dict[str, object] = {
        "provider_id": "good",
        "subject_kind": "case",
        "subject": subject,
        "rule": "START-2W",
        "stage": "warn-3",
        "status": "due_soon",
        "urgent": False,
        "due_on": date(2026, 4, 7),
        "days_left": 3,
        "reason": "decision received + 14 d",
        "link": f"https://crm.example.fi/cases/{subject}",
    }
    base.update(kw)
    return MessageItem(**base)  # type: ignore[arg-type]


def bodies(message: Message) -> dict[str, str]:
    return {"markdown": message.markdown, "html": message.html, "text": message.text}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_case_url_closing_the_parenthesis_adds_no_link(language):
    """The phishing payload stays inside the one case link; evil.example is never a link."""
    message = render_digest([item(link=PHISHING_URL)], language=language, link_origins=ORIGINS)
    md_links = re.findall(r"\]\(([^)]*)\)", message.markdown)
    assert len(md_links) == 1
    assert md_links[0].startswith("https://crm.example.fi/c/1%29")
    assert " " not in md_links[0]
    assert re.findall(r'href="([^"]*)"', message.html) == [md_links[0]]
    for body in bodies(message).values():
        assert "https://evil.example" not in body
        assert "**Kela" not in body


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_link_off_the_providers_origins_is_inert_text_in_every_format(language):
    """A case_url on another origin is shown defanged, never linked (nor auto-linkable)."""
    foreign = item(link="https://evil.example/login?next=/kela")
    message = render_digest([foreign], language=language, link_origins=ORIGINS)
    assert not LINK.search(message.markdown)
    assert "href=" not in message.html
    for body in bodies(message).values():
        assert "https://evil.example" not in body
    assert "evil[.]example" in message.text
    assert "evil[.]example" in message.html
    assert "evil\\[.\\]example" in message.markdown
    unconfigured = render_digest([item()], language=language)  # no origins: nothing linked
    assert not LINK.search(unconfigured.markdown)
    assert "href=" not in unconfigured.html


def test_the_configured_origin_is_linked():
    """A link on the provider's origin is the one clickable link, in Markdown and HTML."""
    message = render_digest([item()], language="fi", link_origins=ORIGINS)
    assert "[Avaa asia](https://crm.example.fi/cases/TK-1)" in message.markdown
    assert '<a href="https://crm.example.fi/cases/TK-1">TK-1</a>' in message.html
    other_provider = render_digest([item(provider_id="evil")], language="fi", link_origins=ORIGINS)
    assert not LINK.search(other_provider.markdown)  # another provider's origins never count


@pytest.mark.parametrize("language", LANGUAGES)
def test_mentions_reach_no_chat_service(language):
    """Every service's mention syntax in provider text renders as plain characters."""
    hostile = item(subject=f"TK-1 {MENTIONS}", reason=MENTIONS, provider_id=f"good {MENTIONS}")
    message = render_digest([hostile], language=language, link_origins=ORIGINS)
    for fmt, body in bodies(message).items():
        for token in MENTION_TOKENS:
            assert token not in body, (fmt, token)
    assert "\uff20channel" in message.markdown


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_newline_or_direction_character_in_a_reference_never_reaches_a_message(language):
    """A case_ref with newlines, bidi overrides and zero-width characters stays one line."""
    subject = "TK-1\n### Injected\n- [x](https://evil.example)\u202eTK\u200b\u2066\x07"
    message = render_digest([item(subject=subject)], language=language, link_origins=ORIGINS)
    for body in bodies(message).values():
        assert not UNSAFE_CHARS.search(body.replace("\n", ""))
        injected = [line for line in body.splitlines() if "Injected" in line]
        assert injected
        assert all("TK-1" in line and not line.lstrip().startswith("#") for line in injected)
        assert "https://evil.example" not in body
    assert "\\[x\\]" in message.markdown


def test_identity_codes_in_an_explanation_never_reach_a_rendered_digest():
    """Planned from an explanation quoting an identity code, no format holds one."""
    explanation = (f"first meeting 2026-03-24 + 14 d, client {IDENTITY_CODE}",)
    assert contains_identity_code(explanation[0])  # the detector sees the planted code
    deadline = Deadline(
        subject_kind="case",
        subject="TK-1",
        rule="START-2W",
        status=Status.DUE_SOON,
        due_on=date(2026, 4, 7),
        coach_id="c-001",
        explanation=explanation,
    )
    alert = PlannedAlert("k", "good", deadline, "warn-3", frozenset({"owner"}), False, 3)
    for language in LANGUAGES:
        message = render_digest([message_item(alert)], language=language, link_origins=ORIGINS)
        for body in (*bodies(message).values(), message.title):
            assert not contains_identity_code(body)


def test_safe_text_helpers():
    """plain() folds, strips, breaks mentions and defangs; case_link keeps the origin."""
    assert plain("a\r\n\tb\u2028c\u202e\u200bd") == "a b cd"
    assert plain("@here <!channel>") == "\uff20here \u2039!channel\u203a"
    assert plain("see https://evil.example/x") == "see https[:]//evil[.]example/x"
    assert plain("x" * 500, 10) == "x" * 9 + "\u2026"
    assert markdown("[a](b) *c* `d` #e") == "\\[a\\](b) \\*c\\* \\`d\\` \\#e"
    assert case_link("https://CRM.example.fi:443/c/1", ORIGINS["good"]) == (
        "https://crm.example.fi/c/1",
        None,
    )
    assert case_link("https://user@crm.example.fi/c/1", ORIGINS["good"])[0] is None
    assert case_link("http://crm.example.fi/c/1", ORIGINS["good"])[0] is None
    assert case_link(None, ORIGINS["good"]) == (None, None)


def _row(subject: str, explanation: tuple[str, ...]) -> DeadlineRow:
    return DeadlineRow(
        provider_id="evil",
        subject_kind="case",
        subject=subject,
        rule="START-2W",
        status="breached",
        due_on="2026-04-07",
        days_left=-1,
        office_id="HEL-1",
        reason=explanation[0],
        explanation=explanation,
    )


def test_adhoc_artifact_renders_headings_and_scripts_from_a_provider_inert():
    """`## <script>` and injected headings in a case become escaped text in one heading."""
    rows = [
        _row(
            "## <script>alert(1)</script>",
            (f"line one\n# Injected heading {IDENTITY_CODE}", "[login](https://evil.example)"),
        )
    ]
    text = explanations_markdown(rows, title="Ad-hoc check evil TK-1 on 2026-04-07")
    lines = text.splitlines()
    assert [line for line in lines if line.startswith("#")] == [
        lines[0],
        next(line for line in lines if line.startswith("## ")),
    ]
    assert "<script>" not in text
    assert "\\#\\# \u2039script\u203a" in text
    assert not LINK.search(text)
    assert "https://evil.example" not in text
    assert not UNSAFE_CHARS.search(text.replace("\n", ""))


def test_summary_description_carries_escaped_bounded_provider_error_text():
    """A provider's 500 characters of Markdown land escaped, one line and bounded."""
    error = "PermanentProviderError: **pwned**\n# Heading [click](https://evil.example) " + (
        "x" * 500
    )
    outcome = CheckOutcome(
        today_on="2026-04-07",
        providers=(ProviderOutcome(provider_id="evil", error=error),),
    )
    text = summary_markdown(outcome)
    assert text.startswith("Compliance check for 2026-04-07: provider 'evil': ")
    assert "\n" not in text
    assert "**" not in text.replace("\\*", "")
    assert not LINK.search(text)
    assert "https://evil.example" not in text
    assert len(text) < 400
    assert all(len(line) < 400 and "\n" not in line for line in outcome.problems())
