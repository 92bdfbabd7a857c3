import mimetypes
import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.http import FileResponse, Http404, HttpRequest
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from annotator.errors import ApplicationError
from annotator.models import (
    Document,
    ExportJob,
    ImportJob,
    Line,
    LineSkip,
    Membership,
    ModelVersion,
    Page,
    Prediction,
    Project,
    ReviewAction,
    TrainingRun,
    Transcription,
)
from annotator.selectors import REVIEW_KINDS, base_model_list
from annotator.services import line_review, model_version_base_create
from recognition.pages import SEGMENT_METHODS


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


class ProjectForm(forms.ModelForm):
    """The base model is chosen from the shipped ones (or none: from scratch); the segmentation method from
    the known ones."""

    base_model = forms.ChoiceField(required=False)
    segmentation_method = forms.ChoiceField(
        choices=[(name, f"{name}: {about}") for name, about in SEGMENT_METHODS.items()],
        help_text=str(Project._meta.get_field("segmentation_method").help_text),
    )

    class Meta:
        model = Project
        # Archiving and who created it are the app's (services.project_archive_set, project_create).
        exclude = ["archived_at", "created_by"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "script" in self.fields:
            self.fields["script"].required = False  # left out: the model's default
        field = self.fields.get("base_model")
        if not isinstance(field, forms.ChoiceField):
            return  # read-only on an existing project
        choices = [(base["name"], f"{base['name']}: {base['description']}") for base in base_model_list()]
        field.choices = [*choices, ("", "none: train a first model from scratch")]
        field.help_text = str(Project._meta.get_field("base_model").help_text)

    def clean_script(self) -> str:
        return str(self.cleaned_data.get("script") or Project._meta.get_field("script").default)


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectForm
    list_display = [
        "name",
        "lease_seconds",
        "top_window",
        "eval_share",
        "min_eval_lines",
        "retrain_threshold",
        "base_model",
        "model_preset",
        "require_review",
    ]
    search_fields = ["name"]
    inlines = [MembershipInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Project | None = None) -> list[str]:
        # Chosen at creation; later changes go through the project settings
        # (services.project_settings_update), which allows them only until a
        # trained model has been promoted and makes the new base the active model.
        return ["base_model"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Project, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            # As services.project_create does: version 1 is the base.
            model_version_base_create(project=obj)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role"]
    list_filter = ["role", "project"]
    raw_id_fields = ["user"]


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "created_at"]
    list_filter = ["project"]
    search_fields = ["name"]


@admin.register(Page)
class PageAdmin(admin.ModelAdmin):
    list_display = ["document", "number", "width", "height"]
    raw_id_fields = ["document"]


class NeedsReviewFilter(admin.SimpleListFilter):
    """The review lists of ``selectors.review_list``, as admin filters."""

    title = "needs review"
    parameter_name = "review"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(REVIEW_KINDS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Line]) -> QuerySet[Line]:
        value = self.value()
        if value == "low_confidence":
            unsure = Prediction.objects.filter(
                line=OuterRef("pk"),
                model_version__status=ModelVersion.Status.ACTIVE,
                confidence__lt=OuterRef("project__review_confidence"),
            )
            machine_only = Q(queue_state=Line.QueueState.UNLABELED) | Q(
                current_transcription__source=Transcription.Source.MODEL_ACCEPTED
            )
            return queryset.filter(machine_only).filter(Exists(unsure))
        if value == "disputed":
            return queryset.filter(disagreement__gte=F("project__dispute_cer"))
        if value == "pending":
            return queryset.filter(current_transcription__status=Transcription.Status.SUBMITTED)
        if value == "model_accepted":
            return queryset.filter(current_transcription__source=Transcription.Source.MODEL_ACCEPTED)
        return queryset


