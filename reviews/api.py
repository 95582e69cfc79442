"""Reviews API: a product's or shop's reviews (public, cursor-paginated), my reviewable
lines, create / edit / follow up / reply / vote, and a shop's trust card.

Input is parsed here; every rule (who, when, how many, 1–5 stars, 1,000 characters, six
photos) is checked by reviews.services, whose refusals become the one error format.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.files.storage import default_storage
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from disputes import selectors as dispute_selectors
from disputes.api import PhotosField
from marketplace.api import CursorPagination, MoneyField
from marketplace.web import VISITOR_COOKIE
from reviews import selectors, services
from shops.models import Product, Shop


class ReviewCursorPagination(CursorPagination):
    ordering = selectors.SORTS["newest"]


class HelpfulCursorPagination(CursorPagination):
    ordering = selectors.SORTS["helpful"]


# --- Serializers --------------------------------------------------------------------------


class ReviewOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    product_id = serializers.IntegerField()
    shop_id = serializers.IntegerField()
    reviewer = serializers.CharField(source="reviewer_name")
    stars = serializers.IntegerField()
    score_described = serializers.IntegerField()
    score_service = serializers.IntegerField()
    score_shipping = serializers.IntegerField()
    text = serializers.SerializerMethodField()
    photos = serializers.SerializerMethodField()
    labels = serializers.SerializerMethodField()
    counts_in_rating = serializers.BooleanField()
    is_folded = serializers.BooleanField()
    fold_reason = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    edited_at = serializers.DateTimeField()
    reply = serializers.SerializerMethodField()
    follow_up = serializers.SerializerMethodField()
    helpful_yes = serializers.IntegerField()
    helpful_total = serializers.IntegerField()

    def get_text(self, review) -> str:
        return review.text

    def get_photos(self, review) -> list[dict]:
        thumbs = getattr(review, "photo_thumbs", None) or []
        fulls = getattr(review, "photo_fulls", None) or []
        return [
            {"thumb": default_storage.url(t), "full": default_storage.url(f)}
            for t, f in zip(thumbs, fulls, strict=False)
        ]

    def get_labels(self, review) -> list[str]:
        labels = ["verified_purchase"]
        if review.is_via_share:
            labels.append("bought_through_share")
        if review.connection:
            labels.append("connected_to_shop")
        return labels

    def get_fold_reason(self, review) -> str | None:
        return review.get_fold_reason_display() if review.is_folded else None

    def get_reply(self, review) -> dict | None:
        return {"text": review.reply_text, "at": review.reply_at} if review.reply_at else None

    def get_follow_up(self, review) -> dict | None:
        if review.followup_at is None:
            return None
        reply = None
        if review.followup_reply_at:
            reply = {"text": review.followup_reply_text, "at": review.followup_reply_at}
        return {"text": review.followup_text, "at": review.followup_at, "reply": reply}


class ReviewListQuerySerializer(serializers.Serializer):
    photos = serializers.BooleanField(required=False, default=False, help_text="Only reviews with photos.")
    followups = serializers.BooleanField(required=False, default=False, help_text="Only reviews with a follow-up.")
    sort = serializers.ChoiceField(choices=list(selectors.SORTS), required=False, default="newest")


class ScoresInSerializer(serializers.Serializer):
    # Ranges are the service's rule (one message for pages and API): any integer passes here.
    stars = serializers.IntegerField()
    score_described = serializers.IntegerField()
    score_service = serializers.IntegerField()
    score_shipping = serializers.IntegerField()
    text = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)


class ReviewCreateInSerializer(ScoresInSerializer):
    line_id = serializers.IntegerField()
    is_name_masked = serializers.BooleanField(required=False, default=False)
    photos = PhotosField(required=False, default=list)


class TextInSerializer(serializers.Serializer):
    text = serializers.CharField(trim_whitespace=False)


class ReplyInSerializer(TextInSerializer):
    to_follow_up = serializers.BooleanField(required=False, default=False)


class VoteInSerializer(serializers.Serializer):
    is_helpful = serializers.BooleanField()


class ReviewableLineOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    order_id = serializers.IntegerField()
    product_id = serializers.IntegerField()
    shop = serializers.CharField(source="order.shop.name")
    title = serializers.CharField()
    variant_name = serializers.CharField()
    total = MoneyField(source="total_minor")
    received_at = serializers.DateTimeField(source="order.received_at")


class RatingOutSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    mean = serializers.FloatField(allow_null=True)
    histogram = serializers.DictField(child=serializers.IntegerField())
    excluded_connected = serializers.IntegerField(source="connected")
    excluded_manipulation = serializers.IntegerField(source="manipulation")


class TrustCardOutSerializer(serializers.Serializer):
    shop = serializers.CharField(source="shop.slug")
    level = serializers.IntegerField()
    level_name = serializers.CharField()
    is_trusted = serializers.BooleanField()
    rating = RatingOutSerializer()
    scores = serializers.SerializerMethodField()
    on_time_percent = serializers.FloatField(allow_null=True)
    after_sales_per_100 = serializers.FloatField(allow_null=True)
    disputes_lost_per_100 = serializers.FloatField(allow_null=True)
    median_answer_hours = serializers.FloatField(allow_null=True)
    completed_orders = serializers.SerializerMethodField()
    shop_since = serializers.DateTimeField(source="shop.created_at")
    is_verified = serializers.BooleanField(source="shop.is_verified")
    sanctions = serializers.SerializerMethodField()
    history = serializers.ListField(child=serializers.CharField())

    def get_scores(self, card) -> dict:
        return {k: {"shop": shop, "platform": platform} for k, (shop, platform) in card.scores.items()}

    def get_completed_orders(self, card) -> int:
        return card.figures.get("completed_orders", 0)

    def get_sanctions(self, card) -> list[dict]:
        return [{"kind": s.kind, "reason": s.reason, "ends_at": s.ends_at} for s in card.sanctions]


# --- Views --------------------------------------------------------------------------------


class _ReviewsApi(APIView):
    def handle_exception(self, exc):
        # Service refusals are written for people; keep their words over the generic 403.
        if isinstance(exc, DjangoPermissionDenied) and str(exc):
            exc = exceptions.PermissionDenied(str(exc))
        return super().handle_exception(exc)

    def input(self, serializer_class) -> dict:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def review_response(self, review_id: int, code: int = status.HTTP_200_OK) -> Response:
        return Response(ReviewOutSerializer(selectors.review_get(review_id=review_id)).data, status=code)


class _ReviewListApi(generics.ListAPIView):
    permission_classes = [permissions.AllowAny]
    serializer_class = ReviewOutSerializer

    def params(self) -> dict:
        query = ReviewListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        return {"with_photos": data["photos"], "with_followups": data["followups"], "sort": data["sort"]}

    @property
    def pagination_class(self):
        return HelpfulCursorPagination if self.request.query_params.get("sort") == "helpful" else ReviewCursorPagination

    @extend_schema(parameters=[ReviewListQuerySerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ProductReviewListApi(_ReviewListApi):
    """A product's reviews, newest first (or most helpful), every state shown with its labels."""

    def get_queryset(self):
        product = get_object_or_404(Product, pk=self.kwargs["product_id"])
        return selectors.review_list(product_id=product.pk, **self.params())


