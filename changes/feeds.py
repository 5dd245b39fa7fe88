from django.contrib.syndication.views import Feed
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed

from .models import State
from .views import public_changes


class PublicChangeFeed(Feed):
    """Atom feed of the public change log: the public line and outcome only."""

    feed_type = Atom1Feed
    title = "Quantumpay mainnet change log"
    subtitle = "Implemented and rolled-back operational changes."

    def link(self):
        return reverse("changes:public")

    def items(self):
        return public_changes()[:50]

    def item_title(self, item):
        outcome = "Rolled back" if item.state == State.ROLLED_BACK else "Implemented"
        return f"{outcome}: {item.public_changelog}"

    def item_description(self, item):
        return f"{item.get_category_display()} change #{item.pk}. {item.public_changelog}"

    def item_link(self, item):
        return reverse("changes:public") + f"#change-{item.pk}"

    def item_pubdate(self, item):
        return item.implemented_at

    def item_updateddate(self, item):
        return item.updated_at
