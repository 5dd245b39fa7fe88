from django.conf import settings
from django.contrib.syndication.views import Feed
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import escape

from qpgov.site import absolute_url, tag_uri
from qpgov.text import one_line, xml_safe

from .models import State
from .views import public_changes

# How the feed names an emergency change's ratification.
RATIFICATION = {"pending": "ratification pending", "ratified": "ratified",
                "unratified": "not ratified", "": "its implementation failed"}


class PublicChangeFeed(Feed):
    """Atom feed of the public change log: the public line and outcome only.

    The line is plain text: Atom titles are text constructs, and the summary
    (an HTML construct in Django's Atom) carries it escaped, so markup in it is
    shown, never run. Links and ids come from settings, not from the request.
    """

    feed_type = Atom1Feed
    title = "Quantumpay mainnet change log"
    subtitle = "Implemented and rolled-back operational changes."

    def link(self):
        return absolute_url(reverse("changes:public"))

    def feed_url(self):
        return absolute_url(reverse("changes:public_feed"))

    def feed_guid(self):
        return tag_uri("changes")

    def author_name(self):
        return settings.QPGOV_FEED_AUTHOR

    def items(self):
        return public_changes()[:50]

    def item_title(self, item):
        outcome = "Rolled back" if item.state == State.ROLLED_BACK else "Implemented"
        if item.emergency or item.ratification:
            outcome = f"Emergency change {outcome.lower()} ({RATIFICATION[item.ratification]})"
        return xml_safe(one_line(f"{outcome}: {item.public_changelog}"))

    def item_description(self, item):
        text = f"{item.get_category_display()} change #{item.pk}. {item.public_changelog}"
        return escape(xml_safe(one_line(text)))

    def item_link(self, item):
        return absolute_url(reverse("changes:public") + f"#change-{item.pk}")

    def item_guid(self, item):
        return tag_uri(f"changes/{item.pk}")

    item_guid_is_permalink = False

    def item_pubdate(self, item):
        return item.implemented_at

    def item_updateddate(self, item):
        return item.updated_at
