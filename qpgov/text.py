"""What characters user text may carry, and where.

Single-line fields (titles, the public change-log line, names) go into e-mail
subjects, Atom titles and one-line listings. A CR or LF there breaks an e-mail
header; a C0 control makes an XML document ill-formed. So single-line input
refuses every control character (Unicode category Cc: C0, DEL and C1, including
TAB, CR and LF) and the Unicode line and paragraph separators (Zl, Zp), with a
field error naming the character. Multi-line Markdown keeps its newlines and
tabs; the renderer strips what XML 1.0 forbids from its output instead.
"""

import re
import unicodedata

from django import forms
from django.core.exceptions import ValidationError

_REFUSED_CATEGORIES = {"Cc", "Zl", "Zp"}

# XML 1.0 Char production: everything but C0 controls other than TAB, LF, CR;
# surrogates; U+FFFE and U+FFFF.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _is_refused(char: str) -> bool:
    return unicodedata.category(char) in _REFUSED_CATEGORIES


def refuse_control_characters(value: str) -> None:
    """Validator for single-line text: no control characters and no line breaks of any kind."""
    for char in value or "":
        if _is_refused(char):
            name = unicodedata.name(char, "") or "control character"
            raise ValidationError(
                "Remove the %(name)s (U+%(code)04X): this field is one line of plain text.",
                code="control_character",
                params={"name": name.lower(), "code": ord(char)},
            )


def one_line(text: str) -> str:
    """`text` with every refused character replaced by a space: for headers and other one-line output.

    Defence in depth for text stored before single-line fields refused them.
    """
    return "".join(" " if _is_refused(char) else char for char in text or "")


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 forbids (a feed or page stays well-formed)."""
    return _XML_FORBIDDEN.sub("", text or "")


def is_single_line(field: forms.Field) -> bool:
    return isinstance(field, forms.CharField) and not isinstance(field.widget, forms.Textarea)


class SingleLineTextMixin:
    """Give every single-line CharField of the form `refuse_control_characters`.

    Every form of user input derives from it (tests/test_text_input.py checks
    that), so a field added later is covered without anyone remembering to.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if is_single_line(field) and refuse_control_characters not in field.validators:
                # A copy per form instance (Form deep-copies base_fields), so this
                # never piles up on the class.
                field.validators.append(refuse_control_characters)
