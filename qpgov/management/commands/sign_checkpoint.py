from django.core.management.base import BaseCommand, CommandError

from qpgov import checkpoints


class Command(BaseCommand):
    help = "Sign and publish a checkpoint of the event log now, if its head moved since the last one."

    def handle(self, *args, **options):
        try:
            checkpoint = checkpoints.sign_checkpoint()
        except checkpoints.ChainBroken as exc:
            raise CommandError(str(exc)) from None
        if checkpoint is None:
            self.stdout.write("the chain head has not moved since the last checkpoint; nothing signed")
        else:
            self.stdout.write(f"signed checkpoint {checkpoint.number} at event #{checkpoint.size}")
