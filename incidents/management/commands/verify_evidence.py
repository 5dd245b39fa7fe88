import hashlib
import json

from django.core.management.base import BaseCommand, CommandError

from incidents import actions
from incidents.models import Incident
from qpgov import wording


def sha256_of(storage, name: str) -> str:
    digest = hashlib.sha256()
    with storage.open(name, "rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


class Command(BaseCommand):
    help = ("Re-hash an incident's stored evidence against its latest manifest, and the "
            "manifest against the hash on the timeline. Exits non-zero naming the bad file.")

    def add_arguments(self, parser):
        parser.add_argument("incident", type=int, help="incident number (INC-N: give N)")

    def handle(self, *args, incident, **options):
        try:
            incident = Incident.objects.get(pk=incident)
        except Incident.DoesNotExist:
            raise CommandError(f"no incident INC-{incident}") from None
        event = actions.latest_manifest_event(incident)
        if event is None:
            raise CommandError(f"INC-{incident.pk} has no evidence manifest yet")
        storage = actions.evidence_storage()
        name = event.data["name"]
        problems = []
        if not storage.exists(name):
            raise CommandError(f"BAD {name}: the manifest is missing from storage")
        if sha256_of(storage, name) != event.revision_hash:
            raise CommandError(f"BAD {name}: the manifest does not match the hash on the "
                               f"timeline (event #{event.seq})")
        with storage.open(name, "rb") as f:
            manifest = json.load(f)
        listed = {entry["name"] for entry in manifest["files"]}
        for entry in manifest["files"]:
            if not storage.exists(entry["name"]):
                problems.append(f"BAD {entry['name']}: missing from storage")
            elif sha256_of(storage, entry["name"]) != entry["sha256"]:
                problems.append(f"BAD {entry['name']}: content does not match its SHA-256")
            else:
                self.stdout.write(f"ok  {entry['name']} {entry['sha256']}")
        for evidence in incident.evidence.exclude(storage_name__in=listed):
            problems.append(f"BAD {evidence.storage_name}: recorded but not in the manifest")
        for evidence in incident.evidence.filter(storage_name__in=listed):
            entry = next(e for e in manifest["files"] if e["name"] == evidence.storage_name)
            if entry["sha256"] != evidence.sha256:
                problems.append(f"BAD {evidence.storage_name}: the record and the manifest "
                                "disagree")
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            raise CommandError(f"evidence verification FAILED for INC-{incident.pk}: "
                               + "; ".join(problems))
        self.stdout.write(f"evidence ok: {wording.count(len(listed), 'file')} match manifest {name} "
                          f"(sha256 {event.revision_hash}, timeline event #{event.seq})")
