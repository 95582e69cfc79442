"""The nightly ring scan.

1. Link accounts by strong identifiers (device/visitor, card, address, payout
   destination). An identifier carried by more than FRAUD_SHARED_IDENTIFIER_MAX accounts
   (a café's network, a shop's tablet) links nobody; it stays a signal.
2. Connected components of the account×identifier graph (scipy.sparse.csgraph).
3. In each component of at least FRAUD_RING_MIN_ACCOUNTS accounts, the purchase graph of
   its members: buyer → the shop (its owner when the owner is a member) and buyer → the
   promoter of the line, one edge per purchase, weighted FRAUDAR-style by the target's
   degree counted in distinct buyers, 1 / log(degree + 5): buying at a popular shop counts
   for little, camouflage (honest orders at big shops) does not dilute a ring, and a
   brushing farm's repeat orders at its one shop still add up.
4. Greedy peeling (densest subgraph): drop the node of least weighted degree, keep the
   densest block seen. A block of enough accounts whose density (weight per node) reaches
   FRAUD_RING_MIN_SCORE is a ring.

Why scipy and numpy, not networkx: the linking graph has one node per account and
identifier (hundreds of thousands); scipy's components run in C over a sparse matrix,
whereas networkx builds a Python object per node and edge. The peeling works on small
per-component matrices with numpy, so no graph library is needed for it.
"""

import math
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import connection
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from fraud.models import Signal


@dataclass
class Ring:
    members: list[int]
    score: float
    # (kind, value, accounts of the ring that carry it)
    links: list[tuple[str, str, int]] = field(default_factory=list)


def _identifiers() -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """(user ids, identifier codes, identifiers) of every strong link, crowds left out."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT user_id, kind, value FROM fraud_signal WHERE kind = ANY(%(strong)s)
            UNION
            SELECT id, 'payout', stripe_account_id FROM accounts_user WHERE stripe_account_id <> ''
            """,
            {"strong": [str(k) for k in Signal.STRONG]},
        )
        rows = cursor.fetchall()
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), []
    users = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    keys = np.array([f"{r[1]}\x00{r[2]}" for r in rows])
    uniques, codes = np.unique(keys, return_inverse=True)
    counts = np.bincount(codes)
    keep = (counts[codes] >= 2) & (counts[codes] <= settings.FRAUD_SHARED_IDENTIFIER_MAX)
    identifiers = [tuple(u.split("\x00", 1)) for u in uniques.tolist()]
    return users[keep], codes[keep], identifiers


def _components(users: np.ndarray, codes: np.ndarray) -> dict[int, np.ndarray]:
    """Component label → its account ids, for components of enough accounts."""
    if not len(users):
        return {}
    accounts, rows = np.unique(users, return_inverse=True)
    n_acc, n_id = len(accounts), int(codes.max()) + 1
    graph = coo_matrix((np.ones(len(rows), np.int8), (rows, n_acc + codes)), shape=(n_acc + n_id,) * 2)
    _, labels = connected_components(graph, directed=False)
    acc_labels = labels[:n_acc]
    sizes = np.bincount(acc_labels)
    big = np.flatnonzero(sizes >= settings.FRAUD_RING_MIN_ACCOUNTS)
    order = np.argsort(acc_labels, kind="stable")
    sorted_labels = acc_labels[order]
    out = {}
    for label in big:
        lo, hi = np.searchsorted(sorted_labels, [label, label + 1])
        out[int(label)] = accounts[order[lo:hi]]
    return out


