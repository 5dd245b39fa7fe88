from django.contrib.syndication.views import Feed
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed

from qpgov.markdown import render_markdown

from .models import Amendment, Postmortem


class PostmortemFeed(Feed):
    """Atom feed of published post-mortems and their amendments, newest first."""

    feed_type = Atom1Feed
    title = "Quantumpay mainnet post-mortems"
    subtitle = "Reviewed incident post-mortems and their amendments."

    def link(self):
        return reverse("postmortems:list")

    def items(self):
        pms = list(
            Postmortem.objects.filter(state=Postmortem.PUBLISHED)
            .only("pk", "title", "body", "slug", "published_at", "content_hash", "state")
            .order_by("-published_at", "-pk")[:50]
        )
        amendments = list(
            Amendment.objects.filter(state=Amendment.PUBLISHED)
            .select_related("postmortem")
            .only("pk", "body", "published_at", "content_hash", "state", "postmortem__title",
                  "postmortem__slug", "postmortem__state", "postmortem__content_hash")
            .order_by("-published_at", "-pk")[:50]
        )
        return sorted(pms + amendments, key=lambda item: item.published_at, reverse=True)[:50]

    def item_title(self, item):
        if isinstance(item, Postmortem):
            return f"Post-mortem: {item.title}"
        return f"Amendment to: {item.postmortem.title}"

    def item_description(self, item):
        return render_markdown(item.body)

    def item_link(self, item):
        if isinstance(item, Postmortem):
            return item.get_public_url()
        return item.postmortem.get_public_url() + f"#amendment-{item.pk}"

    def item_guid(self, item):
        return f"urn:sha256:{item.content_hash}"

    item_guid_is_permalink = False

    def item_pubdate(self, item):
        return item.published_at

    def item_updateddate(self, item):
        return item.published_at
