"""Seed the v1 schema with a reproducible data set.

    python manage.py seed [--size default|large] [--force]

default: 10,000 users (user00001 .. user10000, email userNNNNN@example.test),
         each with an accounts and a workshops profile.  The first 200 users are
         instructors (workshops is_instructor=True); only the first 150 of them
         are already teachers in accounts, so 50 "need sync".  1,000 workshops
         and 300 courses taught by the instructors.
large:   the same shape at benchmark scale (1,000,000 users with ~500 character
         bios in both profiles, 20,000 instructors of which 5,000 need sync,
         2,000,000 workshops, 30,000 courses), written with server-side
         INSERT ... SELECT generate_series; the database ends up above 1 GB.

Both add the staff user ``pybot`` (pybot@example.test) whose password is taken
from the SEED_PYBOT_PASSWORD environment variable (required).  All other users
share one password, SEED_USER_PASSWORD (default "recorder-seed-password"); its
hash is computed once and reused for every row.

Only works on the v1 schema: it writes workshops.UserProfile.
"""
import os
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from apps.accounts.models import UserProfile as AccountsProfile
from apps.courses.models import Course
from apps.workshops.models import UserProfile as WorkshopsProfile
from apps.workshops.models import Workshop

SIZES = {
    "default": {
        "users": 10_000,
        "instructors": 200,
        "teachers": 150,
        "workshops": 1_000,
        "courses": 300,
    },
    "large": {
        "users": 1_000_000,
        "instructors": 20_000,
        "teachers": 15_000,
        "workshops": 2_000_000,
        "courses": 30_000,
    },
}

TOPICS = [
    "Intro to Python", "Testing with pytest", "Django ORM deep dive", "Async IO",
    "Packaging", "Type hints", "Data classes", "PostgreSQL for developers",
    "Zero-downtime deploys", "Profiling", "Web security basics", "Fabric in practice",
]

PYBOT_USERNAME = "pybot"
PYBOT_EMAIL = "pybot@example.test"
DEFAULT_USER_PASSWORD = "recorder-seed-password"


