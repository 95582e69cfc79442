"""Referrals API: the caller's shares, the attribution landing, the caller's earnings and payouts."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api import MoneyField, OwnerScopedMixin
from payments.models import Payout
from payments.selectors import promoter_balances
from referrals import selectors, services
from referrals.models import Share
from referrals.views import _share_or_404, landing_click, visitor_cookie_set
from shops.models import Product, Shop


class ShareOutSerializer(serializers.Serializer):
    code = serializers.CharField()
    url = serializers.SerializerMethodField()
    product_id = serializers.IntegerField(allow_null=True)
    shop = serializers.CharField(source="shop.slug", allow_null=True, default=None)
    disclosure = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_url(self, share) -> str:
        return self.context["request"].build_absolute_uri(f"/r/{share.code}")

    def get_disclosure(self, share) -> str:
        return "I earn a commission if you buy through this link."


class ShareInSerializer(serializers.Serializer):
    product_id = serializers.IntegerField(required=False, min_value=1)
    shop = serializers.SlugField(required=False)

    def validate(self, data):
        if ("product_id" in data) == ("shop" in data):
            raise serializers.ValidationError("Send either product_id or shop, not both.")
        return data


class ShareListCreateApi(OwnerScopedMixin, generics.ListAPIView):
    """The caller's share links; POST makes one (or returns the existing one)."""

    owner_lookup = "promoter"
    permission_classes = [permissions.IsAuthenticated]
    serializer_class = ShareOutSerializer
    queryset = Share.objects.select_related("shop")

    @extend_schema(
        request=ShareInSerializer,
        responses={201: ShareOutSerializer},
        examples=[OpenApiExample("Share a product", value={"product_id": 42}, request_only=True)],
    )
    def post(self, request):
        data = ShareInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        product = shop = None
        if "product_id" in data.validated_data:
            product = get_object_or_404(Product.objects.select_related("shop"), pk=data.validated_data["product_id"])
        else:
            shop = get_object_or_404(Shop, slug=data.validated_data["shop"])
        share = services.share_create(promoter=request.user, product=product, shop=shop)
        return Response(ShareOutSerializer(share, context={"request": request}).data, status=201)


class ShareFiguresSerializer(serializers.Serializer):
    code = serializers.CharField(source="share.code")
    clicks = serializers.IntegerField()
    orders = serializers.IntegerField()
    conversion_pct = serializers.FloatField()
    refund_rate_pct = serializers.FloatField()
    commission = MoneyField(source="commission_minor", min_minor=None)


class EarningsSerializer(serializers.Serializer):
    pending = MoneyField(min_minor=None)
    frozen = MoneyField(min_minor=None)
    available = MoneyField(min_minor=None)
    in_transit = MoneyField(min_minor=None)
    paid_out = MoneyField(min_minor=None)
    links = ShareFiguresSerializer(many=True)


class EarningsApi(APIView):
    """The caller's commission balances and per-link figures."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=EarningsSerializer)
    def get(self, request):
        data = {**promoter_balances(user=request.user), "links": selectors.promoter_shares(promoter=request.user)}
        return Response(EarningsSerializer(data).data)


class PayoutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    amount = MoneyField(source="amount_minor")
    status = serializers.CharField()
    failure_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField()


class PayoutListApi(OwnerScopedMixin, generics.ListAPIView):
    """The caller's own payouts as a promoter."""

    owner_lookup = "user"
    permission_classes = [permissions.IsAuthenticated]
    serializer_class = PayoutSerializer
    queryset = Payout.objects.all()


class LandingSerializer(serializers.Serializer):
    target = serializers.CharField()
    promoter = serializers.CharField()
    disclosure = serializers.CharField()
    counted = serializers.BooleanField()
    visitor_id = serializers.CharField(help_text="Send it with the checkout (visitor_id) to attribute the purchase.")


class ShareLandingApi(APIView):
    """An app opening a share link: records the click and sets the attribution cookie,
    exactly as /r/<code> does for a browser."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(request=None, responses=LandingSerializer)
    def post(self, request, code: str):
        share = _share_or_404(code)
        visitor_id, counted = landing_click(request, share)
        target = share.product.get_absolute_url() if share.product else share.shop.get_absolute_url()
        name = share.promoter.public_name
        response = Response(
            LandingSerializer(
                {
                    "target": target,
                    "promoter": name,
                    "disclosure": f"{name} earns a commission if you buy. You pay the same price.",
                    "counted": counted,
                    "visitor_id": visitor_id,
                }
            ).data
        )
        visitor_cookie_set(request, response, visitor_id)
        return response
