"""Staff moderation pages: fold and unfold a review with a reason, the queue of reports of
shops that offered a reward for a review."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from marketplace.errors import DomainError
from marketplace.web import staff_required
from reviews import services
from reviews.forms import FoldForm, ReportCloseForm, UnfoldForm
from reviews.models import RewardReport
from reviews.views import act_on_review


@staff_required
@require_POST
def staff_review_fold(request, review_id: int):
    return act_on_review(
        request,
        review_id,
        "fold_form",
        FoldForm(request.POST),
        lambda data: services.review_fold(review_id=review_id, staff=request.user, **data),
        "The review is folded; its reason is shown to everyone.",
    )


@staff_required
@require_POST
def staff_review_unfold(request, review_id: int):
    return act_on_review(
        request,
        review_id,
        "fold_form",
        UnfoldForm(request.POST),
        lambda data: services.review_unfold(review_id=review_id, staff=request.user, **data),
        "The review is unfolded.",
    )


@staff_required
@require_GET
def staff_reward_reports(request):
    reports = list(RewardReport.objects.select_related("shop", "reporter", "handled_by")[:200])
    return render(request, "reviews/staff_reports.html", {"reports": reports, "form": ReportCloseForm()})


@staff_required
@require_POST
def staff_reward_report_close(request, report_id: int):
    form = ReportCloseForm(request.POST)
    if form.is_valid():
        try:
            services.reward_report_close(report_id=report_id, staff=request.user, **form.cleaned_data)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "The report is closed.")
    else:
        messages.error(request, "Write a note for the record.")
    return redirect("staff_reward_reports")