class Command(BaseCommand):
    help = "Seed users, profiles, workshops and courses (v1 schema only)."

    def add_arguments(self, parser):
        parser.add_argument("--size", choices=sorted(SIZES), default="default")
        parser.add_argument(
            "--force",
            action="store_true",
            help="delete all existing users and app data before seeding",
        )

    # ------------------------------------------------------------------ helpers
    def log(self, message):
        elapsed = time.monotonic() - self.started
        self.stdout.write(f"[{elapsed:7.1f}s] {message}")
        self.stdout.flush()

    def wipe(self):
        User = get_user_model()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE TABLE {User._meta.db_table} RESTART IDENTITY CASCADE")
        else:
            with transaction.atomic():
                for model in (Workshop, Course, WorkshopsProfile, AccountsProfile):
                    model.objects.all().delete()
                User.objects.all().delete()

    # ------------------------------------------------------------------ handle
    def handle(self, *args, size, force, **options):
        self.started = time.monotonic()
        User = get_user_model()
        pybot_password = os.environ.get("SEED_PYBOT_PASSWORD")
        if not pybot_password:
            raise CommandError("SEED_PYBOT_PASSWORD must be set (password of the staff user pybot)")
        if User.objects.exists():
            if not force:
                raise CommandError(
                    f"{User.objects.count()} users already exist; refusing to seed "
                    "(use --force to delete existing data first)"
                )
            self.log("--force: deleting existing users and app data")
            self.wipe()

        spec = SIZES[size]
        user_hash = make_password(os.environ.get("SEED_USER_PASSWORD") or DEFAULT_USER_PASSWORD)
        pybot_hash = make_password(pybot_password)
        self.log(f"seeding size={size}: {spec}")
        if size == "large":
            if connection.vendor != "postgresql":
                raise CommandError("--size large needs PostgreSQL")
            self.seed_large(spec, user_hash)
        else:
            self.seed_default(spec, user_hash)

        with transaction.atomic():
            pybot = User.objects.create(
                username=PYBOT_USERNAME,
                email=PYBOT_EMAIL,
                first_name="Py",
                last_name="Bot",
                password=pybot_hash,
                is_staff=True,
            )
            AccountsProfile.objects.create(user=pybot)
        self.log("created staff user pybot")

        need_sync = WorkshopsProfile.objects.filter(
            is_instructor=True, user__profile__is_teacher=False
        ).count()
        self.log(
            f"done: {User.objects.count()} users, {Workshop.objects.count()} workshops, "
            f"{Course.objects.count()} courses, {need_sync} instructors need sync"
        )
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
                self.log(f"database size: {cursor.fetchone()[0]}")

    # ----------------------------------------------------------------- default
    def seed_default(self, spec, user_hash):
        User = get_user_model()
        n_users, n_instr, n_teach = spec["users"], spec["instructors"], spec["teachers"]
        width = max(5, len(str(n_users)))
        now = timezone.now()
        batch = 2000
        with transaction.atomic():
            users = User.objects.bulk_create(
                [
                    User(
                        username=f"user{i:0{width}d}",
                        email=f"user{i:0{width}d}@example.test",
                        first_name="User",
                        last_name=f"{i:0{width}d}",
                        password=user_hash,
                        date_joined=now,
                    )
                    for i in range(1, n_users + 1)
                ],
                batch_size=batch,
            )
            self.log(f"created {len(users)} users")

            def card(i, user):
                if i > n_instr:
                    return {"bio": "", "website": ""}
                return {
                    "bio": f"{user.username} teaches {TOPICS[i % len(TOPICS)]}.",
                    "website": f"https://example.test/~{user.username}",
                }

            AccountsProfile.objects.bulk_create(
                [
                    AccountsProfile(user=u, is_teacher=i <= n_teach, **card(i, u))
                    for i, u in enumerate(users, start=1)
                ],
                batch_size=batch,
            )
            WorkshopsProfile.objects.bulk_create(
                [
                    WorkshopsProfile(user=u, is_instructor=i <= n_instr, **card(i, u))
                    for i, u in enumerate(users, start=1)
                ],
                batch_size=batch,
            )
            self.log(f"created {2 * len(users)} profiles ({n_instr} instructors, {n_teach} teachers)")

            instructors = users[:n_instr]
            Workshop.objects.bulk_create(
                [
                    Workshop(
                        title=f"{TOPICS[n % len(TOPICS)]} #{n}",
                        instructor=instructors[n % n_instr],
                        is_published=n % 10 != 0,
                    )
                    for n in range(1, spec["workshops"] + 1)
                ],
                batch_size=batch,
            )
            Course.objects.bulk_create(
                [
                    Course(
                        title=f"Course {n}: {TOPICS[n % len(TOPICS)]}",
                        instructor=instructors[n % n_instr],
                        description=f"A course about {TOPICS[n % len(TOPICS)].lower()}.",
                    )
                    for n in range(1, spec["courses"] + 1)
                ],
                batch_size=batch,
            )
            self.log(f"created {spec['workshops']} workshops and {spec['courses']} courses")

    # ------------------------------------------------------------------- large
    def seed_large(self, spec, user_hash):
        User = get_user_model()
        n_users, n_instr, n_teach = spec["users"], spec["instructors"], spec["teachers"]
        width = max(5, len(str(n_users)))
        chunk = 100_000
        user_table = connection.ops.quote_name(User._meta.db_table)
        ap_table = connection.ops.quote_name(AccountsProfile._meta.db_table)
        wp_table = connection.ops.quote_name(WorkshopsProfile._meta.db_table)
        ws_table = connection.ops.quote_name(Workshop._meta.db_table)
        co_table = connection.ops.quote_name(Course._meta.db_table)
        topics_sql = "ARRAY[" + ",".join("'" + t.replace("'", "''") + "'" for t in TOPICS) + "]"

        with connection.cursor() as cursor:
            # One statement (and one commit) per chunk so progress is visible.
            for lo in range(1, n_users + 1, chunk):
                hi = min(lo + chunk - 1, n_users)
                cursor.execute(
                    f"""
                    INSERT INTO {user_table}
                        (password, last_login, is_superuser, username, first_name,
                         last_name, email, is_staff, is_active, date_joined)
                    SELECT %s, NULL, false, 'user' || lpad(g::text, %s, '0'), 'User',
                           lpad(g::text, %s, '0'),
                           'user' || lpad(g::text, %s, '0') || '@example.test',
                           false, true, now() - (g || ' seconds')::interval
                    FROM generate_series(%s, %s) AS g
                    """,
                    [user_hash, width, width, width, lo, hi],
                )
                self.log(f"users {hi}/{n_users}")

            # n = the number in the username; profiles are written per user-id range.
            cursor.execute(
                f"SELECT min(id), max(id) FROM {user_table} WHERE username LIKE %s", ["user%"]
            )
            id_lo, id_hi = cursor.fetchone()
            bio = (
                "'Bio of ' || u.username || ', teaching ' || ({topics})[1 + n %% {nt}] || '. '"
                " || repeat(md5(u.username), 15)"
            ).format(topics=topics_sql, nt=len(TOPICS))
            source = (
                f"FROM (SELECT id, username, substring(username from 5)::int AS n "
                f"FROM {user_table} WHERE username LIKE 'user%%' AND id BETWEEN %s AND %s) AS u"
            )
            for lo in range(id_lo, id_hi + 1, chunk):
                hi = min(lo + chunk - 1, id_hi)
                cursor.execute(
                    f"""
                    INSERT INTO {ap_table} (user_id, is_teacher, bio, website, slack_id)
                    SELECT u.id, u.n <= %s, {bio},
                           'https://example.test/~' || u.username, ''
                    {source}
                    """,
                    [n_teach, lo, hi],
                )
                cursor.execute(
                    f"""
                    INSERT INTO {wp_table} (user_id, is_instructor, bio, website)
                    SELECT u.id, u.n <= %s, {bio},
                           'https://example.test/~' || u.username
                    {source}
                    """,
                    [n_instr, lo, hi],
                )
                self.log(f"profiles for user ids up to {hi}/{id_hi}")

            instructors = (
                f"(SELECT array_agg(p.user_id ORDER BY p.user_id) AS ids, count(*) AS cnt "
                f"FROM {wp_table} p WHERE p.is_instructor) AS ins"
            )
            for lo in range(1, spec["workshops"] + 1, chunk * 2):
                hi = min(lo + chunk * 2 - 1, spec["workshops"])
                cursor.execute(
                    f"""
                    INSERT INTO {ws_table} (title, instructor_id, created_at, is_published)
                    SELECT ({topics_sql})[1 + g %% {len(TOPICS)}] || ' #' || g,
                           ins.ids[1 + g %% ins.cnt],
                           now() - (g || ' seconds')::interval,
                           g %% 10 <> 0
                    FROM generate_series(%s, %s) AS g, {instructors}
                    """,
                    [lo, hi],
                )
                self.log(f"workshops {hi}/{spec['workshops']}")
            cursor.execute(
                f"""
                INSERT INTO {co_table} (title, instructor_id, description)
                SELECT 'Course ' || g || ': ' || ({topics_sql})[1 + g %% {len(TOPICS)}],
                       ins.ids[1 + g %% ins.cnt],
                       'A course about ' || lower(({topics_sql})[1 + g %% {len(TOPICS)}]) || '.'
                FROM generate_series(1, %s) AS g, {instructors}
                """,
                [spec["courses"]],
            )
            self.log(f"courses {spec['courses']}")
            cursor.execute("ANALYZE")
            self.log("analyzed")
