from django.core.management.base import BaseCommand

from marketplace.demo import DEMO_PASSWORD, LOGINS, demo_all_load


class Command(BaseCommand):
    help = "Load the demo shops, products, people, orders and after-sales cases once; print the demo logins."

    def add_arguments(self, parser):
        parser.add_argument("--logins-only", action="store_true", help="Only print the demo logins.")

    def handle(self, *args, **options):
        if not options["logins_only"]:
            created = demo_all_load()
            self.stdout.write("Demo data loaded." if created else "Demo data already present; left as it is.")
        if options["verbosity"] < 1:
            return
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for role, email in LOGINS.items():
            self.stdout.write(f"  {role:<9} {email}")
