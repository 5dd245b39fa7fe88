"""What a proposal's written content must say, in one place.

The proposal form checks it field by field (with field errors); the services
check the same rules again before a proposal enters review or is amended, so
a draft made without the form (a script, a shell) cannot skip them.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

from . import policy

# Text that stands in for content without being content.
PLACEHOLDERS = {
    "n/a", "na", "none", "nil", "tbd", "tba", "todo", "to do", "revert", "rollback",
    "roll back", "undo", "same", "see above", "as above", "later", "-", "--", ".", "...", "?",
    "x", "xx", "xxx", "lorem ipsum", "test", "asdf", "nothing", "no", "yes", "ok",
}
_WORD = re.compile(r"\w+", re.UNICODE)


def substantive(text: str, min_words: int, what: str) -> str:
    """Return stripped text, or raise a ValidationError if it is empty or a placeholder."""
    text = (text or "").strip()
    if "\x00" in text:
        raise ValidationError("Remove the NUL character from this text.")
    if not text:
        raise ValidationError(f"Write {what}.")
    lowered = " ".join(text.lower().split()).strip(" .!")
    if lowered in PLACEHOLDERS or lowered.startswith(("lorem ipsum", "tbd", "n/a")):
        raise ValidationError(f'"{text[:40]}" is a placeholder. Write {what}.')
    words = _WORD.findall(text)
    if len(words) < min_words:
        raise ValidationError(
            f"Too short to review: write {what} in at least {min_words} words."
        )
    return text


# field -> (minimum words, what the message asks for)
REQUIRED_TEXT = {
    "title": (3, "a title"),
    "summary": (8, "a summary of what changes and where"),
    "motivation": (8, "why this change is needed"),
    "change": (8, "the change itself: exact configuration, commands or procedure"),
    "components": (1, "the affected components"),
    "risk_assessment": (6, "what could go wrong and how likely it is"),
    "rollback_trigger": (5, "the observable condition that triggers a rollback"),
    "rollback_steps": (8, "the rollback steps, in order"),
    "rollback_verification": (6, "how to verify that the rollback worked"),
}
# Every Ops change (playbook section 1).
ATTESTATION = ("determinism_attestation", 12,
               "why this change cannot affect block production or state transitions, "
               "with the configs and components it touches")
# An emergency change's record, like ITIL's (its risk assessment is in REQUIRED_TEXT).
EMERGENCY_RECORD = {
    "emergency_justification": (8, "why the change cannot wait for a normal review"),
    "on_call": (1, "who is on call"),
}


def problems(proposal) -> list[tuple[str, str]]:
    """(field, message) for every rule of the form that `proposal`'s content breaks; empty if none."""
    rules = dict(REQUIRED_TEXT)
    if proposal.category == policy.OPS:
        rules[ATTESTATION[0]] = ATTESTATION[1:]
    if proposal.emergency:
        rules.update(EMERGENCY_RECORD)
    found = []
    for name, (min_words, what) in rules.items():
        try:
            substantive(getattr(proposal, name), min_words, what)
        except ValidationError as exc:
            found.append((name, " ".join(exc.messages)))
    if proposal.planned_start and proposal.planned_end and \
            proposal.planned_end <= proposal.planned_start:
        found.append(("planned_end", "The window must end after it starts."))
    if not 1 <= (proposal.rollback_minutes or 0) <= 7 * 24 * 60:
        found.append(("rollback_minutes", "Give a rollback duration between 1 minute and 7 days."))
    return found
