"""Writes of the reviews app, by concept.

| module | holds |
|---|---|
| reviews | who may review what and when; edits, follow-ups, replies, votes |
| moderation | staff folds and unfolds, reward-for-review reports |
| credit | the monthly shop credit evaluation into its dated public history |
"""

from reviews.services.credit import CreditRun, month_start, shop_credit_evaluate
from reviews.services.moderation import (
    review_fold,
    review_fold_under_review,
    review_unfold,
    reward_report_close,
    reward_report_create,
)
from reviews.services.reviews import (
    MAX_PHOTOS,
    MAX_TEXT,
    NOT_DELETABLE,
    RECEIVED,
    Forbidden,
    line_refunded_in_full,
    photos_encode,
    review_connection,
    review_create,
    review_edit,
    review_follow_up,
    review_photo_render,
    review_refusal,
    review_reply,
    review_vote,
    visitor_sighting_record,
    wilson_lower_bound,
)

__all__ = [
    "MAX_PHOTOS",
    "MAX_TEXT",
    "NOT_DELETABLE",
    "RECEIVED",
    "CreditRun",
    "Forbidden",
    "line_refunded_in_full",
    "month_start",
    "photos_encode",
    "review_connection",
    "review_create",
    "review_edit",
    "review_fold",
    "review_fold_under_review",
    "review_follow_up",
    "review_photo_render",
    "review_refusal",
    "review_reply",
    "review_unfold",
    "review_vote",
    "reward_report_close",
    "reward_report_create",
    "shop_credit_evaluate",
    "visitor_sighting_record",
    "wilson_lower_bound",
]
