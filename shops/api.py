"""Catalog API: public reads, and merchant writes scoped to the caller's own shop.

Longer than 400 lines: one view and its serializers per operation, for the whole catalog.
"""

from django.conf import settings
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api import MoneyField, OffsetPagination, OffsetQuerySerializer
from shops import selectors, services
from shops.images import ImageRejected
from shops.models import Category, Product, ProductPhoto, Shop

# --- Serializers ------------------------------------------------------------------------


class ShopOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    is_verified = serializers.BooleanField()
    status = serializers.CharField()
    shipping_fee = MoneyField(source="shipping_fee_minor")
    return_policy = serializers.CharField()
    shipping_regions = serializers.CharField()
    logo_url = serializers.SerializerMethodField()

    def get_logo_url(self, shop) -> str | None:
        return shop.logo.url if shop.logo else None


class CategorySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    parent_id = serializers.IntegerField(allow_null=True)


class ProductCardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    price = MoneyField(source="price_minor")
    price_minor = serializers.IntegerField()
    compare_at_price = MoneyField(source="compare_at_price_minor", allow_null=True)
    currency = serializers.SerializerMethodField()
    in_stock = serializers.SerializerMethodField()
    shop = serializers.SerializerMethodField()
    image_url = serializers.SerializerMethodField()

    def get_currency(self, obj) -> str:
        return settings.MARKETPLACE_CURRENCY

    def get_in_stock(self, obj) -> bool:
        return obj.stock_total > 0

    def get_shop(self, obj) -> dict:
        return {"slug": obj.shop.slug, "name": obj.shop.name, "is_verified": obj.shop.is_verified}

    def get_image_url(self, obj) -> str | None:
        photo = obj.cover_photo
        return photo.card.url if photo is not None and photo.status == ProductPhoto.Status.READY else None


class VariantOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    sku = serializers.CharField()
    price = MoneyField(source="price_minor")
    stock = serializers.IntegerField()
    is_active = serializers.BooleanField(help_text="False once archived: no longer for sale.")


class PhotoOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    position = serializers.IntegerField()
    status = serializers.CharField()
    thumb_url = serializers.SerializerMethodField()
    card_url = serializers.SerializerMethodField()
    full_url = serializers.SerializerMethodField()

    def _url(self, photo, name):
        field = getattr(photo, name)
        return field.url if photo.status == ProductPhoto.Status.READY and field else None

    def get_thumb_url(self, photo) -> str | None:
        return self._url(photo, "thumb")

    def get_card_url(self, photo) -> str | None:
        return self._url(photo, "card")

    def get_full_url(self, photo) -> str | None:
        return self._url(photo, "full")


class ProductDetailSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    status = serializers.CharField()
    category_id = serializers.IntegerField(allow_null=True)
    price = MoneyField(source="price_minor")
    compare_at_price = MoneyField(source="compare_at_price_minor", allow_null=True)
    currency = serializers.SerializerMethodField()
    commission_bps = serializers.IntegerField()
    is_no_reason_return = serializers.BooleanField()
    weight_grams = serializers.IntegerField()
    shop = ShopOutSerializer()
    variants = VariantOutSerializer(many=True)
    photos = PhotoOutSerializer(many=True)

    def get_currency(self, obj) -> str:
        return settings.MARKETPLACE_CURRENCY


class ShopInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    slug = serializers.SlugField(max_length=60, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    contact = serializers.CharField(required=False, allow_blank=True, max_length=200)
    return_policy = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    shipping_regions = serializers.CharField(required=False, allow_blank=True, max_length=300)
    shipping_fee = MoneyField(source="shipping_fee_minor", min_minor=0, required=False)


def _commission_field(**kwargs):
    return serializers.IntegerField(
        min_value=settings.MARKETPLACE_COMMISSION_MIN_BPS,
        max_value=settings.MARKETPLACE_COMMISSION_MAX_BPS,
        help_text="Commission for sharers in basis points (100 = 1%), within the platform bounds.",
        **kwargs,
    )


class ProductInSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    category_id = serializers.PrimaryKeyRelatedField(
        source="category", queryset=Category.objects.all(), required=False, allow_null=True
    )
    price = MoneyField(source="price_minor")
    compare_at_price = MoneyField(source="compare_at_price_minor", required=False, allow_null=True)
    commission_bps = _commission_field()
    is_no_reason_return = serializers.BooleanField(required=False, default=True)
    weight_grams = serializers.IntegerField(required=False, min_value=0, max_value=1_000_000, default=0)
    stock = serializers.IntegerField(min_value=0, max_value=10_000_000, default=0)
    sku = serializers.CharField(required=False, allow_blank=True, max_length=64)


class ProductPatchSerializer(ProductInSerializer):
    stock = None
    sku = None
    is_no_reason_return = serializers.BooleanField(required=False)
    weight_grams = serializers.IntegerField(required=False, min_value=0, max_value=1_000_000)


class VariantInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    sku = serializers.CharField(max_length=64)
    price = MoneyField(source="price_minor")
    stock = serializers.IntegerField(min_value=0, max_value=10_000_000)


class StatusInSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Product.Status.choices)


