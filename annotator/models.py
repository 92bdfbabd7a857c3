"""The annotator's data model.

The labeling queue lives on ``Line``: ``queue_state``, ``priority`` (the
selection strategy's priority under the active model) and the lease columns sit on the row the queue
index points at, so claiming a line is one indexed read plus one conditional
write of that same row. See ``services.line_claim``.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

# recognition.selection.DEFAULT_STRATEGY; a plain value here, so the models do not
# import the recognizer, and the service validates against STRATEGIES (a new or
# reworded strategy needs no migration).
DEFAULT_SELECTION_STRATEGY = "beam_margin"


def project_base_model_default() -> str:
    """settings.LINEPROOF_BASE_MODEL: the shipped base a new project starts from
    (a plain name here; services.project_create validates it against
    recognition.base.base_names())."""
    return str(settings.LINEPROOF_BASE_MODEL)


class Project(models.Model):
    class Script(models.TextChoices):
        # The writing systems a project's lines are in; served to the UI by /api/vocabulary.
        LATIN = "latin", "Latin"
        GREEK = "greek", "Greek"
        CYRILLIC = "cyrillic", "Cyrillic"
        ARABIC = "arabic", "Arabic"
        HEBREW = "hebrew", "Hebrew"
        DEVANAGARI = "devanagari", "Devanagari"
        HAN = "han", "Han (Chinese, Japanese kanji)"
        OTHER = "other", "Other or mixed"

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    languages = models.JSONField(
        default=list, blank=True, help_text="The languages of the material, as people name them (e.g. French, Latin)."
    )
    script = models.CharField(max_length=16, choices=Script.choices, default=Script.LATIN)
    guidelines = models.TextField(
        blank=True, help_text="Transcription guidelines (Markdown), shown beside the labeling field and in review."
    )
    # Set when an admin archives the project: it leaves every list, its data stays.
    archived_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    lease_seconds = models.PositiveIntegerField(
        default=600,
        validators=[MinValueValidator(30)],
        help_text="How long a claimed line stays reserved for its labeler without a heartbeat.",
    )
    top_window = models.PositiveIntegerField(
        default=20,
        validators=[MinValueValidator(1), MaxValueValidator(500)],
        help_text="The next line is drawn at random among this many most uncertain candidates.",
    )
    retrain_threshold = models.PositiveIntegerField(
        default=200, help_text="Verified lines since the last model that trigger retraining."
    )
    full_retrain_every = models.PositiveIntegerField(
        default=10,
        help_text="A threshold-triggered run is incremental (a short fine-tune of the active model on the new lines "
        "plus a replay of older ones), except after this many incremental runs: then a full one. 1: every run is "
        "full; 0: full runs only on the schedule or by hand.",
    )
    eval_share = models.FloatField(
        default=0.1,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text="Share of lines held out for evaluation; fixed per line when it is created.",
    )
    min_eval_lines = models.PositiveIntegerField(
        default=50, help_text="Eval lines are served first until this many of them are labeled."
    )
    selection_strategy = models.CharField(
        max_length=32,
        default=DEFAULT_SELECTION_STRATEGY,
        help_text="How the queue picks the next line (recognition.selection; see benchmarks/ACTIVE_LEARNING.md).",
    )
    base_model = models.CharField(
        max_length=64,
        blank=True,
        default=project_base_model_default,
        help_text="The shipped base model the project started from (recognition/base/models/<name>.pt): its "
        "version 1, so lines get readings before any training. Empty: from scratch (model_preset).",
    )
    model_preset = models.CharField(
        max_length=16,
        choices=[("cpu", "cpu (small, trains on a CPU)"), ("gpu", "gpu (larger)"), ("tiny", "tiny (tests, demos)")],
        default="cpu",
        help_text="Size of the first model when there is no base model (recognition.model.PRESETS); later ones "
        "fine-tune the active model.",
    )
    segmentation_method = models.CharField(
        max_length=16,
        default="classical",
        help_text="How page scans are cut into lines on import and re-segmentation "
        "(recognition.pages.SEGMENT_METHODS: classical, or kraken when installed on the server).",
    )
    require_review = models.BooleanField(
        default=False,
        help_text="When off, a labeler's submission counts as verified; when on, it waits for a reviewer.",
    )
    review_confidence = models.FloatField(
        default=0.8,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Machine output below this line confidence is listed for review.",
    )
    dispute_cer = models.FloatField(
        default=0.3,
        validators=[MinValueValidator(0.0)],
        help_text="A human text this far (CER) from the active model's reading is listed as disputed.",
    )
    auto_accept = models.BooleanField(
        default=False,
        help_text="Mark unlabeled lines the calibrated model is sure of as model-accepted (never human-verified).",
    )
    auto_accept_max_error = models.FloatField(
        default=0.01,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text="Target line error among auto-accepted lines; sets each model's acceptance threshold.",
    )
    train_on_model_accepted = models.BooleanField(
        default=False, help_text="Also train on model-accepted lines (off: only on human-verified ones)."
    )
    reviewers_can_export = models.BooleanField(
        default=False,
        help_text="Reviewers may export the project (texts, images and the model); admins always may.",
    )
    model_accepted_weight = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.01), MaxValueValidator(1.0)],
        help_text="Loss weight of a model-accepted line in training (a human-verified line weighs 1).",
    )
    # The virtual keyboard: [{"name": "Ligatures", "characters": ["ﬀ", "ﬁ"]}, ...]
    # (services.alphabet validates it); served to the labeling and review pages.
    alphabet_groups = models.JSONField(
        default=list, blank=True, help_text="Groups of special characters the material needs, in keyboard order."
    )
    keep_historical = models.BooleanField(
        default=True,
        help_text="Keep historical characters (long s, r rotunda, ligatures) as typed; off: replace them by their "
        "modern form on save. Texts are always NFC.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        # What each may do: permissions.REVIEW_ROLES and ADMIN_ROLES, served to the UI by /api/vocabulary.
        LABELER = "labeler"
        REVIEWER = "reviewer"
        ADMIN = "admin"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.LABELER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="membership_unique_user_project")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"

    @property
    def can_review(self) -> bool:
        return self.role in {self.Role.REVIEWER, self.Role.ADMIN}


class Invitation(models.Model):
    """A single-use link that makes whoever opens it a member of ``project`` with
    ``role`` (a new account, or the logged-in one). Only a hash of the token is
    stored; the link carries the token itself."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Membership.Role.choices, default=Membership.Role.LABELER)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["project", "-created_at"]

    def __str__(self) -> str:
        return f"invitation of {self.email} to {self.project} ({self.role})"


