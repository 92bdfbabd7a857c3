"""A project's team: its members and invitations (project admins), and the
invitation link itself (whoever holds it: see what it offers, accept it)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import login
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.apis.accounts import client_address
from annotator.apis.common import ERRORS
from annotator.models import Invitation, Membership
from annotator.permissions import ADMIN_ROLES, membership_require
from annotator.selectors import invitation_by_token, invitation_list, membership_list, project_get
from annotator.services import (
    invitation_accept,
    invitation_create,
    invitation_revoke,
    membership_add,
    membership_remove,
    membership_role_set,
)
from annotator.services.members import invitation_state

ROLE = serializers.ChoiceField(choices=Membership.Role.choices)


class MemberOutput(serializers.Serializer):
    id = serializers.IntegerField(help_text="The membership's id (for role changes and removal).")
    user = serializers.IntegerField(source="user_id")
    username = serializers.CharField(source="user.username")
    email = serializers.CharField(source="user.email")
    role = serializers.CharField()
    created_at = serializers.DateTimeField()


class MemberAddInput(serializers.Serializer):
    user = serializers.CharField(max_length=254, help_text="A username, or the e-mail address of an account.")
    role = ROLE


class MemberChangeInput(serializers.Serializer):
    role = ROLE


class InvitationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    role = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    state = serializers.CharField(help_text="open, used or expired")


class InvitationCreatedOutput(InvitationOutput):
    link = serializers.CharField(help_text="The link (also e-mailed); shown once, only its hash is kept.")


class InvitationInput(serializers.Serializer):
    email = serializers.EmailField()
    role = ROLE


class InvitationPublicOutput(serializers.Serializer):
    project = serializers.CharField(help_text="The project's name.")
    role = serializers.CharField()
    email = serializers.EmailField()
    invited_by = serializers.CharField()
    expires_at = serializers.DateTimeField()
    state = serializers.CharField(help_text="open, used or expired")


class InvitationAcceptInput(serializers.Serializer):
    username = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    password = serializers.CharField(
        max_length=4096, required=False, allow_blank=True, default="", trim_whitespace=False
    )


class InvitationAcceptedOutput(serializers.Serializer):
    project = serializers.IntegerField(source="project_id")
    role = serializers.CharField()
    username = serializers.CharField(source="user.username")


def _invitation(invitation: Invitation) -> dict[str, Any]:
    return {
        "id": invitation.pk,
        "email": invitation.email,
        "role": invitation.role,
        "created_at": invitation.created_at,
        "expires_at": invitation.expires_at,
        "state": invitation_state(invitation=invitation),
    }


class MemberListApi(APIView):
    @extend_schema(responses={200: MemberOutput(many=True), 403: ERRORS[403], 404: ERRORS[404]})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        return Response(MemberOutput(membership_list(project=project, user=request.user), many=True).data)

    @extend_schema(
        request=MemberAddInput,
        responses={201: MemberOutput, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404], 409: ERRORS[409]},
        description="Project admins: add an existing user by username or e-mail (404: no such user; invite them).",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        membership_require(project=project, user=request.user, roles=ADMIN_ROLES)  # before judging the input
        data = MemberAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = membership_add(
            project=project, user=request.user, identifier=data.validated_data["user"], role=data.validated_data["role"]
        )
        return Response(MemberOutput(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(APIView):
    @extend_schema(
        request=MemberChangeInput,
        responses={200: MemberOutput, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404], 409: ERRORS[409]},
        description="Project admins: change a member's role (409 for the project's last admin).",
    )
    def patch(self, request: Request, project_id: int, membership_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        membership_require(project=project, user=request.user, roles=ADMIN_ROLES)  # before judging the input
        data = MemberChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = membership_role_set(
            project=project, user=request.user, membership_id=membership_id, role=data.validated_data["role"]
        )
        return Response(MemberOutput(membership).data)

    @extend_schema(
        responses={204: None, 403: ERRORS[403], 404: ERRORS[404], 409: ERRORS[409]},
        description="Project admins: remove a member (409 for the project's last admin).",
    )
    def delete(self, request: Request, project_id: int, membership_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        membership_remove(project=project, user=request.user, membership_id=membership_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationListApi(APIView):
    @extend_schema(responses={200: InvitationOutput(many=True), 403: ERRORS[403], 404: ERRORS[404]})
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        invitations = [_invitation(i) for i in invitation_list(project=project, user=request.user)]
        return Response(InvitationOutput(invitations, many=True).data)

    @extend_schema(
        request=InvitationInput,
        responses={201: InvitationCreatedOutput, 400: ERRORS[400], 403: ERRORS[403], 404: ERRORS[404]},
        description="Project admins: invite someone by e-mail with a role: a single-use link that expires "
        "(LINEPROOF_INVITATION_DAYS), mailed to them and returned here once.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        membership_require(project=project, user=request.user, roles=ADMIN_ROLES)  # before judging the input
        data = InvitationInput(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, link = invitation_create(
            project=project,
            user=request.user,
            email=data.validated_data["email"],
            role=data.validated_data["role"],
            link_base=request.build_absolute_uri("/invite/"),
        )
        return Response(
            InvitationCreatedOutput({**_invitation(invitation), "link": link}).data, status=status.HTTP_201_CREATED
        )


class InvitationDetailApi(APIView):
    @extend_schema(
        responses={204: None, 403: ERRORS[403], 404: ERRORS[404]},
        description="Project admins: withdraw an invitation not yet accepted.",
    )
    def delete(self, request: Request, project_id: int, invitation_id: int) -> Response:
        project = project_get(project_id=project_id, user=request.user)
        invitation_revoke(project=project, user=request.user, invitation_id=invitation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationPublicApi(APIView):
    """What an invitation link offers; anyone with the link may read it."""

    permission_classes = [AllowAny]

    @extend_schema(responses={200: InvitationPublicOutput, 404: ERRORS[404]})
    def get(self, request: Request, token: str) -> Response:
        invitation = invitation_by_token(token=token)
        payload = {
            "project": invitation.project.name,
            "role": invitation.role,
            "email": invitation.email,
            "invited_by": invitation.created_by.get_username() if invitation.created_by else "",
            "expires_at": invitation.expires_at,
            "state": invitation_state(invitation=invitation),
        }
        return Response(InvitationPublicOutput(payload).data)


class InvitationAcceptApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        request=InvitationAcceptInput,
        responses={
            200: InvitationAcceptedOutput,
            400: ERRORS[400],
            404: ERRORS[404],
            409: ERRORS[409],
            429: ERRORS[429],
        },
        description="Accept an invitation: logged in, you join the project; otherwise a new account "
        "(username, password: the password rules apply) is made with the invited e-mail and logged in. "
        "The link works once and until it expires; wrong links are throttled per address.",
    )
    def post(self, request: Request, token: str) -> Response:
        SessionAuthentication().enforce_csrf(request)
        data = InvitationAcceptInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = invitation_accept(
            token=token,
            user=request.user,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
            address=client_address(request),
        )
        if not request.user.is_authenticated:
            login(request._request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
        return Response(InvitationAcceptedOutput(membership).data)
