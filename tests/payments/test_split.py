"""The money split is written once (payments.split); the SQL settlement runs is built from
it. This holds the two to the same results on the same random orders: more than 10^4 per
run, a seeded batch per example plus orders Hypothesis draws (and shrinks) at the edges."""

import random
from dataclasses import dataclass, field

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace.errors import ConflictError
from payments import split
from payments.services import settlement

pytestmark = pytest.mark.django_db

BATCH = 500
EXAMPLES = 25
# Operands stay within bigint: base × kept ≤ 10^18 for orders up to 10^9 minor units.
MAX_TOTAL = 10**9
PROMOTERS = [11, 12, 13]


@dataclass
class Line:
    promoter_id: int | None
    commission_bps: int
    commission_base_minor: int


@dataclass
class FakeOrder:
    pk: int
    total_minor: int
    refunded_minor: int
    platform_fee_bps: int
    lines: list[Line] = field(default_factory=list)


def _order(pk: int, rnd: random.Random) -> FakeOrder:
    bases = [rnd.choice([1, rnd.randint(1, 10**4), rnd.randint(1, MAX_TOTAL // 8)]) for _ in range(rnd.randint(1, 4))]
    shipping = rnd.choice([0, rnd.randint(0, 2000)])
    total = sum(bases) + shipping
    lines = []
    for base in bases:
        promoter = rnd.choice([None, *PROMOTERS])
        bps = rnd.choice([0, 100, 1000, 3000, 10_000, rnd.randint(0, 10_000)]) if promoter else 0
        lines.append(Line(promoter, bps, base if promoter else 0))
    refunded = rnd.choice([0, 0, total, rnd.randint(0, total)])
    fee = rnd.choice([0, 500, rnd.randint(0, 10_000)])
    return FakeOrder(pk, total, refunded, fee, lines)


@st.composite
def drawn_orders(draw, start: int) -> list[FakeOrder]:
    orders = []
    for i in range(draw(st.integers(0, 20))):
        n = draw(st.integers(1, 3))
        bases = [draw(st.integers(1, MAX_TOTAL // 4)) for _ in range(n)]
        total = sum(bases) + draw(st.integers(0, 5000))
        lines = [
            Line(draw(st.sampled_from(PROMOTERS)), draw(st.integers(0, 10_000)), base)
            if draw(st.booleans())
            else Line(None, 0, 0)
            for base in bases
        ]
        refunded = draw(st.integers(0, total))
        orders.append(FakeOrder(start + i, total, refunded, draw(st.integers(0, 10_000)), lines))
    return orders


def python_split(order: FakeOrder):
    """(kept, platform, commissions by promoter, merchant); merchant None when the rule refuses."""
    try:
        parts = split.settlement_parts(order, order.lines)
    except ConflictError:
        return None
    return parts.paid, parts.platform, parts.commissions, parts.merchant


def sql_split(orders: list[FakeOrder], *, platform_sql: str, line_sql: str) -> dict:
    """The same, computed by PostgreSQL with the expressions settlement embeds, over tables
    whose aliases and columns are settlement's (`o` orders, `s` settling orders, `l` lines)."""
    lines = [(o.pk, line) for o in orders for line in o.lines]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH o AS (
                SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])
                    AS o(id, total_minor, refunded_minor, platform_fee_bps)
            ), s AS (
                SELECT o.id AS order_id, o.total_minor, o.total_minor - o.refunded_minor AS kept,
                       ({platform_sql})::bigint AS platform
                  FROM o
            ), l AS (
                SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])
                    AS l(order_id, promoter_id, commission_bps, commission_base_minor)
            ), c AS (
                SELECT s.order_id, l.promoter_id, sum({line_sql})::bigint AS amount
                  FROM s JOIN l ON l.order_id = s.order_id
                 WHERE s.kept > 0 AND l.promoter_id IS NOT NULL AND l.commission_bps > 0
                 GROUP BY 1, 2
            )
            SELECT s.order_id, s.kept, s.platform, c.promoter_id, c.amount
              FROM s LEFT JOIN c ON c.order_id = s.order_id AND c.amount <> 0
            """,  # noqa: S608 - payments.split's SQL, constants
            [
                [o.pk for o in orders],
                [o.total_minor for o in orders],
                [o.refunded_minor for o in orders],
                [o.platform_fee_bps for o in orders],
                [pk for pk, _ in lines],
                [line.promoter_id for _, line in lines],
                [line.commission_bps for _, line in lines],
                [line.commission_base_minor for _, line in lines],
            ],
        )
        rows = cursor.fetchall()
    found: dict[int, list] = {}
    for order_id, kept, platform, promoter_id, amount in rows:
        entry = found.setdefault(order_id, [kept, platform, {}])
        if promoter_id is not None:
            entry[2][promoter_id] = amount
    result = {}
    for order_id, (kept, platform, commissions) in found.items():
        merchant = kept - platform - sum(commissions.values())
        # Settlement refuses (holds) an order whose fees and commissions exceed what was kept.
        result[order_id] = None if merchant < 0 else (kept, platform, commissions, merchant)
    return result


def mismatches(orders: list[FakeOrder], *, platform_sql: str, line_sql: str) -> list:
    in_sql = sql_split(orders, platform_sql=platform_sql, line_sql=line_sql)
    return [(o, python_split(o), in_sql[o.pk]) for o in orders if python_split(o) != in_sql[o.pk]]


def test_the_settlement_sql_splits_every_order_as_the_python_rule_does():
    compared = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(seed=st.integers(0, 2**32 - 1), edge=drawn_orders(start=BATCH))
    def check(seed, edge):
        rnd = random.Random(seed)
        orders = [_order(pk, rnd) for pk in range(BATCH)] + edge
        assert mismatches(orders, platform_sql=split.PLATFORM_FEE_SQL, line_sql=settlement._LINE_COMMISSION_SQL) == []
        compared.append(len(orders))

    check()
    assert sum(compared) >= 10**4


def test_a_planted_rounding_bug_in_the_sql_is_caught():
    # The control: the platform fee rounded half-up in SQL instead of down.
    rnd = random.Random(7)
    orders = [_order(pk, rnd) for pk in range(BATCH)]
    leaky = "round((o.total_minor - o.refunded_minor) * o.platform_fee_bps / 10000.0)"
    assert mismatches(orders, platform_sql=leaky, line_sql=settlement._LINE_COMMISSION_SQL)
    assert mismatches(orders, platform_sql=split.PLATFORM_FEE_SQL, line_sql=settlement._LINE_COMMISSION_SQL) == []
