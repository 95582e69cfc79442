"""After-sales API: the buyer's requests, the shop's inbox, each case's answers, messages and
evidence; staff rule disputes.

A request is one case shared by its buyer and its shop, so every per-request endpoint lives at
`after-sales/<id>/...` and loads through the scoped selector first: a stranger gets a 404, the
other party of the case a 403 from the service ("Only the shop can do this.").

Longer than 400 lines: one view and its serializers per operation of one case.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from disputes import selectors, services
from disputes.models import AfterSalesRequest, Dispute
from marketplace.api import CursorPagination, MoneyField
from marketplace.errors import DomainError
from orders.models import OrderLine
from shops.api import OffsetPagination
from shops.models import Shop

# Services name the model field; the API's input is the amount without its unit.
_INPUT_NAMES = {"amount_minor": "amount"}


def _choice(choices) -> serializers.ChoiceField:
    values = ", ".join(value for value, _ in choices)
    return serializers.ChoiceField(
        choices=choices, error_messages={"invalid_choice": f'"{{input}}" is not one of: {values}.'}
    )


class PhotosField(serializers.ListField):
    """Uploaded files; their count and content are checked by the service (photos_encode), the
    same rule as on the pages."""

    child = serializers.FileField()

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "Photos, sent as multipart form data.")
        super().__init__(**kwargs)

    def run_child_validation(self, data):
        # One sentence instead of a per-index error map, which the error format cannot show.
        try:
            return super().run_child_validation(data)
        except serializers.ValidationError:
            raise serializers.ValidationError("Each photo must be a file sent as multipart form data.") from None


def _party(case: AfterSalesRequest, user_id: int | None) -> str | None:
    """Who acted, as a role: names of staff are not shown to either side."""
    if user_id is None:
        return None
    if user_id == case.buyer_id:
        return "buyer"
    if user_id == case.shop.owner_id:
        return "merchant"
    return "staff"


# --- Serializers ------------------------------------------------------------------------


class LineOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    variant_name = serializers.CharField()
    quantity = serializers.IntegerField()
    total = MoneyField(source="total_minor")


class EvidenceOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    uploaded_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_url(self, evidence) -> str:
        # The page route `after_sales_evidence`, which checks who asks before serving the file.
        return self.context["request"].build_absolute_uri(reverse("evidence_file", args=[evidence.pk]))

    def get_uploaded_by(self, evidence) -> str | None:
        return _party(self.context["case"], evidence.uploaded_by_id)


class MessageOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    author = serializers.SerializerMethodField()
    body = serializers.CharField()
    created_at = serializers.DateTimeField()
    evidence = EvidenceOutSerializer(many=True)

    def get_author(self, message) -> str | None:
        return _party(self.context["case"], message.author_id)


class EventOutSerializer(serializers.Serializer):
    kind = serializers.CharField()
    actor = serializers.SerializerMethodField(help_text="buyer, merchant, staff, or null for an automatic step.")
    note = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_actor(self, event) -> str | None:
        return _party(self.context["case"], event.actor_id)


class DisputeOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    order_id = serializers.IntegerField()
    shop = serializers.CharField(source="shop.slug")
    request_id = serializers.IntegerField(allow_null=True)
    source = serializers.CharField()
    status = serializers.CharField()
    asked = MoneyField(source="request.amount_minor", allow_null=True, default=None)
    chargeback = MoneyField(source="chargeback_minor", min_minor=0)
    decide_by = serializers.DateTimeField()
    outcome = serializers.CharField()
    outcome_amount = MoneyField(source="outcome_minor", min_minor=0)
    ruling_reason = serializers.CharField()
    ruled_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class CaseDisputeOutSerializer(serializers.Serializer):
    """The dispute as either side sees it on the case."""

    id = serializers.IntegerField()
    status = serializers.CharField()
    decide_by = serializers.DateTimeField()
    outcome = serializers.CharField()
    outcome_amount = MoneyField(source="outcome_minor", min_minor=0)
    ruling_reason = serializers.CharField()
    ruled_at = serializers.DateTimeField(allow_null=True)


class RequestListOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    order_id = serializers.IntegerField()
    shop = serializers.CharField(source="shop.slug")
    line = LineOutSerializer()
    kind = serializers.CharField()
    reason = serializers.CharField()
    amount = MoneyField(source="amount_minor")
    status = serializers.CharField()
    status_label = serializers.CharField(source="get_status_display")
    deadline_at = serializers.DateTimeField(allow_null=True)
    refunded = MoneyField(source="refunded_minor", min_minor=0)
    created_at = serializers.DateTimeField()


class RequestDetailOutSerializer(RequestListOutSerializer):
    """Needs `case` (the request itself) in its context, to name each actor by role."""

    role = serializers.SerializerMethodField(help_text="The caller's part in this case: buyer, merchant or staff.")
    description = serializers.CharField()
    proposed = MoneyField(source="proposed_minor", allow_null=True)
    return_address = serializers.CharField()
    return_carrier = serializers.CharField()
    return_tracking_number = serializers.CharField()
    outcome_note = serializers.CharField()
    closed_at = serializers.DateTimeField(allow_null=True)
    dispute = CaseDisputeOutSerializer(allow_null=True)
    events = EventOutSerializer(many=True)
    messages = MessageOutSerializer(many=True)
    evidence = EvidenceOutSerializer(many=True)

    def get_role(self, case) -> str:
        return selectors.after_sales_role(user=self.context["request"].user, request=case)


class RequestCreateInSerializer(serializers.Serializer):
    line_id = serializers.IntegerField(min_value=1, help_text="The order line the request is about.")
    kind = _choice(AfterSalesRequest.Kind.choices)
    reason = _choice(AfterSalesRequest.Reason.choices)
    description = serializers.CharField(help_text="What happened, in at least 10 characters.")
    amount = MoneyField(help_text="The refund asked for; at most what was paid for the order.")
    photos = PhotosField(required=False, default=list)


class AcceptInSerializer(serializers.Serializer):
    return_address = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Required to accept a return: where to send the item."
    )


class ProposeInSerializer(serializers.Serializer):
    amount = MoneyField(help_text="Less than the amount asked for.")
    note = serializers.CharField()


class RejectInSerializer(serializers.Serializer):
    note = serializers.CharField(help_text="Why, in at least 10 characters.")
    photos = PhotosField(required=False, default=list)


class ReturnShipInSerializer(serializers.Serializer):
    carrier = serializers.CharField()
    tracking_number = serializers.CharField()


class EscalateInSerializer(serializers.Serializer):
    note = serializers.CharField(help_text="Why Circle Market should step in, in at least 10 characters.")


class MessageInSerializer(serializers.Serializer):
    body = serializers.CharField()
    photos = PhotosField(required=False, default=list)


class EvidenceInSerializer(serializers.Serializer):
    photos = PhotosField(
        allow_empty=False,
        error_messages={"required": "Attach at least one photo.", "empty": "Attach at least one photo."},
    )
    note = serializers.CharField(required=False, allow_blank=True, default="")


class RuleInSerializer(serializers.Serializer):
    outcome = _choice(
        [(o, o.label) for o in (Dispute.Outcome.FULL_REFUND, Dispute.Outcome.PARTIAL_REFUND, Dispute.Outcome.RELEASE)]
    )
    amount = MoneyField(required=False, help_text="Required for a partial refund: less than the amount asked for.")
    reason = serializers.CharField(help_text="The written reason both sides will read, in at least 10 characters.")


class OpenOnlyQuerySerializer(serializers.Serializer):
    open = serializers.BooleanField(required=False, default=False)


class IncludeClosedQuerySerializer(serializers.Serializer):
    include_closed = serializers.BooleanField(required=False, default=False)


# --- Views ------------------------------------------------------------------------------


class _ServiceErrorsMixin:
    def handle_exception(self, exc):
        # Service refusals are written for people ("Only the shop can do this."); keep their words
        # instead of the generic 403 message.
        if isinstance(exc, DjangoPermissionDenied) and str(exc):
            exc = exceptions.PermissionDenied(str(exc))
        if isinstance(exc, DomainError) and exc.field in _INPUT_NAMES:
            exc.field = _INPUT_NAMES[exc.field]
        return super().handle_exception(exc)


class _CaseApi(_ServiceErrorsMixin, APIView):
    permission_classes = [permissions.IsAuthenticated]

    def case(self, request_id: int) -> AfterSalesRequest:
        return selectors.after_sales_get_for(user=self.request.user, request_id=request_id)

    def input(self, serializer_class) -> dict:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def detail(self, request_id: int) -> Response:
        case = self.case(request_id)
        return Response(RequestDetailOutSerializer(case, context={"request": self.request, "case": case}).data)


def _multipart_or_json(serializer_class) -> dict:
    return {"multipart/form-data": serializer_class, "application/json": serializer_class}


class AfterSalesListCreateApi(_ServiceErrorsMixin, generics.ListAPIView):
    """The caller's own requests, newest first; POST opens one on a line of the caller's order."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = RequestListOutSerializer
    pagination_class = CursorPagination

    def get_queryset(self):
        return selectors.after_sales_list_for_buyer(buyer=self.request.user)

    @extend_schema(request=_multipart_or_json(RequestCreateInSerializer), responses={201: RequestDetailOutSerializer})
    def post(self, request):
        serializer = RequestCreateInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            case = services.after_sales_open(
                buyer=request.user, line_id=data["line_id"], kind=data["kind"], reason=data["reason"],
                description=data["description"], amount_minor=data["amount"], photos=data["photos"],
            )  # fmt: skip
        except OrderLine.DoesNotExist:
            # The service finds only the caller's own lines: anyone else's is hidden as not found.
            raise Http404 from None
        case = selectors.after_sales_get_for(user=request.user, request_id=case.pk)
        context = {"request": request, "case": case}
        return Response(RequestDetailOutSerializer(case, context=context).data, status=status.HTTP_201_CREATED)


