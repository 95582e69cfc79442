from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions, serializers
from rest_framework.authtoken.models import Token
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.lockout import LoginLocked, credentials_authenticate


class TokenInSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})


class TokenOutSerializer(serializers.Serializer):
    token = serializers.CharField()


class TokenCreateApi(APIView):
    """Exchange email and password for an API token (send it as `Authorization: Token …`)."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []

    @extend_schema(request=TokenInSerializer, responses=TokenOutSerializer)
    def post(self, request):
        serializer = TokenInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # The same lock as the login page and the admin login (accounts.lockout).
        try:
            user = credentials_authenticate(request._request, **serializer.validated_data)
        except LoginLocked as exc:
            # DRF adds "Expected available in N seconds." and the Retry-After header.
            raise exceptions.Throttled(wait=exc.retry_after, detail="Too many failed login attempts.") from None
        if user is None or not user.is_active:
            raise serializers.ValidationError({"non_field_errors": ["The email or password is not right."]})
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})
