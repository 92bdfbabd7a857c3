"""Session login and logout for the browser UI, and who is logged in.

Scripts use token auth (``/api/auth/token``); the browser logs in here and then
sends the session cookie plus the CSRF token (header ``X-CSRFToken``) on every
unsafe request. The login itself checks the CSRF token too, so another site
cannot log a visitor into an account of its choosing."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, login, logout
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.apis.common import ERRORS
from annotator.apis.projects import ProjectOutput
from annotator.errors import InvalidInputError
from annotator.permissions import AnyUser
from annotator.selectors import project_list
from annotator.services import leases_return


class LoginInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class MeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    is_staff = serializers.BooleanField(help_text="May open the Django admin.")
    projects = ProjectOutput(many=True, help_text="Your projects and your role in each.")


def _me_payload(user: AnyUser) -> dict[str, Any]:
    return {
        "id": user.pk,
        "username": user.get_username(),
        "is_staff": bool(getattr(user, "is_staff", False)),
        "projects": project_list(user=user),
    }


class LoginApi(APIView):
    # No authentication: the request is anonymous until this view logs it in.
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=LoginInput,
        responses={200: MeOutput, 400: ERRORS[400], 403: ERRORS[403]},
        description="Start a browser session (sets the session cookie). Send the CSRF token from the "
        "`csrftoken` cookie in `X-CSRFToken`; a wrong username or password is a 400.",
    )
    def post(self, request: Request) -> Response:
        SessionAuthentication().enforce_csrf(request)
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request._request, username=data.validated_data["username"], password=data.validated_data["password"]
        )
        if user is None:
            raise InvalidInputError("Wrong username or password.")
        login(request._request, user)
        return Response(MeOutput(_me_payload(user)).data)


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