class MerchantAfterSalesListApi(generics.ListAPIView):
    """The caller's shop's requests: open ones first, the nearest deadline first."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = RequestListOutSerializer
    pagination_class = OffsetPagination

    def get_queryset(self):
        query = OpenOnlyQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        shop = get_object_or_404(Shop, owner=self.request.user)
        return selectors.after_sales_list_for_shop(shop=shop, open_only=query.validated_data["open"])

    @extend_schema(parameters=[OpenOnlyQuerySerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class AfterSalesDetailApi(_CaseApi):
    """One request with its timeline, messages and evidence; for its buyer, its shop and staff."""

    @extend_schema(responses=RequestDetailOutSerializer)
    def get(self, request, request_id: int):
        return self.detail(request_id)


class AfterSalesAcceptApi(_CaseApi):
    """The shop accepts: a refund now, or for a return the address to send the item to."""

    @extend_schema(request=AcceptInSerializer, responses=RequestDetailOutSerializer)
    def post(self, request, request_id: int):
        case = self.case(request_id)
        services.after_sales_accept(request_id=case.pk, merchant=request.user, **self.input(AcceptInSerializer))
        return self.detail(request_id)


class AfterSalesProposeApi(_CaseApi):
    """The shop offers a smaller refund."""

    @extend_schema(request=ProposeInSerializer, responses=RequestDetailOutSerializer)
    def post(self, request, request_id: int):
        case = self.case(request_id)
        data = self.input(ProposeInSerializer)
        services.after_sales_propose(
            request_id=case.pk, merchant=request.user, amount_minor=data["amount"], note=data["note"]
        )
        return self.detail(request_id)


class AfterSalesRejectApi(_CaseApi):
    """The shop rejects, with its reason and optional photos."""

    @extend_schema(request=_multipart_or_json(RejectInSerializer), responses=RequestDetailOutSerializer)
    def post(self, request, request_id: int):
        case = self.case(request_id)
        services.after_sales_reject(request_id=case.pk, merchant=request.user, **self.input(RejectInSerializer))
        return self.detail(request_id)


class AfterSalesReturnReceiveApi(_CaseApi):
    """The shop has the returned item: the buyer is refunded."""

    @extend_schema(request=None, responses=RequestDetailOutSerializer)
    def post(self, request, request_id: int):
        case = self.case(request_id)
        services.after_sales_return_receive(request_id=case.pk, merchant=request.user)
        return self.detail(request_id)


class AfterSalesOfferAcceptApi(_CaseApi):
    """The buyer takes the shop's offer: refunded that amount at once."""

    @extend_schema(request=None, responses=RequestDetailOutSerializer)
    def post(self, request, request_id: int):
        case = self.case(request_id)
        services.after_sales_offer_accept(request_id=case.pk, buyer=request.user)
        return self.detail(request_id)


