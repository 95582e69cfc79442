from allauth.account.models import EmailAddress

from accounts.models import User


def user_email_mark_verified(*, user: User) -> EmailAddress:
    """Record the user's email as verified and primary: for accounts made by staff, the demo
    or a migration, which never went through sign-up's confirmation email."""
    address, _ = EmailAddress.objects.update_or_create(
        user=user, email=user.email.lower(), defaults={"verified": True, "primary": True}
    )
    return address
