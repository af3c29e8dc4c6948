"""Table fingerprints are versioned: version 4 (an order-independent sum of 64-bit row hashes by
column type, PostgreSQL 14+) for new backups and upgrades, 3 (the same sum over the row's text) on
older servers; versions 3, 2 (a sum of md5 prefixes) and 1 (the sorted md5s) kept, byte for byte,
for older manifests."""
import pytest

from runbook.ops import backup
from runbook.postgres import db

V1_SQL = """
SELECT format('SELECT %L AS t, count(*) AS n, coalesce(md5(string_agg(md5(x::text), '''' ORDER BY md5(x::text))), '''') AS h FROM %I.%I x',
              c.relname, n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public'
 ORDER BY c.relname
"""  # noqa: E501 - byte for byte the SQL of version 1


def test_version_1_is_the_sql_older_manifests_were_made_with():
    assert db.fingerprint_sql(1) == V1_SQL


V1_HASH = "md5(string_agg(md5(x::text), '''' ORDER BY md5(x::text)))"
V2_HASH = "md5(sum((''x'' || substr(md5(x::text), 1, 16))::bit(64)::bigint::numeric)::text)"


def test_version_2_is_the_sql_the_previous_manifests_were_made_with():
    assert db.fingerprint_sql(2) == V1_SQL.replace(V1_HASH, V2_HASH)


V3_HASH = "md5(sum(hashtextextended(x::text, 0))::text)"


def test_version_3_is_the_sql_the_previous_manifests_were_made_with():
    assert db.fingerprint_sql(3) == V1_SQL.replace(V1_HASH, V3_HASH)


def test_version_4_is_the_default_and_hashes_columns_by_type_where_every_type_allows():
    assert db.FINGERPRINT_VERSION == 4 and db.FINGERPRINT_SQL == db.fingerprint_sql(4)
    sql = db.FINGERPRINT_SQL
    assert "md5(x::text)" not in sql
    # per table: the record hash when no column falls outside the list, else version 3's
    assert "THEN 'md5(sum(hash_record_extended(x, 0))::text)' ELSE '" + V3_HASH + "' END" in sql
    assert "NOT coalesce(co.collisdeterministic, true)" in sql
    assert db.fingerprint_gexec(1).endswith(" \\gexec")


@pytest.mark.parametrize("kind", ["anyenum", "json", "point", "regclass", "money", "xml"])
def test_types_whose_hash_would_not_survive_a_restore_or_does_not_exist_are_not_listed(kind):
    assert kind not in db.RECORD_HASHABLE   # enums hash their OIDs, which a restore renumbers


@pytest.mark.parametrize("major, version", [
    ("9.6", 3), ("12", 3), ("13", 3), ("14", 4), ("15", 4), (17, 4),
])
def test_the_version_a_server_computes(major, version):
    assert db.fingerprint_version_for(major) == version


def test_the_backup_session_chooses_the_version_in_psql_and_says_which():
    lines = db.FINGERPRINT_CHOICE
    assert lines[0] == ("SELECT current_setting('server_version_num')::int >= 140000 "
                        "AS fp_record \\gset")
    assert lines[1:] == ("\\echo @@fingerprint_version", "\\if :fp_record",
                         "\\echo 4", "\\echo @@tables", db.fingerprint_gexec(4),
                         "\\else", "\\echo 3", "\\echo @@tables", db.fingerprint_gexec(3),
                         "\\endif")


def test_row_counts_hash_nothing_and_parse_like_fingerprints():
    assert "hash" not in db.ROW_COUNTS_GEXEC and "md5" not in db.ROW_COUNTS_GEXEC
    assert "count(*) AS n, '''' AS h" in db.ROW_COUNTS_GEXEC
    assert db.parse_fingerprints(["users|3|", "b|0|"]) == {"users": (3, ""), "b": (0, "")}


@pytest.mark.parametrize("manifest, version", [
    ({"tables": {}}, 1),                              # written before versions existed
    ({"tables": {}, "fingerprint_version": 2}, 2),
    ({"tables": {}, "fingerprint_version": 3}, 3),
    ({"tables": {}, "fingerprint_version": 4}, 4),
    ({"tables": {}, "fingerprint_version": "1"}, 1),
])
def test_a_manifest_is_compared_with_its_own_version(manifest, version):
    assert backup.fingerprint_version(manifest) == version
