from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.authtoken.models import Token
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView


class TokenInSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})


class TokenOutSerializer(serializers.Serializer):
    token = serializers.CharField()


class LoginThrottle(AnonRateThrottle):
    rate = "10/min"


class TokenCreateApi(APIView):
    """Exchange email and password for an API token (send it as `Authorization: Token …`)."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    throttle_classes = [LoginThrottle]

    @extend_schema(request=TokenInSerializer, responses=TokenOutSerializer)
    def post(self, request):
        serializer = TokenInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(request, **serializer.validated_data)
        if user is None or not user.is_active:
            raise serializers.ValidationError({"non_field_errors": ["The email or password is not right."]})
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})
