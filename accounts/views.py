from allauth.account.views import LoginView
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.forms.forms import NON_FIELD_ERRORS

from accounts.lockout import LOCKED_CODE, LoginLocked, credentials_authenticate, login_retry_after


def _locked(response, form, retry_after: int):
    """Turn a rendered-to-be login form answer into a 429 that says when to retry."""
    form.errors[NON_FIELD_ERRORS] = form.error_class([LoginLocked(retry_after).message])
    response.status_code = 429
    response["Retry-After"] = str(retry_after)
    return response


class LoginWithLockoutView(LoginView):
    """allauth's login, answering 429 (not 200) once failed attempts hit the rate limit."""

    def form_invalid(self, form):
        response = super().form_invalid(form)
        codes = {error.code for error in form.non_field_errors().as_data()}
        if LOCKED_CODE in codes:
            email = form.cleaned_data.get("login") or form.data.get("login", "")
            return _locked(response, form, login_retry_after(self.request, email=str(email)))
        return response


class AdminLoginForm(AdminAuthenticationForm):
    """Django admin's login form, checking the password through the shared lock."""

    retry_after: int | None = None

    def clean(self):
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if email is not None and password:
            try:
                self.user_cache = credentials_authenticate(self.request, email=email, password=password)
            except LoginLocked as exc:
                self.retry_after = exc.retry_after
                raise ValidationError(exc.message, code=LOCKED_CODE) from None
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


def admin_login(request, extra_context=None):
    """The admin login page, answering 429 with Retry-After while the lock holds."""
    response = admin.site.login(request, extra_context)
    form = (getattr(response, "context_data", None) or {}).get("form")
    if form is not None and form.retry_after:
        return _locked(response, form, form.retry_after)
    return response
