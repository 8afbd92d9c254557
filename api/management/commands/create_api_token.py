from django.core.management.base import BaseCommand, CommandError

from api import services


class Command(BaseCommand):
    help = (
        "Create an API token for a downstream system and print it (only its hash is stored: "
        "copy it now). Revoke tokens in the Django admin."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="the system that will use the token, e.g. 'shop-feed'")

    def handle(self, *args, **opts):
        try:
            row, plain = services.create_token(name=opts["name"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(f"API token #{row.pk} for {row.name} (shown once, keep it secret):")
        self.stdout.write(plain)