class AfterSalesReturnShipApi(_CaseApi):
    """The buyer has sent the item back."""

    @extend_schema(request=ReturnShipInSerializer, responses=RequestDetailOutSerializer)
    def post(self, request, request_id: int):
        case = self.case(request_id)
        services.after_sales_return_ship(request_id=case.pk, buyer=request.user, **self.input(ReturnShipInSerializer))
        return self.detail(request_id)


class AfterSalesWithdrawApi(_CaseApi):
    @extend_schema(request=None, responses=RequestDetailOutSerializer)
    def post(self, request, request_id: int):
        case = self.case(request_id)
        services.after_sales_withdraw(request_id=case.pk, buyer=request.user)
        return self.detail(request_id)


class AfterSalesEscalateApi(_CaseApi):
    """Either side asks Circle Market to decide; the case then shows its dispute."""

    @extend_schema(request=EscalateInSerializer, responses=RequestDetailOutSerializer)
    def post(self, request, request_id: int):
        case = self.case(request_id)
        services.after_sales_escalate(request_id=case.pk, user=request.user, **self.input(EscalateInSerializer))
        return self.detail(request_id)


class AfterSalesMessageListCreateApi(_CaseApi):
    @extend_schema(responses=MessageOutSerializer(many=True))
    def get(self, request, request_id: int):
        case = self.case(request_id)
        context = {"request": request, "case": case}
        return Response({"results": MessageOutSerializer(case.messages.all(), many=True, context=context).data})

    @extend_schema(request=_multipart_or_json(MessageInSerializer), responses={201: MessageOutSerializer})
    def post(self, request, request_id: int):
        case = self.case(request_id)
        message = services.after_sales_message_post(
            request_id=case.pk, user=request.user, **self.input(MessageInSerializer)
        )
        return Response(
            MessageOutSerializer(message, context={"request": request, "case": case}).data,
            status=status.HTTP_201_CREATED,
        )