@admin.register(Line)
class LineAdmin(admin.ModelAdmin):
    list_display = ["id", "thumbnail", "current_text", "project", "split", "queue_state", "priority", "disagreement"]
    list_filter = [NeedsReviewFilter, "project", "split", "queue_state"]
    search_fields = ["key", "current_transcription__text"]
    raw_id_fields = ["page", "document", "lease_user", "current_transcription"]
    # Set once at creation by services.line_create; editing them would move a
    # line between train and eval and contaminate evaluation.
    readonly_fields = ["split", "sample_key", "thumbnail"]
    list_select_related = ["project", "current_transcription"]
    actions = ["approve", "reject"]

    def get_urls(self) -> list[URLPattern]:
        crop = path("<int:line_id>/crop", self.admin_site.admin_view(self.crop_view), name="annotator_line_crop")
        return [crop, *super().get_urls()]

    def crop_view(self, request: HttpRequest, line_id: int) -> FileResponse:
        line = Line.objects.filter(pk=line_id).first()
        if line is None or not self.has_view_permission(request, line) or not line.crop.name:
            raise Http404("No such line image.")
        content_type = mimetypes.guess_type(line.crop.name)[0] or "application/octet-stream"
        return FileResponse(line.crop.open("rb"), content_type=content_type)

    @admin.display(description="line")
    def thumbnail(self, line: Line) -> str:
        url = reverse("admin:annotator_line_crop", args=[line.pk])
        return format_html('<img src="{}" alt="line {}" style="max-height:32px;max-width:480px">', url, line.pk)

    @admin.display(description="text")
    def current_text(self, line: Line) -> str:
        current = line.current_transcription
        return f"{current.text} ({current.status})" if current else ""

    def _review(self, request: HttpRequest, queryset: QuerySet[Line], action: str) -> None:
        done, refused = 0, []
        for line in queryset.select_related("project"):
            try:
                line_review(line=line, user=request.user, action=action, client_id=uuid.uuid4())
                done += 1
            except ApplicationError as error:
                refused.append(f"line {line.pk}: {error.message}")
        if done:
            self.message_user(request, f"{action}: {done} line(s).", messages.SUCCESS)
        for message in refused[:20]:
            self.message_user(request, message, messages.WARNING)

    @admin.action(description="Approve the current text (or the model's reading)")
    def approve(self, request: HttpRequest, queryset: QuerySet[Line]) -> None:
        self._review(request, queryset, "approve")

    @admin.action(description="Reject the current text (the line is labeled again)")
    def reject(self, request: HttpRequest, queryset: QuerySet[Line]) -> None:
        self._review(request, queryset, "reject")


class ReadOnlyAdmin(admin.ModelAdmin):
    """History rows: the admin may look and filter, the services write."""

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Transcription)
class TranscriptionAdmin(ReadOnlyAdmin):
    list_display = ["id", "line", "author", "source", "status", "text", "created_at"]
    list_filter = ["status", "source", "line__project"]
    search_fields = ["text"]


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    list_display = ["id", "line", "model_version", "text", "confidence", "priority"]
    list_filter = ["model_version"]


@admin.register(LineSkip)
class LineSkipAdmin(ReadOnlyAdmin):
    list_display = ["line", "user", "created_at"]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "status", "base_name", "cer", "wer", "ser", "train_lines", "created_at"]
    list_filter = ["project", "status"]
    raw_id_fields = ["parent"]


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "trigger", "status", "attempt", "created_at", "heartbeat_at", "finished_at"]
    list_filter = ["project", "status", "trigger"]
    raw_id_fields = ["model_version", "retry_of", "requested_by"]


@admin.register(ReviewAction)
class ReviewActionAdmin(ReadOnlyAdmin):
    list_display = ["id", "line", "reviewer", "action", "reviewed", "result", "created_at"]
    list_filter = ["action", "line__project"]


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "kind", "status", "created_by", "created_at", "finished_at"]
    list_filter = ["project", "status", "kind"]


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "format", "status", "requested_by", "created_at", "finished_at"]
    list_filter = ["project", "status", "format"]
