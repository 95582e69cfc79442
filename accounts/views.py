from allauth.account.views import LoginView


class LoginWithLockoutView(LoginView):
    """allauth's login, answering 429 (not 200) once failed attempts hit the rate limit."""

    def form_invalid(self, form):
        response = super().form_invalid(form)
        codes = {error.code for error in form.non_field_errors().as_data()}
        if "too_many_login_attempts" in codes:
            response.status_code = 429
        return response
