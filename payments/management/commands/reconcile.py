from django.core.management.base import BaseCommand, CommandError

from payments.services import reconcile


class Command(BaseCommand):
    help = "Prove the books: ledger sums to zero, escrow per order = paid − refunded − released."

    def handle(self, *args, **options):
        report = reconcile()
        self.stdout.write(f"orders checked: {report.checked_orders}")
        self.stdout.write(f"ledger total:   {report.ledger_total}")
        for problem in report.problems:
            self.stdout.write(f"MISMATCH {problem}")
        if not report.ok:
            raise CommandError(f"{len(report.problems)} mismatch(es) found")
        self.stdout.write("OK: the ledger balances and every order's escrow matches.")