class PhotoInSerializer(serializers.Serializer):
    file = serializers.FileField()


# --- Public reads -----------------------------------------------------------------------


class ShopListApi(generics.ListAPIView):
    permission_classes = [permissions.AllowAny]
    serializer_class = ShopOutSerializer
    queryset = Shop.objects.filter(status=Shop.Status.ACTIVE)


class ShopDetailApi(generics.RetrieveAPIView):
    permission_classes = [permissions.AllowAny]
    serializer_class = ShopOutSerializer
    queryset = Shop.objects.all()
    lookup_field = "slug"


class CategoryListApi(generics.ListAPIView):
    permission_classes = [permissions.AllowAny]
    serializer_class = CategorySerializer
    pagination_class = None
    queryset = Category.objects.all()


class ProductQuerySerializer(serializers.Serializer):
    category = serializers.SlugField(
        required=False, allow_blank=True, max_length=80, help_text="Category slug (with its subcategories)."
    )
    min_price = MoneyField(required=False, min_minor=0, blank_is_absent=True, help_text='Lowest price, e.g. "10.00".')
    max_price = MoneyField(required=False, min_minor=0, blank_is_absent=True, help_text='Highest price, e.g. "99.50".')


class ProductSearchQuerySerializer(ProductQuerySerializer):
    q = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="Words to find; typos are tolerated."
    )


class ProductCardPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ProductCardSerializer(many=True)


def _product_query(request, serializer_class=ProductQuerySerializer) -> dict:
    """The catalog filters, checked: a NUL byte or "abc" for a price is a 400, not a 500."""
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    data = query.validated_data
    category_ids = None
    if data.get("category"):
        category_ids = selectors.category_descendant_ids(get_object_or_404(Category, slug=data["category"]))
    return {"category_ids": category_ids, "min_price": data.get("min_price"), "max_price": data.get("max_price")}


@extend_schema(parameters=[ProductQuerySerializer])
class ProductListApi(generics.ListAPIView):
    """Active products of shops in good standing, newest first."""

    permission_classes = [permissions.AllowAny]
    serializer_class = ProductCardSerializer

    def list(self, request, *args, **kwargs):
        # Cached per catalog version, like the HTML grid: any catalog write retires it.
        key = services.catalog_cache_key(request.path, request.query_params)
        data = services.catalog_cache_get(key)
        if data is None:
            data = super().list(request, *args, **kwargs).data
            services.catalog_cache_set(key, data, services.GRID_TTL)
        return Response(data)

    def get_queryset(self):
        return selectors.product_list_public(**_product_query(self.request)).order_by("-id")


@extend_schema(parameters=[ProductSearchQuerySerializer])
class ProductSearchApi(generics.ListAPIView):
    permission_classes = [permissions.AllowAny]
    serializer_class = ProductCardSerializer
    pagination_class = OffsetPagination

    def get_queryset(self):
        query = _product_query(self.request, ProductSearchQuerySerializer)
        return selectors.product_search(text=self.request.query_params.get("q", ""), **query)


