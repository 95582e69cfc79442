"""The merchant dashboard: every query goes through the signed-in user's own shop."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from disputes import selectors as dispute_selectors
from marketplace.errors import DomainError
from marketplace.web import merchant_required
from shops import selectors, services
from shops.forms import PhotoUploadForm, ProductForm, ShopForm, VariantForm
from shops.models import Product, Shop

# The add-variant form shares a page with the product form: its own ids keep labels unique.
NEW_VARIANT_IDS = "new_variant_%s"


def _apply_errors(form, exc: DomainError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def _render_or_htmx(request, full_template, partial_template, context):
    return render(request, partial_template if request.htmx else full_template, context)


@login_required
@require_http_methods(["GET", "POST"])
def shop_open(request):
    if Shop.objects.filter(owner=request.user).exists():
        return redirect("merchant_dashboard")
    form = ShopForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            shop = services.shop_open(owner=request.user, **form.cleaned_data)
        except DomainError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"{shop.name} is open. Add your first product.")
            return redirect("merchant_product_new")
    return render(request, "shops/merchant/shop_form.html", {"form": form, "opening": True})


@merchant_required
@require_http_methods(["GET", "POST"])
def shop_edit(request):
    shop = request.shop
    initial = {
        f: getattr(shop, f)
        for f in ("name", "description", "contact", "return_policy", "shipping_regions", "shipping_fee_minor")
    }
    form = ShopForm(request.POST or None, request.FILES or None, shop=shop, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.shop_update(shop=shop, **{k: v for k, v in form.cleaned_data.items() if k != "logo" or v})
        except DomainError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Shop saved.")
            return redirect("merchant_dashboard")
    return render(request, "shops/merchant/shop_form.html", {"form": form, "opening": False})


@merchant_required
def dashboard(request):
    status = request.GET.get("status") or None
    if status not in (None, *Product.Status.values):
        status = None
    context = {
        "shop": request.shop,
        "products": list(selectors.merchant_product_list(shop=request.shop, status=status)[:200]),
        "low_stock": list(selectors.merchant_low_stock(shop=request.shop)[:20]),
        "status": status,
        "statuses": Product.Status.choices,
        "open_requests": dispute_selectors.after_sales_list_for_shop(shop=request.shop, open_only=True).count(),
    }
    return render(request, "shops/merchant/dashboard.html", context)


@merchant_required
@require_http_methods(["GET", "POST"])
def product_new(request):
    form = ProductForm(request.POST or None, initial={"is_no_reason_return": True, "stock": 1})
    if request.method == "POST" and form.is_valid():
        try:
            product = services.product_create(shop=request.shop, **form.cleaned_data)
        except DomainError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Product saved as a draft. Add photos, then publish it.")
            return redirect("merchant_product_edit", product_id=product.pk)
    return render(request, "shops/merchant/product_new.html", {"form": form})


@merchant_required
@require_http_methods(["GET", "POST"])
def product_edit(request, product_id: int):
    product = selectors.merchant_product_get(shop=request.shop, product_id=product_id)
    fields = (
        "title",
        "description",
        "category",
        "price_minor",
        "compare_at_price_minor",
        "commission_bps",
        "is_no_reason_return",
        "weight_grams",
    )
    form = ProductForm(request.POST or None, editing=True, initial={f: getattr(product, f) for f in fields})
    if request.method == "POST" and form.is_valid():
        try:
            services.product_update(product=product, **form.cleaned_data)
        except DomainError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Product saved.")
            return redirect("merchant_product_edit", product_id=product.pk)
    return render(
        request,
        "shops/merchant/product_edit.html",
        {
            "product": product,
            "form": form,
            "variant_form": VariantForm(auto_id=NEW_VARIANT_IDS),
            "photo_form": PhotoUploadForm(),
            "variants": list(product.variants.all()),
            "photos": list(product.photos.all()),
        },
    )


@merchant_required
@require_POST
def product_status(request, product_id: int):
    product = selectors.merchant_product_get(shop=request.shop, product_id=product_id)
    try:
        services.product_set_status(product=product, status=request.POST.get("status", ""))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{product.title} is now {request.POST['status']}.")
    if request.POST.get("next") == "dashboard":
        return redirect("merchant_dashboard")
    return redirect("merchant_product_edit", product_id=product.pk)


def _photos_fragment(request, product, errors=()):
    photos = list(product.photos.order_by("position", "id"))
    return _render_or_htmx(
        request,
        "shops/merchant/photos_page.html",
        "shops/merchant/_photos.html",
        {"product": product, "photos": photos, "photo_errors": list(errors), "photo_form": PhotoUploadForm()},
    )


@merchant_required
@require_POST
def photo_upload(request, product_id: int):
    product = selectors.merchant_product_get(shop=request.shop, product_id=product_id)
    uploads = request.FILES.getlist("photos")
    errors = []
    if not uploads:
        errors.append("Choose at least one photo to upload.")
    for upload in uploads:
        try:
            services.product_photo_add(product=product, upload=upload)
        except DomainError as exc:
            errors.append(f"{upload.name}: {exc.message}")
    status = 400 if errors and len(errors) == max(len(uploads), 1) else 200
    response = _photos_fragment(request, product, errors)
    response.status_code = status
    return response


@merchant_required
@require_POST
def photo_delete(request, product_id: int, photo_id: int):
    product = selectors.merchant_product_get(shop=request.shop, product_id=product_id)
    photo = get_object_or_404(product.photos.all(), pk=photo_id)
    services.product_photo_delete(photo=photo)
    return _photos_fragment(request, product)


@merchant_required
@require_POST
def photo_reorder(request, product_id: int):
    product = selectors.merchant_product_get(shop=request.shop, product_id=product_id)
    errors = []
    try:
        ids = [int(x) for x in request.POST.getlist("photo")]
        front = request.GET.get("front") or request.POST.get("front")
        if front:
            ids = [int(front)] + [i for i in ids if i != int(front)]
        services.product_photos_reorder(product=product, photo_ids=ids)
    except ValueError:
        errors.append("The photo order was not understood. Reload the page and try again.")
    except DomainError as exc:
        errors.append(exc.message)
    response = _photos_fragment(request, product, errors)
    if errors:
        response.status_code = 400
    return response


def _variants_fragment(request, product, form=None, status=200):
    response = _render_or_htmx(
        request,
        "shops/merchant/variants_page.html",
        "shops/merchant/_variants.html",
        {
            "product": product,
            "variants": list(product.variants.order_by("position", "id")),
            "variant_form": form or VariantForm(auto_id=NEW_VARIANT_IDS),
        },
    )
    response.status_code = status
    return response


@merchant_required
@require_POST
def variant_add(request, product_id: int):
    product = selectors.merchant_product_get(shop=request.shop, product_id=product_id)
    form = VariantForm(request.POST, auto_id=NEW_VARIANT_IDS)
    if form.is_valid():
        try:
            services.variant_create(product=product, **form.cleaned_data)
        except DomainError as exc:
            _apply_errors(form, exc)
        else:
            return _variants_fragment(request, product)
    return _variants_fragment(request, product, form, status=400)


@merchant_required
@require_POST
def variant_edit(request, product_id: int, variant_id: int):
    product = selectors.merchant_product_get(shop=request.shop, product_id=product_id)
    variant = get_object_or_404(product.variants.all(), pk=variant_id)
    form = VariantForm(request.POST)
    if form.is_valid():
        try:
            services.variant_update(variant=variant, **form.cleaned_data)
        except DomainError as exc:
            _apply_errors(form, exc)
        else:
            return _variants_fragment(request, product)
    errors = "; ".join(
        f"{form.fields[k].label or k}: {' '.join(v)}" if k in form.fields else " ".join(v)
        for k, v in form.errors.items()
    )
    messages.error(request, f"{variant.name} was not saved. {errors}")
    return _variants_fragment(request, product, status=400)


@merchant_required
@require_POST
def variant_delete(request, product_id: int, variant_id: int):
    product = selectors.merchant_product_get(shop=request.shop, product_id=product_id)
    variant = get_object_or_404(product.variants.all(), pk=variant_id)
    try:
        services.variant_delete(variant=variant)
    except DomainError as exc:
        messages.error(request, exc.message)
        return _variants_fragment(request, product, status=409)
    return _variants_fragment(request, product)


@merchant_required
@require_POST
def variant_archive(request, product_id: int, variant_id: int):
    product = selectors.merchant_product_get(shop=request.shop, product_id=product_id)
    variant = get_object_or_404(product.variants.all(), pk=variant_id)
    try:
        services.variant_update(variant=variant, is_active=False)
    except DomainError as exc:
        messages.error(request, exc.message)
        return _variants_fragment(request, product, status=409)
    messages.success(request, f"{variant.name} is archived: no longer for sale, still on past orders.")
    return _variants_fragment(request, product)
