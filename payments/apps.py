from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PaymentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "payments"

    def ready(self):
        from payments import checks, db_roles  # noqa: F401 - checks register themselves

        post_migrate.connect(db_roles.app_role_grant_after_migrate, sender=self)
