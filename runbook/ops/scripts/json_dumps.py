"""The runbook's Django JSON dumps, all from one process in the backup's snapshot.

Run by backup_create.sh as `manage.py shell` (runpy: its own namespace on any Django). Env:
RB_JSON_LABELS (one `dumpdata` label a line: "all", "app" or "app.Model"), RB_JSON_DIR (writes
dumpdata-<label, dots as _>.json.gz and .json-<i>.status, "ok" or "failed: <why>", per label),
RB_SNAPSHOT (pg_dump's exported snapshot, imported first), RB_JSON_MARK (touched once imported:
the exporting transaction may end then).

Each dump holds what `dumpdata LABEL --natural-foreign` prints, gunzipped: the same models in the
same order, serialized by Django's JSON serializer with the same options
(docs/BEHAVIOUR.md#django-dumpdata-selection). Faster: each model is serialized ONCE into a gzip
member shared by every dump that holds it (docs/BEHAVIOUR.md#gzip-multi-member), and its queries
are per batch, not per row: FKs to natural-key models select_related, many-to-many values
prefetched (docs/BEHAVIOUR.md#django-serializer-prefetch). A model that fails fails the dumps
holding it (no file), the others are still written.
"""
import gzip
import io
import os
import re
import sys
import traceback
from pathlib import Path

from django.apps import apps
from django.core import serializers
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.db.models import Prefetch, prefetch_related_objects

DB = DEFAULT_DB_ALIAS
BATCH = 2000      # rows a query, and per prefetch (dumpdata's iterator chunk)
DEPTH = 2         # natural_key() may follow FKs this deep (Permission -> ContentType)
SNAPSHOT_RE = re.compile(r"[0-9A-Fa-f]+(-[0-9A-Fa-f]+)+")


def dump_models(label):
    """The models `dumpdata LABEL --natural-foreign` writes, in its order ("all": every app)."""
    if label == "all":
        app_list = {a: None for a in apps.get_app_configs() if a.models_module is not None}
    else:
        app_label, _, model_name = label.partition(".")
        config = apps.get_app_config(app_label)
        app_list = {} if config.models_module is None else \
            {config: [config.get_model(model_name)] if model_name else None}
    return [m for m in serializers.sort_dependencies(app_list.items(), allow_cycles=True)
            if not m._meta.proxy and router.allow_migrate_model(DB, m)]


def natural_paths(model, depth=DEPTH, prefix=""):
    """select_related paths of `model`'s FKs to models with natural_key(), and of their FKs in
    turn (what a natural_key() may read). Only FKs with a database constraint: a join must not
    drop a row whose target is missing (dumpdata fails on it, and so must this)."""
    out = []
    for f in model._meta.fields:
        target = f.related_model if f.many_to_one or f.one_to_one else None
        if target is None or not hasattr(target, "natural_key") or not f.db_constraint:
            continue
        out.append(prefix + f.name)
        if depth > 1:
            out += natural_paths(target, depth - 1, prefix + f.name + "__")
    return out


def m2m_lookups(model):
    """(prefetches, {name: none()}) of the many-to-many fields the serializer writes
    (auto-created through): prefetched, or, when their through table is empty in the snapshot,
    every row's value is an empty queryset set without a query
    (docs/BEHAVIOUR.md#django-serializer-prefetch)."""
    out, empty = [], {}
    for f in model._meta.concrete_model._meta.local_many_to_many:
        through = f.remote_field.through
        if not f.serialize or not through._meta.auto_created:
            continue
        if not through._base_manager.using(DB).exists():
            empty[f.name] = f.related_model._default_manager.none()
            continue
        target = f.related_model
        paths = natural_paths(target) if hasattr(target, "natural_key") else []
        out.append(Prefetch(f.name, queryset=target._default_manager.select_related(*paths))
                   if paths else f.name)
    return out, empty


