from allauth.account.adapter import DefaultAccountAdapter

from marketplace.clientip import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request) -> str:
        # allauth's own reading raises (a 500) when X-Forwarded-For is shorter than the
        # proxy count; ours falls back to the peer address.
        return client_ip(request)

    def _get_login_attempts_cache_key(self, request, **credentials) -> str:
        # allauth prefixes the Host header, so each accepted host name would get its own
        # count; an account is one lock whichever name reached us.
        return credentials.get("email", credentials.get("username", "")).lower()
