from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "referrals"

    def ready(self):
        # payments sits below referrals: it offers a registry instead of importing it.
        from payments.services import capture_screen_register
        from referrals.services import commissions_screen_card

        capture_screen_register(commissions_screen_card)
