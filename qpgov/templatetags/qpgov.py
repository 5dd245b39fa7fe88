from django import template

from qpgov import wording
from qpgov.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text):
    return render_markdown(text)


@register.filter
def event_title(event):
    """What an event means in words ("step started", not "step_started")."""
    return wording.event_title(getattr(event, "kind", event))


@register.filter
def state_name(state):
    return wording.state_name(state)


@register.filter
def actor_label(event):
    """Who acted, by full name as page headers show people; the stored username otherwise.

    Read `actor` only through select_related("actor"): one query per page, not per event.
    """
    if event.actor_id and "actor" in event._state.fields_cache:
        return event.actor.get_full_name() or event.actor_name
    return event.actor_name
