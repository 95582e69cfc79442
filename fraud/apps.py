from django.apps import AppConfig


class FraudConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "fraud"

    def ready(self):
        # fraud is the top layer: the apps below offer registries and it plugs into them.
        from fraud.services import payment_screen
        from payments.services import capture_screen_register

        capture_screen_register(payment_screen)
