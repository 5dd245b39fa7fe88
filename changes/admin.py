"""Proposals change only through the app, so every change is checked and logged."""

from django.contrib import admin

from qpgov.admin import ReadOnlyAdmin

from .models import Freeze, Proposal, Revision, Vote


@admin.register(Proposal)
class ProposalAdmin(ReadOnlyAdmin):
    list_display = ("id", "title", "category", "state", "proposer", "deadline")
    list_filter = ("state", "category")
    search_fields = ("title",)


@admin.register(Revision)
class RevisionAdmin(ReadOnlyAdmin):
    list_display = ("proposal", "number", "content_hash", "created_at")


@admin.register(Vote)
class VoteAdmin(ReadOnlyAdmin):
    list_display = ("proposal", "voter", "revision", "choice", "cast_at")


@admin.register(Freeze)
class FreezeAdmin(ReadOnlyAdmin):
    list_display = ("id", "title", "starts_at", "ends_at", "lifted_at", "source")
