"""The real client IP behind the proxies we trust, and only those.

`X-Forwarded-For` is written by whoever sends the request, so it is read only as far as
our own proxies vouch for it: each proxy appends the address it received the request
from. Without TRUSTED_PROXY_COUNT or TRUSTED_PROXIES the header is ignored and the peer
address (REMOTE_ADDR) is the client.
"""

import ipaddress

from django.conf import settings


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def client_ip(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    count = settings.TRUSTED_PROXY_COUNT
    networks = settings.TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not forwarded or not (count or networks):
        return remote
    # Nearest hop last: what each proxy appended, then the peer that reached us.
    chain = [part.strip() for part in forwarded.split(",")] + [remote]
    if networks:
        for hop in reversed(chain):
            address = _ip(hop)
            if address is None:
                return remote
            if not any(address in network for network in networks):
                return str(address)
        return remote
    # The last `count` hops are our proxies; the one before them is the client.
    if len(chain) <= count:
        return remote
    address = _ip(chain[-(count + 1)])
    return str(address) if address is not None else remote
