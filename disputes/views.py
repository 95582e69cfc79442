"""After-sales pages for the buyer and the shop, evidence files, the staff dispute console,
sanctions, and the shop's public record. Anyone who is not part of a case gets a 404."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from disputes import selectors, services
from disputes.forms import (
    AcceptForm,
    AfterSalesOpenForm,
    EscalateForm,
    MessageForm,
    ProposeForm,
    RejectForm,
    ReturnShipForm,
    RulingForm,
    SanctionForm,
)
from disputes.models import AfterSalesRequest, Sanction
from marketplace.errors import ConflictError, DomainError
from marketplace.templatetags import time_left
from marketplace.web import merchant_required, staff_required
from orders import selectors as order_selectors
from payments import selectors as payment_selectors
from shops import selectors as shop_selectors
from shops.models import Shop

Status = AfterSalesRequest.Status

# The forms of the actions that take input; the others are a single button.
ACTION_FORMS = {
    "accept": AcceptForm,
    "propose": ProposeForm,
    "reject": RejectForm,
    "escalate": EscalateForm,
    "return_ship": ReturnShipForm,
    "message": MessageForm,
}

# Who must act before the running deadline, and what happens if nobody does.
DEADLINES = {
    Status.OPEN: "The shop must answer within {left}. If it does not, the buyer is refunded what was asked.",
    Status.PROPOSED: "The buyer must answer the offer within {left}. If not, the offer stands and is refunded.",
    Status.REJECTED: "The buyer can escalate to Circle Market within {left}. After that the request closes.",
    Status.RETURN_PENDING: "The buyer must send the item back within {left}. After that the request closes.",
    Status.RETURN_SHIPPED: "The shop must confirm the return arrived within {left}. If not, the buyer is refunded.",
}


def _apply_errors(form, exc: DomainError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def _deadline_text(case: AfterSalesRequest, dispute) -> str:
    if case.status == Status.ESCALATED and dispute is not None:
        return f"Circle Market decides within {time_left(dispute.decide_by)}."
    if case.status not in DEADLINES or case.deadline_at is None:
        return ""
    left = time_left(case.deadline_at)
    if left == "overdue":
        return "The deadline has passed; its default outcome is applied within minutes."
    return DEADLINES[case.status].format(left=left)


# --- Buyer ------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def after_sales_new(request, order_id: int, line_id: int):
    order = order_selectors.order_get_for_buyer(buyer=request.user, order_id=order_id)
    line = next((line for line in order.lines.all() if line.pk == line_id), None)
    if line is None:
        raise Http404
    form = AfterSalesOpenForm(request.POST or None, request.FILES or None, initial={"amount_minor": line.total_minor})
    if request.method == "POST" and form.is_valid():
        try:
            case = services.after_sales_open(buyer=request.user, line_id=line.pk, **form.cleaned_data)
        except DomainError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"Request sent. {order.shop.name} has been asked to answer.")
            return redirect("after_sales_detail", request_id=case.pk)
    return render(request, "disputes/after_sales_new.html", {"order": order, "line": line, "form": form})


@login_required
def after_sales_list(request):
    requests = list(selectors.after_sales_list_for_buyer(buyer=request.user)[:200])
    return render(request, "disputes/after_sales_list.html", {"requests": requests})


# --- One request: its page and each action ------------------------------------------------


def _case_context(request, case: AfterSalesRequest, bound: dict | None = None) -> dict:
    role = selectors.after_sales_role(user=request.user, request=case)
    actions = selectors.after_sales_actions(request=case, role=role)
    bound = bound or {}
    forms = {
        name: bound.get(name) or form_class(prefix=name) for name, form_class in ACTION_FORMS.items() if name in actions
    }
    dispute = getattr(case, "dispute", None)
    return {
        "case": case,
        "role": role,
        "actions": actions,
        "actions_besides_message": bool(actions - {"message"}),
        "forms": forms,
        "dispute": dispute,
        "deadline": _deadline_text(case, dispute),
        "opening_photos": [e for e in case.evidence.all() if e.message_id is None],
        "money": payment_selectors.order_money(case.order),
    }


def _case_render(request, case: AfterSalesRequest, bound: dict | None = None):
    return render(request, "disputes/after_sales_detail.html", _case_context(request, case, bound))


@login_required
def after_sales_detail(request, request_id: int):
    case = selectors.after_sales_get_for(user=request.user, request_id=request_id)
    return _case_render(request, case)


def _act(request, request_id: int, action: str, run, done: str):
    """Run one action's service with its form's data. A refused field goes back beside the
    field with everything typed; a refusal of the whole action (the case moved on, or it is
    the other side's move) is a message on the fresh page."""
    case = selectors.after_sales_get_for(user=request.user, request_id=request_id)
    form_class = ACTION_FORMS.get(action)
    form = form_class(request.POST, request.FILES, prefix=action) if form_class else None
    if form is not None and not form.is_valid():
        return _case_render(request, case, {action: form})
    try:
        run(case, form.cleaned_data if form is not None else {})
    except PermissionDenied as exc:
        messages.error(request, str(exc) or "Only the other side can do this.")
    except ConflictError as exc:
        messages.error(request, exc.message)
    except DomainError as exc:
        if form is None or exc.field not in form.fields:
            messages.error(request, exc.message)
        else:
            form.add_error(exc.field, exc.message)
            return _case_render(request, case, {action: form})
    else:
        messages.success(request, done)
    return redirect("after_sales_detail", request_id=case.pk)


@login_required
@require_POST
def after_sales_accept(request, request_id: int):
    def run(case, data):
        services.after_sales_accept(request_id=case.pk, merchant=request.user, **data)

    return _act(request, request_id, "accept", run, "Accepted. The buyer has been told what happens next.")


@login_required
@require_POST
def after_sales_propose(request, request_id: int):
    def run(case, data):
        services.after_sales_propose(request_id=case.pk, merchant=request.user, **data)

    return _act(request, request_id, "propose", run, "Offer sent to the buyer.")


@login_required
@require_POST
def after_sales_reject(request, request_id: int):
    def run(case, data):
        services.after_sales_reject(request_id=case.pk, merchant=request.user, **data)

    return _act(request, request_id, "reject", run, "Request rejected. The buyer may escalate it to Circle Market.")


@login_required
@require_POST
def after_sales_return_receive(request, request_id: int):
    def run(case, data):
        services.after_sales_return_receive(request_id=case.pk, merchant=request.user)

    return _act(request, request_id, "return_receive", run, "Return confirmed; the buyer has been refunded.")


@login_required
@require_POST
def after_sales_offer_accept(request, request_id: int):
    def run(case, data):
        services.after_sales_offer_accept(request_id=case.pk, buyer=request.user)

    return _act(request, request_id, "offer_accept", run, "Offer accepted. The refund is on its way back to you.")


@login_required
@require_POST
def after_sales_return_ship(request, request_id: int):
    def run(case, data):
        services.after_sales_return_ship(request_id=case.pk, buyer=request.user, **data)

    return _act(request, request_id, "return_ship", run, "Return tracking saved. The shop confirms when it arrives.")


@login_required
@require_POST
def after_sales_withdraw(request, request_id: int):
    def run(case, data):
        services.after_sales_withdraw(request_id=case.pk, buyer=request.user)

    return _act(request, request_id, "withdraw", run, "Request withdrawn.")


@login_required
@require_POST
def after_sales_escalate(request, request_id: int):
    def run(case, data):
        services.after_sales_escalate(request_id=case.pk, user=request.user, **data)

    return _act(request, request_id, "escalate", run, "Escalated. Circle Market staff will rule on it.")


@login_required
@require_POST
def after_sales_message(request, request_id: int):
    def run(case, data):
        services.after_sales_message_post(request_id=case.pk, user=request.user, **data)

    return _act(request, request_id, "message", run, "Message sent.")


@login_required
@require_GET
def evidence_file(request, evidence_id: int):
    """A photo of a case, for the buyer, the shop's owner and staff only; never under /media/."""
    evidence = selectors.evidence_get_for(user=request.user, evidence_id=evidence_id)
    response = FileResponse(evidence.image.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response


# --- Merchant ---------------------------------------------------------------------------


@merchant_required
def merchant_after_sales(request):
    requests = list(selectors.after_sales_list_for_shop(shop=request.shop)[:200])
    return render(request, "disputes/merchant_after_sales.html", {"requests": requests, "shop": request.shop})


# --- Staff console ----------------------------------------------------------------------


@staff_required
def staff_dispute_queue(request):
    include_closed = request.GET.get("closed") == "1"
    return render(
        request,
        "disputes/staff_queue.html",
        {
            "disputes": list(selectors.dispute_queue(include_closed=include_closed)[:200]),
            "include_closed": include_closed,
            "suggestions": selectors.sanction_suggestions(),
        },
    )


def _dispute_render(request, dispute_id: int, form: RulingForm | None = None):
    dispute = selectors.dispute_get(dispute_id=dispute_id)
    order = order_selectors.order_get_for_shop(shop=dispute.shop, order_id=dispute.order_id)
    case = (
        selectors.after_sales_get_for(user=request.user, request_id=dispute.request_id) if dispute.request_id else None
    )
    rulable = dispute.status == dispute.Status.OPEN and case is not None
    return render(
        request,
        "disputes/staff_dispute.html",
        {
            "dispute": dispute,
            "order": order,
            "case": case,
            "opening_photos": [e for e in case.evidence.all() if e.message_id is None] if case else [],
            "money": payment_selectors.order_money(order),
            "form": (form or RulingForm()) if rulable else None,
        },
    )


@staff_required
def staff_dispute_detail(request, dispute_id: int):
    return _dispute_render(request, dispute_id)


@staff_required
@require_POST
def staff_dispute_rule(request, dispute_id: int):
    dispute = selectors.dispute_get(dispute_id=dispute_id)
    form = RulingForm(request.POST)
    if form.is_valid():
        try:
            dispute = services.dispute_rule(dispute_id=dispute.pk, admin=request.user, **form.cleaned_data)
        except ConflictError as exc:
            messages.error(request, exc.message)
            return redirect("staff_dispute_detail", dispute_id=dispute.pk)
        except DomainError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"Ruled: {dispute.get_outcome_display()}. Both sides can see it now.")
            return redirect("staff_dispute_detail", dispute_id=dispute.pk)
    return _dispute_render(request, dispute.pk, form)


def _sanctions_render(request, shop: Shop, form: SanctionForm | None = None):
    return render(
        request,
        "disputes/staff_sanctions.html",
        {
            "shop": shop,
            "in_force": selectors.sanctions_in_force(shop=shop),
            "history": selectors.sanction_history(shop=shop),
            "form": form or SanctionForm(),
        },
    )


@staff_required
@require_http_methods(["GET", "POST"])
def staff_sanctions(request, shop_id: int):
    shop = get_object_or_404(Shop, pk=shop_id)
    if request.method == "GET":
        return _sanctions_render(request, shop)
    form = SanctionForm(request.POST)
    if form.is_valid():
        try:
            sanction = services.sanction_impose(shop_id=shop.pk, admin=request.user, **form.cleaned_data)
        except DomainError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"{sanction.get_kind_display()} imposed on {shop.name}; it shows on the shop.")
            return redirect("staff_sanctions", shop_id=shop.pk)
    return _sanctions_render(request, shop, form)


@staff_required
@require_POST
def staff_sanction_lift(request, sanction_id: int):
    shop_id = get_object_or_404(Sanction.objects.only("shop_id"), pk=sanction_id).shop_id
    try:
        sanction = services.sanction_lift(sanction_id=sanction_id, admin=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{sanction.get_kind_display()} lifted.")
    return redirect("staff_sanctions", shop_id=shop_id)


# --- Public -----------------------------------------------------------------------------


def shop_record(request, slug: str):
    """Every sanction a shop has ever had, with its reason and dates."""
    shop = shop_selectors.shop_get_public(slug=slug)
    return render(
        request, "disputes/shop_record.html", {"shop": shop, "history": selectors.sanction_history(shop=shop)}
    )
