from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "referrals"

    def ready(self):
        # orders and payments sit below referrals: they offer registries instead of importing it.
        from orders.services import checkout_attributor_register
        from payments.services import capture_screen_register
        from referrals.services import checkout_attribution, commissions_screen_card

        checkout_attributor_register(checkout_attribution)
        capture_screen_register(commissions_screen_card)