class Document(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="documents")
    # Unique in the project: the import that made it owns the name; another upload
    # of that name is skipped or, when asked, imported as "name (2).ext".
    name = models.CharField(max_length=255)
    import_job = models.ForeignKey(
        "ImportJob", on_delete=models.SET_NULL, null=True, blank=True, related_name="documents"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "id"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="document_unique_name")]

    def __str__(self) -> str:
        return self.name


class Page(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="pages")
    number = models.PositiveIntegerField(help_text="1-based position in the document.")
    image = models.ImageField(upload_to="pages/%Y/%m/", width_field="width", height_field="height")
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    # What was imported (a hash of the image, with its XML): the same material
    # uploaded again, under any name, is recognised and skipped.
    content_hash = models.CharField(max_length=80, blank=True, default="", db_index=True)
    # The file names it was imported under (the image, and its PAGE/ALTO file), so an
    # export writes them back and round-trips into eScriptorium, Transkribus, kraken.
    source_name = models.CharField(max_length=255, blank=True, default="", help_text="The imported image's name.")
    source_xml_name = models.CharField(
        max_length=255, blank=True, default="", help_text="The imported PAGE/ALTO file's name; empty without one."
    )

    class Meta:
        ordering = ["document", "number"]
        constraints = [models.UniqueConstraint(fields=["document", "number"], name="page_unique_number")]

    def __str__(self) -> str:
        return f"{self.document} p. {self.number}"


