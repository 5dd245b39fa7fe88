from django import forms

from qpgov.text import SingleLineTextMixin

from .models import Node


class NodeForm(SingleLineTextMixin, forms.ModelForm):
    class Meta:
        model = Node
        fields = ["name", "environment", "role", "target", "unit", "data_dir"]