class ProductDetailApi(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(responses=ProductDetailSerializer)
    def get(self, request, product_id: int):
        product = selectors.product_get_public(product_id=product_id)
        return Response(ProductDetailSerializer(product).data)


# --- Merchant writes --------------------------------------------------------------------


class MerchantMixin:
    """Resolves the caller's shop; without one, merchant endpoints answer 404."""

    permission_classes = [permissions.IsAuthenticated]

    def shop(self) -> Shop:
        return get_object_or_404(Shop, owner=self.request.user)

    def product(self, product_id: int) -> Product:
        return selectors.merchant_product_get(shop=self.shop(), product_id=product_id)


_PRODUCT_EXAMPLE = OpenApiExample(
    "A T-shirt",
    value={
        "title": "Linen T-shirt",
        "price": "89.00",
        "commission_bps": 1000,
        "stock": 25,
        "description": "Breathable.",
    },
    request_only=True,
)


class MerchantShopApi(MerchantMixin, APIView):
    @extend_schema(responses=ShopOutSerializer)
    def get(self, request):
        return Response(ShopOutSerializer(self.shop()).data)

    @extend_schema(request=ShopInSerializer, responses={201: ShopOutSerializer})
    def post(self, request):
        serializer = ShopInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        shop = services.shop_open(owner=request.user, **serializer.validated_data)
        return Response(ShopOutSerializer(shop).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ShopInSerializer, responses=ShopOutSerializer)
    def patch(self, request):
        shop = self.shop()
        serializer = ShopInSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = {k: v for k, v in serializer.validated_data.items() if k != "slug"}
        return Response(ShopOutSerializer(services.shop_update(shop=shop, **data)).data)


class MerchantProductListApi(MerchantMixin, APIView):
    @extend_schema(
        operation_id="v1_merchant_products_list",
        responses=ProductCardPageSerializer,
        parameters=[OffsetQuerySerializer],
    )
    def get(self, request):
        products = selectors.merchant_product_list(shop=self.shop()).select_related("shop")
        paginator = OffsetPagination()
        page = paginator.paginate_queryset(products, request, view=self)
        return paginator.get_paginated_response(ProductCardSerializer(page, many=True).data)

    @extend_schema(request=ProductInSerializer, responses={201: ProductDetailSerializer}, examples=[_PRODUCT_EXAMPLE])
    def post(self, request):
        shop = self.shop()
        serializer = ProductInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        product = services.product_create(shop=shop, **serializer.validated_data)
        product = selectors.merchant_product_get(shop=shop, product_id=product.pk)
        return Response(ProductDetailSerializer(product).data, status=status.HTTP_201_CREATED)


class MerchantProductDetailApi(MerchantMixin, APIView):
    @extend_schema(responses=ProductDetailSerializer)
    def get(self, request, product_id: int):
        return Response(ProductDetailSerializer(self.product(product_id)).data)

    @extend_schema(request=ProductPatchSerializer, responses=ProductDetailSerializer)
    def patch(self, request, product_id: int):
        product = self.product(product_id)
        serializer = ProductPatchSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.product_update(product=product, **serializer.validated_data)
        return Response(ProductDetailSerializer(self.product(product_id)).data)


class MerchantProductStatusApi(MerchantMixin, APIView):
    @extend_schema(request=StatusInSerializer, responses=ProductDetailSerializer)
    def post(self, request, product_id: int):
        product = self.product(product_id)
        serializer = StatusInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.product_set_status(product=product, status=serializer.validated_data["status"])
        return Response(ProductDetailSerializer(self.product(product_id)).data)


class MerchantPhotoUploadApi(MerchantMixin, APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": PhotoInSerializer}, responses={201: PhotoOutSerializer})
    def post(self, request, product_id: int):
        product = self.product(product_id)
        serializer = PhotoInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            photo = services.product_photo_add(product=product, upload=serializer.validated_data["file"])
        except ImageRejected as exc:
            raise serializers.ValidationError({"file": [exc.message]}) from None
        return Response(PhotoOutSerializer(photo).data, status=status.HTTP_201_CREATED)


class MerchantPhotoDetailApi(MerchantMixin, APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request, product_id: int, photo_id: int):
        product = self.product(product_id)
        photo = get_object_or_404(product.photos.all(), pk=photo_id)
        services.product_photo_delete(photo=photo)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MerchantVariantListApi(MerchantMixin, APIView):
    @extend_schema(request=VariantInSerializer, responses={201: VariantOutSerializer})
    def post(self, request, product_id: int):
        product = self.product(product_id)
        serializer = VariantInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        variant = services.variant_create(product=product, **serializer.validated_data)
        return Response(VariantOutSerializer(variant).data, status=status.HTTP_201_CREATED)


class MerchantVariantDetailApi(MerchantMixin, APIView):
    @extend_schema(request=VariantInSerializer, responses=VariantOutSerializer)
    def patch(self, request, product_id: int, variant_id: int):
        product = self.product(product_id)
        variant = get_object_or_404(product.variants.all(), pk=variant_id)
        serializer = VariantInSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            variant = services.variant_update(variant=variant, **serializer.validated_data)
        return Response(VariantOutSerializer(variant).data)

    @extend_schema(
        request=None,
        responses={204: None},
        description="A variant that has been sold cannot be deleted (409 `variant_sold`): archive it instead.",
    )
    def delete(self, request, product_id: int, variant_id: int):
        product = self.product(product_id)
        variant = get_object_or_404(product.variants.all(), pk=variant_id)
        services.variant_delete(variant=variant)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MerchantVariantArchiveApi(MerchantMixin, APIView):
    """Take a variant off sale for good; past orders keep it."""

    @extend_schema(request=None, responses=VariantOutSerializer)
    def post(self, request, product_id: int, variant_id: int):
        product = self.product(product_id)
        variant = get_object_or_404(product.variants.all(), pk=variant_id)
        variant = services.variant_update(variant=variant, is_active=False)
        return Response(VariantOutSerializer(variant).data)
