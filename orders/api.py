"""Orders API: the caller's cart, checkout, the caller's orders; merchants see their shop's."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api import MoneyField
from marketplace.web import VISITOR_COOKIE
from orders import selectors, services
from orders.models import Order
from payments import services as payment_services
from payments import stripe_client
from shops.models import Shop


class CartItemOutSerializer(serializers.Serializer):
    variant_id = serializers.IntegerField()
    product_id = serializers.IntegerField(source="variant.product_id")
    title = serializers.CharField(source="variant.product.title")
    variant = serializers.CharField(source="variant.name")
    shop = serializers.CharField(source="variant.product.shop.slug")
    quantity = serializers.IntegerField()
    price = MoneyField(source="variant.price_minor")
    price_changed = serializers.SerializerMethodField()

    def get_price_changed(self, item) -> bool:
        return item.price_seen_minor != item.variant.price_minor


class CartItemInSerializer(serializers.Serializer):
    variant_id = serializers.IntegerField(min_value=1)
    quantity = serializers.IntegerField(min_value=1, max_value=services.MAX_QUANTITY)


class QuantitySerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=0, max_value=services.MAX_QUANTITY)


class AcceptedPriceSerializer(serializers.Serializer):
    variant_id = serializers.IntegerField(min_value=1)
    price = MoneyField(help_text="The price the buyer was shown and accepts.")


class CartPricesAcceptInSerializer(serializers.Serializer):
    items = AcceptedPriceSerializer(many=True, allow_empty=False, max_length=200)


class PriceChangeOutSerializer(serializers.Serializer):
    variant_id = serializers.IntegerField()
    price_seen = MoneyField(source="price_seen_minor")
    price = MoneyField(source="price_minor")


class CheckoutInSerializer(serializers.Serializer):
    idempotency_key = serializers.CharField(max_length=64, help_text="A fresh random value per checkout attempt.")
    name = serializers.CharField(max_length=80)
    phone = serializers.CharField(max_length=32)
    address = serializers.CharField(max_length=300)
    city = serializers.CharField(max_length=80)
    postal_code = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")
    visitor_id = serializers.RegexField(
        r"^[0-9A-Za-z]{32}$",
        required=False,
        help_text="The visitor_id that POST /api/v1/shares/<code>/landing/ returned: the purchase is attributed "
        "to that share's promoter, as in the browser (which sends the landing's cookie instead).",
        error_messages={"invalid": "Send the visitor_id the share landing returned (32 letters and digits)."},
    )


class OrderLineOutSerializer(serializers.Serializer):
    title = serializers.CharField()
    variant_name = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = MoneyField(source="unit_price_minor")
    total = MoneyField(source="total_minor")


class OrderOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    group_id = serializers.IntegerField()
    shop = serializers.CharField(source="shop.slug")
    status = serializers.CharField()
    is_held = serializers.BooleanField()
    items = MoneyField(source="items_minor")
    shipping = MoneyField(source="shipping_minor")
    total = MoneyField(source="total_minor")
    refunded = MoneyField(source="refunded_minor", min_minor=0)
    carrier = serializers.CharField()
    tracking_number = serializers.CharField()
    ship_by = serializers.DateTimeField()
    auto_confirm_at = serializers.DateTimeField()
    after_sales_ends_at = serializers.DateTimeField()
    lines = OrderLineOutSerializer(many=True)


class GroupOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    total = MoneyField(source="total_minor")
    payment_intent_client_secret = serializers.CharField(source="payment_client_secret")
    pay_by = serializers.DateTimeField()
    orders = OrderOutSerializer(many=True)


class ShipInSerializer(serializers.Serializer):
    carrier = serializers.CharField(max_length=60)
    tracking_number = serializers.CharField(max_length=60)


class _Buyer(APIView):
    permission_classes = [permissions.IsAuthenticated]

    def cart(self):
        return services.cart_for(user=self.request.user)


class CartApi(_Buyer):
    @extend_schema(responses=CartItemOutSerializer(many=True))
    def get(self, request):
        return Response({"items": CartItemOutSerializer(selectors.cart_lines(self.cart()), many=True).data})


class CartItemsApi(_Buyer):
    @extend_schema(request=CartItemInSerializer, responses={201: CartItemOutSerializer})
    def post(self, request):
        serializer = CartItemInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = services.cart_add(cart=self.cart(), **serializer.validated_data)
        return Response(CartItemOutSerializer(item).data, status=status.HTTP_201_CREATED)


class CartItemDetailApi(_Buyer):
    @extend_schema(request=QuantitySerializer, responses={204: None})
    def patch(self, request, variant_id: int):
        serializer = QuantitySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.cart_set_quantity(cart=self.cart(), variant_id=variant_id, **serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, variant_id: int):
        services.cart_set_quantity(cart=self.cart(), variant_id=variant_id, quantity=0)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CartPricesAcceptApi(_Buyer):
    """Accept new prices of cart items: each listed item takes its current price if it is
    the one given (the price the buyer was shown); an item whose price moved again keeps
    its old one and stays flagged, so checkout refuses it again."""

    @extend_schema(request=CartPricesAcceptInSerializer, responses=CartItemOutSerializer(many=True))
    def post(self, request):
        serializer = CartPricesAcceptInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        cart = self.cart()
        accepted = {item["variant_id"]: item["price"] for item in serializer.validated_data["items"]}
        services.cart_refresh_prices(cart=cart, accepted=accepted)
        return Response({"items": CartItemOutSerializer(selectors.cart_lines(cart), many=True).data})


class CheckoutApi(_Buyer):
    """Place one order group for the whole cart and create its PaymentIntent.

    Repeating a request with the same idempotency_key returns the same group (200). A price
    that changed since the buyer saw it is a 409 listing the changed lines (`changed`); the
    buyer accepts the new prices with CartPricesAcceptApi and checks out again."""

    @extend_schema(request=CheckoutInSerializer, responses={201: GroupOutSerializer, 200: GroupOutSerializer})
    def post(self, request):
        serializer = CheckoutInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        key = data.pop("idempotency_key")
        visitor_id = data.pop("visitor_id", None) or request.COOKIES.get(VISITOR_COOKIE)
        existed = request.user.order_groups.filter(idempotency_key=key).exists()
        try:
            group = services.checkout_from_cart(
                buyer=request.user,
                cart=self.cart(),
                address=services.Address(**data),
                idempotency_key=key,
                visitor_id=visitor_id,
            )
        except services.PriceChanged as exc:
            changed = PriceChangeOutSerializer(exc.changed, many=True).data
            return Response(
                {"error": {"status": 409, "code": exc.code, "message": exc.message, "changed": changed}}, status=409
            )
        try:
            group = payment_services.payment_intent_ensure(group_id=group.pk, placed=group)
        except stripe_client.StripeFailure as exc:
            return Response(
                {"error": {"status": 502, "code": "payment_unavailable", "message": exc.user_message}}, status=502
            )
        group = selectors.group_get_for_buyer(buyer=request.user, group_id=group.pk)
        return Response(
            GroupOutSerializer(group).data, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        )


class OrderListApi(_Buyer):
    @extend_schema(responses=OrderOutSerializer(many=True))
    def get(self, request):
        orders = selectors.order_list_for_buyer(buyer=request.user)[:100]
        return Response({"results": OrderOutSerializer(orders, many=True).data})


class OrderDetailApi(_Buyer):
    @extend_schema(responses=OrderOutSerializer)
    def get(self, request, order_id: int):
        return Response(OrderOutSerializer(selectors.order_get_for_buyer(buyer=request.user, order_id=order_id)).data)


class OrderConfirmApi(_Buyer):
    @extend_schema(request=None, responses=OrderOutSerializer)
    def post(self, request, order_id: int):
        order = selectors.order_get_for_buyer(buyer=request.user, order_id=order_id)
        services.order_confirm_receipt(order_id=order.pk, buyer=request.user)
        return Response(OrderOutSerializer(selectors.order_get_for_buyer(buyer=request.user, order_id=order_id)).data)


class OrderCancelApi(_Buyer):
    @extend_schema(request=None, responses=OrderOutSerializer)
    def post(self, request, order_id: int):
        order = selectors.order_get_for_buyer(buyer=request.user, order_id=order_id)
        payment_services.order_cancel(
            order_id=order.pk, actor=request.user, reason="Cancelled by the buyer before shipping."
        )
        return Response(OrderOutSerializer(selectors.order_get_for_buyer(buyer=request.user, order_id=order_id)).data)


class _Merchant(APIView):
    permission_classes = [permissions.IsAuthenticated]

    def shop(self) -> Shop:
        return get_object_or_404(Shop, owner=self.request.user)


class MerchantOrderListApi(_Merchant):
    @extend_schema(responses=OrderOutSerializer(many=True))
    def get(self, request):
        status_filter = request.query_params.get("status")
        if status_filter and status_filter not in Order.Status.values:
            raise serializers.ValidationError(
                {"status": [f"Unknown status. Use one of: {', '.join(Order.Status.values)}."]}
            )
        orders = selectors.order_list_for_shop(shop=self.shop(), status=status_filter)[:200]
        return Response({"results": OrderOutSerializer(orders, many=True).data})


class MerchantOrderDetailApi(_Merchant):
    @extend_schema(responses=OrderOutSerializer)
    def get(self, request, order_id: int):
        return Response(OrderOutSerializer(selectors.order_get_for_shop(shop=self.shop(), order_id=order_id)).data)


class MerchantOrderShipApi(_Merchant):
    @extend_schema(request=ShipInSerializer, responses=OrderOutSerializer)
    def post(self, request, order_id: int):
        shop = self.shop()
        order = selectors.order_get_for_shop(shop=shop, order_id=order_id)
        serializer = ShipInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.order_ship(order_id=order.pk, merchant=request.user, **serializer.validated_data)
        return Response(OrderOutSerializer(selectors.order_get_for_shop(shop=shop, order_id=order_id)).data)
