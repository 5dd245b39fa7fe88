from django import forms

from qpgov.text import SingleLineTextMixin

from .models import Node


class NodeForm(SingleLineTextMixin, forms.ModelForm):
    class Meta:
        model = Node
        fields = ["name", "environment", "role", "target", "unit", "data_dir",
                  "dedicated_host", "time_sync", "height_url"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Left out of a post (a script written before the field existed), it keeps its default.
        self.fields["time_sync"].required = False
