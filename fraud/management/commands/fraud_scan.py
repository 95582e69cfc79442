import json

from django.core.management.base import BaseCommand

from fraud.cases import fraud_scan


class Command(BaseCommand):
    help = "Find fraud rings now (as the nightly scan does) and print them; --json prints the flagged account ids."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the flagged account ids as JSON.")

    def handle(self, *args, **options):
        result = fraud_scan()
        if options["json"]:
            self.stdout.write(json.dumps({"flagged": result.flagged, "opened": [c.pk for c in result.opened]}))
            return
        for ring in result.rings:
            links = ", ".join(f"{kind}×{n}" for kind, _, n in ring.links)
            self.stdout.write(f"ring score {ring.score}: accounts {ring.members} linked by {links or '-'}")
        self.stdout.write(f"{len(result.rings)} rings, {len(result.opened)} new cases")