def _purchases(account_ids: np.ndarray) -> list[tuple]:
    """(buyer, shop, shop owner, promoter, shop degree, promoter degree) per paid line of these
    buyers; a degree counts the target's distinct buyers."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SET LOCAL jit = off;
            CREATE TEMP TABLE IF NOT EXISTS fraud_scan_buyers (id bigint PRIMARY KEY);
            TRUNCATE fraud_scan_buyers;
            INSERT INTO fraud_scan_buyers SELECT unnest(%(ids)s::bigint[]);
            ANALYZE fraud_scan_buyers;
            """,
            {"ids": account_ids.tolist()},
        )
        cursor.execute(
            """
            WITH lines AS (
                SELECT o.buyer_id, o.shop_id, s.owner_id, l.promoter_id
                  FROM fraud_scan_buyers b
                  JOIN orders_order o ON o.buyer_id = b.id
                  JOIN orders_orderline l ON l.order_id = o.id
                  JOIN shops_shop s ON s.id = o.shop_id
                 WHERE o.status NOT IN ('pending', 'cancelled', 'expired')
            )
            SELECT x.buyer_id, x.shop_id, x.owner_id, x.promoter_id,
                   (SELECT count(DISTINCT o.buyer_id) FROM orders_order o WHERE o.shop_id = x.shop_id),
                   CASE WHEN x.promoter_id IS NULL THEN 0 ELSE
                        (SELECT count(DISTINCT o.buyer_id) FROM orders_orderline l
                           JOIN orders_order o ON o.id = l.order_id WHERE l.promoter_id = x.promoter_id) END
              FROM lines x
            """
        )
        return cursor.fetchall()


def _peel(weights: np.ndarray) -> tuple[np.ndarray, float]:
    """Greedy peeling of a symmetric weight matrix: (mask of the densest block, its density)."""
    n = len(weights)
    alive = np.ones(n, bool)
    degree = weights.sum(axis=1)
    total = degree.sum() / 2
    best, best_alive = total / n, alive.copy()
    for size in range(n, 1, -1):
        node = int(np.argmin(np.where(alive, degree, np.inf)))
        alive[node] = False
        total -= degree[node]
        degree -= weights[:, node]
        density = total / (size - 1)
        if density > best + 1e-12:
            best, best_alive = density, alive.copy()
    return best_alive, float(best)


def rings_find() -> list[Ring]:
    """The rings in the database now (reads only)."""
    users, codes, identifiers = _identifiers()
    components = _components(users, codes)
    if not components:
        return []
    member_of = {int(a): label for label, accounts in components.items() for a in accounts}
    by_component: dict[int, list] = {label: [] for label in components}
    for buyer, shop, owner, promoter, shop_deg, prom_deg in _purchases(np.fromiter(member_of, np.int64)):
        by_component[member_of[buyer]].append((buyer, shop, owner, promoter, shop_deg, prom_deg))
    rings = []
    min_accounts, min_score = settings.FRAUD_RING_MIN_ACCOUNTS, settings.FRAUD_RING_MIN_SCORE
    for label, accounts in components.items():
        purchases = by_component[label]
        if not purchases:
            continue
        members = set(accounts.tolist())
        # Nodes: the members, then the shops whose owners are not members.
        index = {("a", a): i for i, a in enumerate(sorted(members))}
        edges = []
        for buyer, shop, owner, promoter, shop_deg, prom_deg in purchases:
            target = ("a", owner) if owner in members else ("s", shop)
            node = index.setdefault(target, len(index))
            if target[1] != buyer or target[0] == "s":
                edges.append((index[("a", buyer)], node, 1 / math.log(shop_deg + 5)))
            if promoter in members and promoter != buyer:
                edges.append((index[("a", buyer)], index[("a", promoter)], 1 / math.log(prom_deg + 5)))
        if not edges:
            continue
        n = len(index)
        weights = np.zeros((n, n))
        src, dst, w = (np.array(col) for col in zip(*edges, strict=True))
        np.add.at(weights, (src.astype(int), dst.astype(int)), w)
        weights = weights + weights.T
        block, density = _peel(weights)
        ring = sorted(a for (kind, a), i in index.items() if kind == "a" and block[i])
        if len(ring) >= min_accounts and density >= min_score:
            rings.append(Ring(members=ring, score=round(density, 4), links=_links(ring, users, codes, identifiers)))
    return rings


def _links(ring: list[int], users: np.ndarray, codes: np.ndarray, identifiers: list) -> list[tuple[str, str, int]]:
    inside = np.isin(users, ring)
    found, counts = np.unique(codes[inside], return_counts=True)
    return [(*identifiers[c], int(n)) for c, n in zip(found.tolist(), counts.tolist(), strict=True) if n >= 2]
