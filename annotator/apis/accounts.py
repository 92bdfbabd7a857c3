"""Session login and logout for the browser UI, and who is logged in.

Scripts use token auth (``/api/auth/token``); the browser logs in here and then
sends the session cookie plus the CSRF token (header ``X-CSRFToken``) on every
unsafe request. The login itself checks the CSRF token too, so another site
cannot log a visitor into an account of its choosing. Both logins are
throttled per account and per client address (``services.accounts``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.apis.common import ERRORS
from annotator.apis.parsers import JSONParser
from annotator.apis.projects import ProjectOutput
from annotator.errors import InvalidInputError
from annotator.permissions import AnyUser, project_create_allowed
from annotator.selectors import project_list
from annotator.services import leases_return, login_failure_record, login_success_record, login_throttle_check


class LoginInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class MeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()
    is_staff = serializers.BooleanField(help_text="May open the Django admin.")
    can_create_projects = serializers.BooleanField(help_text="May create projects (the site's setting).")
    projects = ProjectOutput(many=True, help_text="Your projects and your role in each.")


def _me_payload(user: AnyUser) -> dict[str, Any]:
    return {
        "id": user.pk,
        "username": user.get_username(),
        "email": getattr(user, "email", ""),
        "is_staff": bool(getattr(user, "is_staff", False)),
        "can_create_projects": project_create_allowed(user=user),
        "projects": project_list(user=user),
    }


class LoginApi(APIView):
    # No authentication: the request is anonymous until this view logs it in.
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=LoginInput,
        responses={200: MeOutput, 400: ERRORS[400], 403: ERRORS[403], 429: ERRORS[429]},
        description="Start a browser session (sets the session cookie). Send the CSRF token from the "
        "`csrftoken` cookie in `X-CSRFToken`; a wrong username or password is a 400, and too many of them "
        "for the account or from the address a 429 with Retry-After.",
    )
    def post(self, request: Request) -> Response:
        SessionAuthentication().enforce_csrf(request)
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = _authenticate(request, data.validated_data["username"], data.validated_data["password"])
        login(request._request, user)
        return Response(MeOutput(_me_payload(user)).data)


class TokenApi(APIView):
    """``POST /api/auth/token`` (username, password, as JSON or a form) ->
    {token}, like DRF's ``obtain_auth_token``, under the login throttle."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(
        request=LoginInput,
        responses={200: inline_serializer("Token", {"token": serializers.CharField()}), 400: ERRORS[400]},
        description="A token for scripts (header `Authorization: Token <token>`). Failed attempts are "
        "throttled like the browser login (429 with Retry-After).",
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = _authenticate(request, data.validated_data["username"], data.validated_data["password"])
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


def client_address(request: Request) -> str:
    """The client's address: REMOTE_ADDR, or behind LINEPROOF_PROXY_COUNT
    proxies the address the outermost one appended to X-Forwarded-For (what
    the client itself wrote there is further left, and ignored)."""
    proxies = settings.LINEPROOF_PROXY_COUNT
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if proxies > 0 and len(forwarded) >= proxies:
        return forwarded[-proxies]
    return str(request.META.get("REMOTE_ADDR", ""))


def _authenticate(request: Request, username: str, password: str) -> User:
    """The user with these credentials, under the login throttle (429 when
    the account or the address has failed too often)."""
    address = client_address(request)
    login_throttle_check(username=username, address=address)
    user = authenticate(request._request, username=username, password=password)
    if user is None:
        login_failure_record(username=username, address=address)
        raise InvalidInputError("Wrong username or password.")
    login_success_record(username=username)
    assert isinstance(user, User)  # the one user model (django.contrib.auth's)
    return user


class LogoutInput(serializers.Serializer):
    keep = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        default=list,
        max_length=100,
        help_text="Lines whose submit is still on its way: they keep their lease.",
    )


class LogoutApi(APIView):
    @extend_schema(
        request=LogoutInput,
        responses={204: None, 400: ERRORS[400]},
        description="End the browser session; the lines you hold go back to the queue (except `keep`).",
    )
    def post(self, request: Request) -> Response:
        data = LogoutInput(data=request.data)
        data.is_valid(raise_exception=True)
        leases_return(user=request.user, keep_lines=data.validated_data["keep"])
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    @extend_schema(responses={200: MeOutput})
    def get(self, request: Request) -> Response:
        return Response(MeOutput(_me_payload(request.user)).data)