class AfterSalesEvidenceUploadApi(_CaseApi):
    """Photos added to an open case, as a message of the uploader (services keep no loose evidence)."""

    @extend_schema(request={"multipart/form-data": EvidenceInSerializer}, responses={201: MessageOutSerializer})
    def post(self, request, request_id: int):
        case = self.case(request_id)
        data = self.input(EvidenceInSerializer)
        count = len(data["photos"])
        body = data["note"] or f"Added {count} photo{'s' if count > 1 else ''} as evidence."
        message = services.after_sales_message_post(
            request_id=case.pk, user=request.user, body=body, photos=data["photos"]
        )
        return Response(
            MessageOutSerializer(message, context={"request": request, "case": case}).data,
            status=status.HTTP_201_CREATED,
        )


class DisputeQueueApi(generics.ListAPIView):
    """Staff: open disputes, the nearest decision date first."""

    permission_classes = [permissions.IsAdminUser]
    serializer_class = DisputeOutSerializer
    pagination_class = OffsetPagination

    def get_queryset(self):
        query = IncludeClosedQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.dispute_queue(include_closed=query.validated_data["include_closed"])

    @extend_schema(parameters=[IncludeClosedQuerySerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class DisputeRuleApi(_ServiceErrorsMixin, APIView):
    """Staff: full refund, partial refund or release to the shop, with a written reason."""

    permission_classes = [permissions.IsAdminUser]

    @extend_schema(request=RuleInSerializer, responses=DisputeOutSerializer)
    def post(self, request, dispute_id: int):
        dispute = selectors.dispute_get(dispute_id=dispute_id)
        serializer = RuleInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.dispute_rule(
            dispute_id=dispute.pk, admin=request.user, outcome=data["outcome"], reason=data["reason"],
            amount_minor=data.get("amount"),
        )  # fmt: skip
        return Response(DisputeOutSerializer(selectors.dispute_get(dispute_id=dispute_id)).data)
