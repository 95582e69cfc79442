from django.core.management.base import BaseCommand

from disputes.demo import demo_cases_load
from orders.demo import demo_orders_load
from reviews.demo import demo_reviews_load
from shops.demo import DEMO_PASSWORD, LOGINS, demo_load


class Command(BaseCommand):
    help = "Load the demo shops, products, people, orders and after-sales cases once; print the demo logins."

    def add_arguments(self, parser):
        parser.add_argument("--logins-only", action="store_true", help="Only print the demo logins.")

    def handle(self, *args, **options):
        if not options["logins_only"]:
            created = demo_load()
            demo_orders_load()
            demo_cases_load()
            demo_reviews_load()
            self.stdout.write("Demo data loaded." if created else "Demo data already present; left as it is.")
        if options["verbosity"] < 1:
            return
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for role, email in LOGINS.items():
            self.stdout.write(f"  {role:<9} {email}")
