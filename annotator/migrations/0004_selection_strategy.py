from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotator", "0003_review_imports_exports"),
    ]

    operations = [
        migrations.RenameField(model_name="project", old_name="uncertainty_score", new_name="selection_strategy"),
        migrations.AlterField(
            model_name="project",
            name="selection_strategy",
            field=models.CharField(
                choices=[
                    ("random", "uniformly random order (the baseline)"),
                    ("mean_log_prob", "least confidence: negative mean log character confidence"),
                    ("min_char_prob", "1 - probability of the least confident character"),
                    ("ctc_nll", "CTC negative log-likelihood of the best-path text, per character"),
                    ("beam_margin", "probability of the runner-up beam hypothesis relative to the best"),
                    ("disagreement", "MC dropout: how much stochastic re-readings differ from the reading"),
                    (
                        "diversity",
                        "ctc_nll, discounted for lines close to a more uncertain one (k-center greedy on line embeddings)",
                    ),
                ],
                default="diversity",
                help_text="How the queue picks the next line (recognition.selection; see benchmarks/ACTIVE_LEARNING.md).",
                max_length=32,
            ),
        ),
    ]
