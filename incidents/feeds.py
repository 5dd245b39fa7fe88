from django.conf import settings
from django.contrib.syndication.views import Feed
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import linebreaks

from qpgov.markdown import render_markdown
from qpgov.site import absolute_url, tag_uri
from qpgov.text import one_line, xml_safe

from . import notices, postmortems
from .models import Notice, Postmortem


class PostmortemFeed(Feed):
    """Atom feed of published post-mortems and their amendments, newest first.

    Bodies go through the one renderer (sanitised, XML-safe); links and ids come
    from settings, not from the request.
    """

    feed_type = Atom1Feed
    title = "Quantumpay mainnet post-mortems"
    subtitle = "Reviewed incident post-mortems and their amendments."

    def link(self):
        return absolute_url(reverse("postmortems:list"))

    def feed_url(self):
        return absolute_url(reverse("postmortems:feed"))

    def feed_guid(self):
        return tag_uri("postmortems")

    def author_name(self):
        return settings.QPGOV_FEED_AUTHOR

    def items(self):
        pms = list(
            postmortems.public_postmortems()
            .only("pk", "title", "body", "slug", "published_at", "content_hash", "state")
            .order_by("-published_at", "-pk")[:50]
        )
        amendments = list(
            postmortems.public_amendments()
            .select_related("postmortem")
            .only("pk", "body", "published_at", "content_hash", "state", "postmortem__title",
                  "postmortem__slug", "postmortem__state", "postmortem__content_hash")
            .order_by("-published_at", "-pk")[:50]
        )
        return sorted(pms + amendments, key=lambda item: item.published_at, reverse=True)[:50]

    def item_title(self, item):
        if isinstance(item, Postmortem):
            return xml_safe(one_line(f"Post-mortem: {item.title}"))
        return xml_safe(one_line(f"Amendment to: {item.postmortem.title}"))

    def item_description(self, item):
        return render_markdown(item.body)

    def item_link(self, item):
        if isinstance(item, Postmortem):
            return absolute_url(item.get_public_url())
        return absolute_url(item.postmortem.get_public_url() + f"#amendment-{item.pk}")

    def item_guid(self, item):
        # Published text never changes (corrections are amendments), so the
        # slug and the amendment's number name it for good.
        if isinstance(item, Postmortem):
            return tag_uri(f"postmortems/{item.slug}")
        return tag_uri(f"postmortems/{item.postmortem.slug}/amendments/{item.pk}")

    item_guid_is_permalink = False

    def item_pubdate(self, item):
        return item.published_at

    def item_updateddate(self, item):
        return item.published_at


class StatusFeed(Feed):
    """Atom feed of published incident notices, newest first; drills never appear.

    Each notice is one entry and never changes (corrections are new notices).
    The body is plain text, escaped, as on the status page.
    """

    feed_type = Atom1Feed
    title = "Quantumpay mainnet status"
    subtitle = "Public notices about incidents on the Quantumpay mainnet, while they are open."

    def link(self):
        return absolute_url(reverse("status:page"))

    def feed_url(self):
        return absolute_url(reverse("status:feed"))

    def feed_guid(self):
        return tag_uri("status")

    def author_name(self):
        return settings.QPGOV_FEED_AUTHOR

    def items(self):
        return list(notices.published()
                    .only("pk", "incident_id", "status", "impact", "title", "body", "published_at")
                    .order_by("-published_at", "-pk")[:50])

    def item_title(self, item: Notice):
        return xml_safe(one_line(f"{item.get_status_display()}: {item.title}"))

    def item_description(self, item: Notice):
        # Plain text, escaped into the HTML summary Django's Atom feed writes.
        return linebreaks(xml_safe(item.body), autoescape=True)

    def item_link(self, item: Notice):
        return notices.public_link(item.incident_id)

    def item_guid(self, item: Notice):
        return tag_uri(f"status/incidents/{item.incident_id}/notices/{item.pk}")

    item_guid_is_permalink = False

    def item_pubdate(self, item: Notice):
        return item.published_at

    def item_updateddate(self, item: Notice):
        return item.published_at

    def item_categories(self, item: Notice):
        return (item.status, f"impact:{item.impact}")
