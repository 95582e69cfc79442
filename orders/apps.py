from django.apps import AppConfig


class OrdersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "orders"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        user_logged_in.connect(_merge_anonymous_cart, dispatch_uid="orders_merge_cart")


def _merge_anonymous_cart(sender, request, user, **kwargs):
    """The anonymous cart follows the buyer into their account (session data survives
    the session-key change that login makes)."""
    from orders import services

    token = request.session.pop("cart_token", None) if request is not None else None
    anonymous = services.cart_for(token=token, create=False)
    if anonymous is not None:
        services.cart_merge(source=anonymous, target=services.cart_for(user=user))
