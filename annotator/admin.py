from django.contrib import admin

from annotator.models import (
    Document,
    Line,
    LineSkip,
    Membership,
    ModelVersion,
    Page,
    Prediction,
    Project,
    TrainingRun,
    Transcription,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "lease_seconds",
        "top_window",
        "eval_share",
        "min_eval_lines",
        "retrain_threshold",
        "model_preset",
        "require_review",
    ]
    search_fields = ["name"]
    inlines = [MembershipInline]


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


@admin.register(Line)
class LineAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "key", "split", "queue_state", "uncertainty", "lease_user", "lease_expires_at"]
    list_filter = ["project", "split", "queue_state"]
    search_fields = ["key"]
    raw_id_fields = ["page", "document", "lease_user", "current_transcription"]
    # Set once at creation by services.line_create; editing them would move a
    # line between train and eval and contaminate evaluation.
    readonly_fields = ["split", "sample_key"]


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
    list_display = ["id", "line", "model_version", "text", "confidence", "uncertainty"]
    list_filter = ["model_version"]


@admin.register(LineSkip)
class LineSkipAdmin(ReadOnlyAdmin):
    list_display = ["line", "user", "created_at"]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "status", "cer", "wer", "ser", "train_lines", "created_at"]
    list_filter = ["project", "status"]
    raw_id_fields = ["parent"]


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "trigger", "status", "attempt", "created_at", "heartbeat_at", "finished_at"]
    list_filter = ["project", "status", "trigger"]
    raw_id_fields = ["model_version", "retry_of", "requested_by"]