class Line(models.Model):
    class Split(models.TextChoices):
        TRAIN = "train"
        EVAL = "eval"

    class QueueState(models.TextChoices):
        UNLABELED = "unlabeled"
        LABELED = "labeled"

    # Below every stored priority (jobs.scoring clips them to +-PRIORITY_LIMIT);
    # finite, so it stays a plain number in SQL and JSON.
    PRIORITY_LIMIT = 1e9
    UNSCORED = -1e18

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="lines")
    # Null for crops imported without their page.
    page = models.ForeignKey(Page, on_delete=models.CASCADE, null=True, blank=True, related_name="lines")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, null=True, blank=True, related_name="lines")
    key = models.CharField(
        max_length=255, help_text="Stable identity within the project (e.g. an import path); the split hashes it."
    )
    crop = models.ImageField(upload_to="lines/%Y/%m/")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    polygon = models.JSONField(default=list, blank=True, help_text="[[x, y], ...] on the page, if known.")
    bbox = models.JSONField(null=True, blank=True, help_text="[x0, y0, x1, y1] on the page, if known.")
    baseline = models.JSONField(
        default=list, blank=True, help_text="[[x, y], ...] on the page, left to right, if known (PAGE/ALTO)."
    )
    reading_order = models.PositiveIntegerField(default=0, help_text="Position of the line on its page.")
    split = models.CharField(max_length=8, choices=Split.choices, editable=False)
    # Uniform in [0, 1) from a hash of ``key``: below eval_share means eval; the
    # eval queue is served in this order, an unbiased random sample.
    sample_key = models.FloatField(editable=False)
    # Position of the line within its document: ordering by it before any model
    # exists interleaves documents (first lines of each, then second lines...).
    cold_rank = models.PositiveIntegerField(default=0)
    # An imported line pair's content (a hash of its image and text); "" for lines cut from a page.
    content_hash = models.CharField(max_length=80, blank=True, default="")
    # The line's and its region's ids in the imported PAGE/ALTO file ("" when cut
    # here): exports write them back.
    external_id = models.CharField(max_length=255, blank=True, default="")
    region_id = models.CharField(max_length=255, blank=True, default="")

    queue_state = models.CharField(max_length=16, choices=QueueState.choices, default=QueueState.UNLABELED)
    # The selection strategy's priority under the active model (served highest
    # first); UNSCORED until the active model has read the line, which serves
    # it after every scored line, in cold_rank order (all lines, before a model).
    priority = models.FloatField(default=UNSCORED)
    # The lease: at most one holder per line by construction, and an expired
    # lease needs no sweeper, since the queue treats it as free.
    lease_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="leased_lines"
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    lease_heartbeat_at = models.DateTimeField(null=True, blank=True)
    # This grant of the lease: new at every claim, kept while the holder renews
    # it. A submit or a release naming an older grant (the line was released,
    # or expired and leased again since) changes nothing.
    lease_token = models.UUIDField(null=True, blank=True)
    # When this grant began: a submit under it stores the seconds the line took.
    lease_claimed_at = models.DateTimeField(null=True, blank=True)

    current_transcription = models.ForeignKey(
        "Transcription", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The labeler's flag instead of a text (illegible, not a text line...): the
    # line leaves the queue, waits in the review list "flagged", and is never
    # training text while it is set. None once a reviewer clears it.
    flag = models.ForeignKey("LineFlag", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # CER of the active model's reading against the current human text: high
    # means a labeler and the model disagree, and a reviewer should look.
    disagreement = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "id"]
        constraints = [models.UniqueConstraint(fields=["project", "key"], name="line_unique_key")]
        indexes = [
            # The train queue, in exactly the claim's ORDER BY.
            models.Index(
                fields=["project", "split", "queue_state", "-priority", "cold_rank", "id"], name="line_queue_idx"
            ),
            models.Index(fields=["project", "split", "queue_state", "sample_key", "id"], name="line_eval_queue_idx"),
            models.Index(fields=["project", "lease_user", "lease_expires_at"], name="line_lease_idx"),
            models.Index(fields=["project", "-disagreement"], name="line_disagreement_idx"),
            models.Index(fields=["project", "content_hash"], name="line_content_idx"),
        ]

    def __str__(self) -> str:
        return f"line {self.pk} ({self.key})"

    def lease_active(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.lease_user_id is not None and self.lease_expires_at is not None and self.lease_expires_at > now


class LineSkip(models.Model):
    """A labeler passed on a line; it is not served to them again."""

    line = models.ForeignKey(Line, on_delete=models.CASCADE, related_name="skips")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="line_skips")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "line"], name="lineskip_unique_user_line")]


