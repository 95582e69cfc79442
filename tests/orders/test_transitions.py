"""The table of allowed order transitions is the one every transition obeys."""

import pytest

from marketplace.errors import ConflictError
from orders.models import Order
from orders.services import order_transition
from payments.services.settlement import SETTLEMENT_DUE_SQL, SETTLEMENT_IDS_SQL


def test_every_status_change_is_allowed_by_the_table_or_refused():
    order = Order(status=Order.Status.PAID)
    order_transition(order, Order.Status.SHIPPED, action="shipped")
    assert order.status == Order.Status.SHIPPED
    with pytest.raises(ConflictError, match="cannot be cancelled"):
        order_transition(order, Order.Status.CANCELLED, action="cancelled")
    assert order.status == Order.Status.SHIPPED


def test_terminal_statuses_lead_nowhere():
    for status in (Order.Status.SETTLED, Order.Status.CANCELLED, Order.Status.EXPIRED):
        for target in Order.Status.values:
            with pytest.raises(ConflictError):
                order_transition(Order(status=status), target, action="changed")


def test_the_set_based_statements_take_orders_only_from_the_allowed_statuses():
    # Settlement's selections name the one status an order is settled from.
    assert Order.sources(Order.Status.SETTLED) == [Order.Status.RECEIVED]
    assert f"o.status = '{Order.Status.RECEIVED}'" in SETTLEMENT_DUE_SQL
    assert f"o.status = '{Order.Status.RECEIVED}'" in SETTLEMENT_IDS_SQL
    # Payment takes the orders of a group still waiting for it, which are all unpaid.
    assert Order.sources(Order.Status.PAID) == [Order.Status.PENDING_PAYMENT]