def batches(rows):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def write_model(model, path):
    """`model`'s rows as dumpdata writes them (objects joined by ", ", no brackets) into one
    gzip member at `path`; the number of rows."""
    rows = model._default_manager.using(DB).order_by(model._meta.pk.name)
    paths, (lookups, empty), n = natural_paths(model), m2m_lookups(model), 0
    if paths:
        rows = rows.select_related(*paths)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6,
                                                mtime=0) as out:
        for batch in batches(rows.iterator(chunk_size=BATCH)):
            if lookups:
                prefetch_related_objects(batch, *lookups)
            for obj in batch if empty else ():
                cache = obj.__dict__.setdefault("_prefetched_objects_cache", {})
                cache.update(empty)
            text = serializers.serialize("json", batch, indent=None, use_natural_foreign_keys=True,
                                         use_natural_primary_keys=False)
            out.write(((", " if n else "") + text[1:-1]).encode("utf-8"))
            n += len(batch)
    return n


def member(text):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as out:
        out.write(text.encode())
    return buf.getvalue()


def assemble(path, chunks):
    """The dump at `path`: "[" + the models' chunks joined by ", " + "]", as gzip members."""
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as out:
        out.write(member("["))
        for i, chunk in enumerate(chunks):
            if i:
                out.write(member(", "))
            with open(chunk, "rb") as src:
                while block := src.read(1 << 20):
                    out.write(block)
        out.write(member("]"))
    tmp.rename(path)


def why(e):
    return f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"


def import_snapshot(snapshot):
    """Start this connection's transaction in pg_dump's snapshot (its first statements:
    docs/BEHAVIOUR.md#pg-set-transaction-snapshot); the caller is inside transaction.atomic()."""
    if not SNAPSHOT_RE.fullmatch(snapshot):
        raise ValueError(f"{snapshot!r} is not a snapshot id")
    with connections[DB].cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cur.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")


def run(labels, out_dir):
    """Write each label's dump; {label: status}."""
    wanted, status = {}, {}
    for label in labels:
        try:
            wanted[label] = dump_models(label)
        except (LookupError, ValueError) as e:
            status[label] = f"failed: {why(e)}"
    chunks, failed = {}, {}
    for model in dict.fromkeys(m for ms in wanted.values() for m in ms):
        path = out_dir / f".json-model-{len(chunks) + len(failed)}.gz"
        try:
            with transaction.atomic(using=DB):    # a savepoint: a failed query spoils no other
                chunks[model] = path if write_model(model, path) else None
        except Exception as e:    # noqa: BLE001 - reported as the dumps' status, like dumpdata
            failed[model] = f"failed: {model._meta.label}: {why(e)}"
            print(f"{model._meta.label}: {traceback.format_exc()}", file=sys.stderr)
    for label, models in wanted.items():
        bad = [failed[m] for m in models if m in failed]
        if bad:
            status[label] = bad[0]
            continue
        assemble(out_dir / f"dumpdata-{label.replace('.', '_')}.json.gz",
                 [chunks[m] for m in models if chunks[m]])
        status[label] = "ok"
    for path in chunks.values():
        if path:
            path.unlink()
    return status


def main():
    labels = [x for x in os.environ["RB_JSON_LABELS"].splitlines() if x.strip()]
    out_dir = Path(os.environ["RB_JSON_DIR"])

    def report(status):
        for i, label in enumerate(labels):
            (out_dir / f".json-{i}.status").write_text(status.get(label, "failed: no status") + "\n")

    connections[DB].ensure_connection()   # its session set-up runs before our transaction
    try:
        with transaction.atomic(using=DB):
            try:
                import_snapshot(os.environ["RB_SNAPSHOT"])
            except Exception as e:  # noqa: BLE001 - every dump fails with this one line
                report({label: f"failed: cannot read in the backup's snapshot: {why(e)}"
                        for label in labels})
                raise
            Path(os.environ["RB_JSON_MARK"]).touch()
            report(run(labels, out_dir))
    except Exception:   # noqa: BLE001 - already reported; the traceback goes to stderr
        traceback.print_exc()
        sys.exit(1)


main()
