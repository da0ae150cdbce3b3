"""The two roles: Reps and Supervisors (who hold the review permission).

Groups only; demo users come from ``seed_demo``, never from migrations.
"""

from django.db import migrations


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    entry_type, _ = ContentType.objects.get_or_create(app_label="kb", model="entry")
    review, _ = Permission.objects.get_or_create(
        content_type=entry_type,
        codename="review_gaps",
        defaults={"name": "Can review gaps, validate and archive entries"},
    )
    Group.objects.get_or_create(name="Reps")
    supervisors, _ = Group.objects.get_or_create(name="Supervisors")
    supervisors.permissions.add(review)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["Reps", "Supervisors"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("kb", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
