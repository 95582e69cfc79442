"""The money split, written once: merchant = paid − platform fee − commissions.

An order's buyer paid `total_minor` and kept `total_minor − refunded_minor` (the "kept"
amount). The platform fee is kept × the order's fee rate; each line's commission is its
base (shrunk in proportion to what was kept) × the line's rate. Both round down
(marketplace.money.bps_share); the merchant takes the remainder, so the parts always add
up to the whole.

Settlement applies the same rule in SQL, over thousands of orders at once: its SQL
expressions are built here, from the same terms, and tests/payments/test_split.py holds
the Python and the SQL to equal results on random orders.
"""

from dataclasses import dataclass, field

from marketplace.errors import ConflictError
from marketplace.money import bps_share

# Basis points in a whole.
BPS = 10_000


@dataclass
class SettlementParts:
    """Where an order's money goes. merchant + platform + sum(commissions) == paid."""

    paid: int
    platform: int
    commissions: dict[int, int] = field(default_factory=dict)

    @property
    def merchant(self) -> int:
        return self.paid - self.platform - sum(self.commissions.values())


def settlement_parts(order, lines=None, *, refunded_minor: int | None = None) -> SettlementParts:
    """Split what the buyer paid and kept (total − refunded).

    Platform fee and commissions round down (marketplace.money.bps_share); the merchant
    takes the remainder, so the parts always add up to the whole.
    """
    refunded = order.refunded_minor if refunded_minor is None else refunded_minor
    kept = order.total_minor - refunded
    if kept <= 0:
        return SettlementParts(paid=0, platform=0)
    platform = bps_share(kept, order.platform_fee_bps)
    commissions: dict[int, int] = {}
    for line in lines if lines is not None else order.lines.all():
        if line.promoter_id and line.commission_bps:
            # A partial refund shrinks every commission base in proportion (rounded down).
            base = line.commission_base_minor * kept // order.total_minor
            share = bps_share(base, line.commission_bps)
            if share:
                commissions[line.promoter_id] = commissions.get(line.promoter_id, 0) + share
    parts = SettlementParts(paid=kept, platform=platform, commissions=commissions)
    if parts.merchant < 0:
        raise ConflictError(f"Order {order.pk}: fees and commissions exceed what was paid.")
    return parts


# SQL of the same rule. Operands are non-negative bigints, so PostgreSQL's integer division
# (truncating) rounds down as bps_share does.


def platform_fee_sql(*, kept: str, bps: str) -> str:
    """The platform fee of `kept` at `bps`, as settlement_parts computes it."""
    return f"(({kept}) * ({bps}) / {BPS})"


def line_commission_sql(*, base: str, kept: str, total: str, bps: str) -> str:
    """One line's commission as settlement_parts computes it: its base shrunk to what was
    kept (rounded down), at the line's rate (rounded down)."""
    return f"((({base}) * ({kept}) / ({total})) * ({bps}) / {BPS})"


# The platform fee of an order row `o`: what was kept, at the order's rate.
PLATFORM_FEE_SQL = platform_fee_sql(kept="o.total_minor - o.refunded_minor", bps="o.platform_fee_bps")