class ShopReviewListApi(_ReviewListApi):
    def get_queryset(self):
        shop = get_object_or_404(Shop, slug=self.kwargs["slug"])
        return selectors.review_list(shop_id=shop.pk, **self.params())


class ShopTrustCardApi(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(responses=TrustCardOutSerializer)
    def get(self, request, slug: str):
        shop = get_object_or_404(Shop, slug=slug)
        card = selectors.trust_card(shop=shop, sanctions=dispute_selectors.sanctions_in_force(shop=shop))
        return Response(TrustCardOutSerializer(card).data)


class ReviewableLineListApi(generics.ListAPIView):
    """The caller's received lines that can be reviewed now."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = ReviewableLineOutSerializer
    pagination_class = None

    def get_queryset(self):
        return selectors.reviewable_lines(buyer=self.request.user)[:200]


class ReviewCreateApi(_ReviewsApi):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request={"multipart/form-data": ReviewCreateInSerializer, "application/json": ReviewCreateInSerializer},
        responses={201: ReviewOutSerializer},
    )
    def post(self, request):
        data = self.input(ReviewCreateInSerializer)
        review = services.review_create(buyer=request.user, visitor_id=request.COOKIES.get(VISITOR_COOKIE, ""), **data)
        return self.review_response(review.pk, status.HTTP_201_CREATED)


class ReviewDetailApi(_ReviewsApi):
    """GET a review; PATCH edits it (its buyer, within 24 hours, before a reply); DELETE is
    refused for everyone: reviews are never deleted."""

    permission_classes = [permissions.IsAuthenticatedOrReadOnly]

    @extend_schema(responses=ReviewOutSerializer)
    def get(self, request, review_id: int):
        return self.review_response(review_id)

    @extend_schema(request=ScoresInSerializer, responses=ReviewOutSerializer)
    def patch(self, request, review_id: int):
        get_object_or_404(selectors.review_list(), pk=review_id)
        services.review_edit(review_id=review_id, buyer=request.user, **self.input(ScoresInSerializer))
        return self.review_response(review_id)

    @extend_schema(request=None, responses={405: OpenApiResponse(description=services.NOT_DELETABLE)})
    def delete(self, request, review_id: int):
        get_object_or_404(selectors.review_list(), pk=review_id)
        raise exceptions.MethodNotAllowed("DELETE", detail=services.NOT_DELETABLE)


class ReviewFollowUpApi(_ReviewsApi):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=TextInSerializer, responses=ReviewOutSerializer)
    def post(self, request, review_id: int):
        get_object_or_404(selectors.review_list(), pk=review_id)
        services.review_follow_up(review_id=review_id, buyer=request.user, **self.input(TextInSerializer))
        return self.review_response(review_id)


class ReviewReplyApi(_ReviewsApi):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=ReplyInSerializer, responses=ReviewOutSerializer)
    def post(self, request, review_id: int):
        get_object_or_404(selectors.review_list(), pk=review_id)
        services.review_reply(review_id=review_id, merchant=request.user, **self.input(ReplyInSerializer))
        return self.review_response(review_id)


class ReviewVoteApi(_ReviewsApi):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=VoteInSerializer, responses=ReviewOutSerializer)
    def post(self, request, review_id: int):
        get_object_or_404(selectors.review_list(), pk=review_id)
        services.review_vote(review_id=review_id, user=request.user, **self.input(VoteInSerializer))
        return self.review_response(review_id)
