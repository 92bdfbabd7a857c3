"""/api/vocabulary: the names the UI shows and sends come from the server's one definition."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotator.formats import IMPORT_KINDS
from annotator.models import ExportJob, Membership
from annotator.selectors import REVIEW_KINDS
from tests.annotator.factories import make_user

pytestmark = pytest.mark.django_db


def test_the_vocabulary_lists_roles_with_their_rights_and_the_import_and_review_kinds() -> None:
    client = APIClient()
    client.force_authenticate(make_user())

    vocabulary = client.get(reverse("vocabulary")).json()

    roles = {role["name"]: (role["can_review"], role["can_admin"]) for role in vocabulary["roles"]}
    assert roles == {
        Membership.Role.LABELER: (False, False),
        Membership.Role.REVIEWER: (True, False),
        Membership.Role.ADMIN: (True, True),
    }
    assert [kind["name"] for kind in vocabulary["import_kinds"]] == list(IMPORT_KINDS)
    assert [kind["name"] for kind in vocabulary["review_kinds"]] == list(REVIEW_KINDS)
    assert [kind["name"] for kind in vocabulary["export_formats"]] == list(ExportJob.Format.values)
    assert [kind["name"] for kind in vocabulary["export_scopes"]] == list(ExportJob.Scope.values)


def test_the_vocabulary_needs_a_login() -> None:
    assert APIClient().get(reverse("vocabulary")).status_code in (401, 403)