class LineFlag(models.Model):
    """A labeler's mark on a line instead of a text; kept as history, and
    ``Line.flag`` points at the one in force."""

    class Kind(models.TextChoices):
        # The one list of flag kinds, served to the UI by /api/vocabulary.
        ILLEGIBLE = "illegible", "Illegible"
        NOT_A_LINE = "not_a_line", "Not a text line"
        SECOND_LOOK = "second_look", "Needs a second look"

    class Resolution(models.TextChoices):
        OPEN = "", "Waiting for review"
        KEPT = "kept", "Kept by a reviewer"
        CLEARED = "cleared", "Cleared by a reviewer"

    line = models.ForeignKey(Line, on_delete=models.CASCADE, related_name="flags")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    comment = models.TextField(blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Chosen by the client per flag, so a retried request flags once.
    client_id = models.UUIDField(unique=True)
    resolution = models.CharField(max_length=8, choices=Resolution.choices, blank=True, default="")
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["line", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} flag on line {self.line_id}"


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        TRAINING = "training"
        CANDIDATE = "candidate"
        ACTIVE = "active"
        REJECTED = "rejected"
        FAILED = "failed"
        # Was active, replaced by a better one.
        RETIRED = "retired"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    parent = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children")
    checkpoint = models.CharField(max_length=500, blank=True, help_text="Path of the checkpoint file.")
    # A version that is a shipped base model (a copy of recognition/base/models/<name>.pt,
    # made when the project started or its base changed), not the result of a training run.
    base_name = models.CharField(
        max_length=64, blank=True, help_text="The shipped base model this version is; empty for a trained version."
    )
    alphabet = models.TextField(blank=True)
    cer = models.FloatField(null=True, blank=True)
    wer = models.FloatField(null=True, blank=True)
    ser = models.FloatField(null=True, blank=True)
    train_lines = models.PositiveIntegerField(default=0)
    # recognition.calibration.Calibration.to_dict(), fitted on the validation
    # split; with it, the acceptance threshold for project.auto_accept_max_error
    # and the share of the eval lines that threshold would have accepted.
    calibration = models.JSONField(default=dict, blank=True)
    accept_threshold = models.FloatField(null=True, blank=True)
    accept_coverage = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRAINING)
    # Set when a re-scoring of the unverified lines under this version is
    # requested (services.model_version_rescore_request), cleared when a worker
    # fans it out (jobs.scoring.predictions_refresh): one still set a while
    # later lost its message, and the recovery check sends it again.
    rescore_requested_at = models.DateTimeField(null=True, blank=True)
    # Freshness: when this version became the active one, and when the first
    # re-scoring batch under it landed (jobs.scoring sends the top of the queue
    # first, so from then on the lines served next are ranked by this model).
    promoted_at = models.DateTimeField(null=True, blank=True)
    queue_reranked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["project"], condition=Q(status="active"), name="modelversion_one_active")
        ]

    def __str__(self) -> str:
        return f"model {self.pk} of {self.project} ({self.status})"


