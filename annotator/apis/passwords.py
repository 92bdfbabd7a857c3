"""Passwords: change your own (logged in), and the reset path for a forgotten
one (a link by e-mail, then a new password)."""

from __future__ import annotations

from django.contrib.auth import update_session_auth_hash
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.apis.accounts import client_address
from annotator.apis.common import ERRORS
from annotator.services import password_change, password_reset_confirm, password_reset_request


def _password() -> serializers.CharField:
    return serializers.CharField(max_length=4096, trim_whitespace=False)


class PasswordChangeInput(serializers.Serializer):
    old_password = _password()
    new_password = _password()


class PasswordResetInput(serializers.Serializer):
    user = serializers.CharField(max_length=254, help_text="Your username or e-mail address.")


class PasswordResetConfirmInput(serializers.Serializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)
    new_password = _password()


class PasswordChangeApi(APIView):
    @extend_schema(
        request=PasswordChangeInput,
        responses={204: None, 400: ERRORS[400]},
        description="Change your password (the current one first); you stay logged in.",
    )
    def post(self, request: Request) -> Response:
        data = PasswordChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        account = password_change(user=request.user, **data.validated_data)
        if request.auth is None:  # a browser session: keep it valid under the new password
            update_session_auth_hash(request._request, account)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=PasswordResetInput,
        responses={202: None, 400: ERRORS[400], 429: ERRORS[429]},
        description="E-mail a password-reset link to the account with this username or e-mail. The answer is "
        "the same whether or not there is one.",
    )
    def post(self, request: Request) -> Response:
        SessionAuthentication().enforce_csrf(request)
        data = PasswordResetInput(data=request.data)
        data.is_valid(raise_exception=True)
        password_reset_request(
            identifier=data.validated_data["user"],
            link_base=request.build_absolute_uri("/password-reset/"),
            address=client_address(request),
        )
        return Response(status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=PasswordResetConfirmInput,
        responses={204: None, 400: ERRORS[400], 429: ERRORS[429]},
        description="Set a new password with the uid and token of a reset link; then log in with it.",
    )
    def post(self, request: Request) -> Response:
        SessionAuthentication().enforce_csrf(request)
        data = PasswordResetConfirmInput(data=request.data)
        data.is_valid(raise_exception=True)
        password_reset_confirm(**data.validated_data, address=client_address(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
