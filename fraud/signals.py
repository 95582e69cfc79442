"""Identifiers, normalised and hashed before they are stored: a keyed hash matches equal
values without keeping the value (no raw IP, email or card data in fraud tables)."""

import hashlib
import hmac
import ipaddress
import re

from django.conf import settings

_GMAIL = {"gmail.com", "googlemail.com"}


def email_normalize(email: str) -> str:
    """Case, +tags, and Gmail's ignored dots: one mailbox, one value."""
    local, _, domain = email.strip().lower().partition("@")
    local = local.split("+", 1)[0]
    if domain in _GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}" if domain else local


def address_normalize(address: str, city: str = "") -> str:
    text = f"{address} {city}".lower()
    return " ".join(re.findall(r"[^\W_]+", text))


def phone_normalize(phone: str) -> str:
    return re.sub(r"\D", "", phone)[-11:]


def ip_truncate(ip: str) -> str:
    """A /24 (IPv4) or /48 (IPv6) network: enough to see one café, not one person."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def user_agent_family(user_agent: str) -> str:
    ua = user_agent.lower()
    for family in ("edg", "chrome", "firefox", "safari", "micromessenger", "curl", "bot"):
        if family in ua:
            return family
    return "other" if ua else ""


NORMALIZERS = {
    "email": email_normalize,
    "phone": phone_normalize,
    "ip": ip_truncate,
    "user_agent": user_agent_family,
}


def identifier_hash(kind: str, value: str) -> str:
    """The stored form of a normalised identifier; empty values stay empty."""
    if not value:
        return ""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:40]
