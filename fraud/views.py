"""The staff fraud console, beside the dispute queue: queue, case page, decisions."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from disputes.views import staff_required
from fraud import selectors, services
from fraud.models import Case
from marketplace.errors import ConflictError, DomainError


@staff_required
def staff_fraud_queue(request):
    include_closed = request.GET.get("closed") == "1"
    cases = list(selectors.case_queue(include_closed=include_closed)[:200])
    return render(request, "fraud/staff_queue.html", {"cases": cases, "include_closed": include_closed})


def _case(case_id: int) -> Case:
    try:
        return selectors.case_get(case_id=case_id)
    except Case.DoesNotExist:
        raise Http404 from None


@staff_required
def staff_fraud_case(request, case_id: int):
    case = _case(case_id)
    return render(request, "fraud/staff_case.html", {"case": case, **selectors.case_evidence(case=case)})


@staff_required
@require_POST
def staff_fraud_decide(request, case_id: int):
    case = _case(case_id)
    action, reason = request.POST.get("action", ""), request.POST.get("reason", "")
    try:
        if action == "confirm":
            services.case_confirm(
                case_id=case.pk, staff=request.user, reason=reason,
                suspend_promoter_payouts=request.POST.get("suspend_payouts") == "1",
            )  # fmt: skip
            messages.success(request, "Confirmed: the commissions are voided and the reviews folded.")
        elif action == "clear":
            services.case_clear(case_id=case.pk, staff=request.user, reason=reason)
            messages.success(request, "Cleared: the holds are released to the next payout.")
        elif action == "split":
            ids = [int(x) for x in request.POST.getlist("member") if x.isdigit()]
            services.case_split(case_id=case.pk, staff=request.user, reason=reason, member_ids=ids)
            messages.success(request, "Split into two cases.")
        else:
            messages.error(request, "Choose confirm, clear or split.")
    except (ConflictError, DomainError) as exc:
        messages.error(request, exc.message)
    return redirect("staff_fraud_case", case_id=case.pk)