class Prediction(models.Model):
    """One model's reading of one line (recognition.infer.LineReading, stored)."""

    line = models.ForeignKey(Line, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="predictions")
    text = models.TextField(blank=True)
    confidence = models.FloatField()
    # P(line exactly right) from the model version's calibration; null without one.
    calibrated_confidence = models.FloatField(null=True, blank=True)
    char_confidences = models.JSONField(default=list)
    spans = models.JSONField(default=list, help_text="Per character [x_start, x_end) in crop pixels.")
    priority = models.FloatField(help_text="The project's selection strategy's priority for this line.")
    scores = models.JSONField(default=dict, help_text="Every score of recognition.uncertainty, by name.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["line", "model_version"], name="prediction_unique_line_model")]


class Transcription(models.Model):
    """A text for a line. Submitted rows are never overwritten: an edit is a new
    row, and ``Line.current_transcription`` points at the latest. Drafts are the
    exception, one scratch row per (line, author), updated by autosave."""

    class Source(models.TextChoices):
        HUMAN = "human"
        IMPORT = "import"
        MODEL_ACCEPTED = "model_accepted"

    class Status(models.TextChoices):
        DRAFT = "draft"
        SUBMITTED = "submitted"
        VERIFIED = "verified"
        REJECTED = "rejected"

    line = models.ForeignKey(Line, on_delete=models.CASCADE, related_name="transcriptions")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="transcriptions"
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.HUMAN)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUBMITTED)
    text = models.TextField(blank=True)
    # Chosen by the client per submit, so a retried request cannot label twice.
    client_id = models.UUIDField(unique=True, null=True, blank=True, default=None)
    # What the labeler started from: the active model's reading when the text was
    # submitted (null: none, or stored before this was kept), and the seconds from
    # the claim of the line to the submit (null for an amend or a review). The team
    # statistics read both.
    model_text = models.TextField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["line", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["line", "author"], condition=Q(status="draft"), name="transcription_one_draft_per_author"
            )
        ]
        indexes = [
            models.Index(fields=["author", "-created_at"], name="transcription_author_idx"),
            # The team statistics: per labeler and day.
            models.Index(fields=["status", "created_at"], name="transcription_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.status} transcription {self.pk} of line {self.line_id}"


class TrainingRun(models.Model):
    class Trigger(models.TextChoices):
        THRESHOLD = "threshold"
        SCHEDULE = "schedule"
        MANUAL = "manual"

    # What a run trains (services.training_run_kind_choose picks it; jobs.training_data
    # gives each its data and budget): the recipe of recognition.finetune over every
    # verified line, or a short warm-start of the active model on the lines verified
    # since it was trained plus a replay sample of older ones.
    class Kind(models.TextChoices):
        FULL = "full", "Full: every verified line, the fine-tuning recipe's budget"
        INCREMENTAL = "incremental", "Incremental: the new lines and a replay sample, a short warm start"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_runs")
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.FULL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.JSONField(default=dict, blank=True)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="training_runs"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # 1 for a fresh request; a run retried after its worker was lost is a new
    # row pointing at the one it replaces, with attempt + 1.
    attempt = models.PositiveSmallIntegerField(default=1)
    retry_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retries")
    # Written by the training loop's progress callback; a running run whose
    # heartbeat is stale lost its worker (selectors.training_runs_stale).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "-created_at"]
        constraints = [
            # One run at a time per project: a second trigger while one is queued
            # or running would train on the same labels twice.
            models.UniqueConstraint(
                fields=["project"], condition=Q(status__in=["queued", "running"]), name="trainingrun_one_in_flight"
            )
        ]

    def __str__(self) -> str:
        return f"training run {self.pk} of {self.project} ({self.status})"


class ReviewAction(models.Model):
    """A reviewer's decision on a line, kept as history: approving or rejecting
    changes a transcription's status, and this row says who did it and when."""

    class Action(models.TextChoices):
        APPROVE = "approve"
        CORRECT = "correct"
        REJECT = "reject"

    line = models.ForeignKey(Line, on_delete=models.CASCADE, related_name="review_actions")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    action = models.CharField(max_length=16, choices=Action.choices)
    # The transcription judged (approve, reject) and the one the action produced
    # (approve of machine output, correct).
    reviewed = models.ForeignKey(Transcription, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    result = models.ForeignKey(Transcription, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # The flag decided on (kept or cleared), for a decision on a flagged line.
    flag = models.ForeignKey(LineFlag, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    client_id = models.UUIDField(unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["line", "created_at", "id"]


class Job(models.Model):
    """What imports and exports share: a status a task moves along and progress it writes."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.JSONField(default=dict, blank=True, help_text="{done, total}")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class ImportJob(Job):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="imports")
    # One of annotator.formats.IMPORT_KINDS (validated by the service).
    kind = models.CharField(max_length=8, default="auto")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    # Storage names of the uploaded files, kept until the job has run.
    files = models.JSONField(default=list)
    # Material seen before under another name is imported again as a new document
    # ("page (2).png") instead of skipped; identical content is always skipped.
    new_versions = models.BooleanField(default=False)
    # When its message could not be sent (the broker was down): the job waits for a
    # worker, with its files kept, until the periodic check sends it again.
    unsent_since = models.DateTimeField(null=True, blank=True)
    report = models.JSONField(
        default=dict,
        blank=True,
        help_text="pages_created, lines_created, lines_with_text, units [{name, status, reason}], rejected, "
        "skipped, warnings",
    )

    class Meta:
        ordering = ["project", "-created_at"]

    def __str__(self) -> str:
        return f"import {self.pk} into {self.project} ({self.status})"


class ResegmentJob(Job):
    """Cutting a page, or every page of a document, into lines again with other
    segmenter settings (``recognition.pages.SegmentConfig``); ``jobs.segmentation``."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="resegments")
    # One page, or every page of one document.
    page = models.ForeignKey(Page, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    # Named config, not settings: a field named settings would hide django.conf.settings in the class body.
    config = models.JSONField(default=dict, blank=True, help_text="SegmentConfig fields that differ from defaults.")
    method = models.CharField(
        max_length=16, default="classical", help_text="The segmentation method (recognition.pages.SEGMENT_METHODS)."
    )
    report = models.JSONField(
        default=dict, blank=True, help_text="per page: lines_before, lines_after, texts_kept, lines_kept, skipped"
    )

    class Meta:
        ordering = ["project", "-created_at"]

    def __str__(self) -> str:
        return f"re-segmentation {self.pk} of {self.project} ({self.status})"


class ExportJob(Job):
    class Scope(models.TextChoices):
        ALL = "all", "all lines (the best text of each)"
        VERIFIED = "verified", "verified lines only"

    class Format(models.TextChoices):
        PAGE = "page", "PAGE XML"
        ALTO = "alto", "ALTO XML"
        TEXT = "text", "plain text"
        LINES = "lines", "line folder (png + gt.txt)"
        MODEL = "model", "model (checkpoint, TorchScript, ONNX)"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exports")
    format = models.CharField(max_length=8, choices=Format.choices)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.ALL)
    # One document only; null: the whole project.
    document = models.ForeignKey(Document, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    file = models.FileField(upload_to="exports/%Y/%m/", blank=True)

    class Meta:
        ordering = ["project", "-created_at"]

    def __str__(self) -> str:
        return f"{self.format} export {self.pk} of {self.project} ({self.status})"
