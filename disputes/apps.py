from django.apps import AppConfig


class DisputesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "disputes"

    def ready(self):
        from disputes import webhooks
        from payments.services import webhook_handler_register

        webhook_handler_register("charge.dispute.created", webhooks.charge_dispute_created)
        webhook_handler_register("charge.dispute.closed", webhooks.charge_dispute_closed)
