"""Table fingerprints are versioned: version 3 (an order-independent sum of 64-bit row hashes)
for new backups and upgrades; versions 2 (a sum of md5 prefixes) and 1 (the sorted md5s) kept,
byte for byte, for older manifests."""
import pytest

from fabfile import backup, db

V1_SQL = """
SELECT format('SELECT %L AS t, count(*) AS n, coalesce(md5(string_agg(md5(x::text), '''' ORDER BY md5(x::text))), '''') AS h FROM %I.%I x',
              c.relname, n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public'
 ORDER BY c.relname
"""


def test_version_1_is_the_sql_older_manifests_were_made_with():
    assert db.fingerprint_sql(1) == V1_SQL


V1_HASH = "md5(string_agg(md5(x::text), '''' ORDER BY md5(x::text)))"
V2_HASH = "md5(sum((''x'' || substr(md5(x::text), 1, 16))::bit(64)::bigint::numeric)::text)"


def test_version_2_is_the_sql_the_previous_manifests_were_made_with():
    assert db.fingerprint_sql(2) == V1_SQL.replace(V1_HASH, V2_HASH)


def test_version_3_is_the_default_and_hashes_no_row_with_md5():
    assert db.FINGERPRINT_VERSION == 3 and db.FINGERPRINT_SQL == db.fingerprint_sql(3)
    assert "ORDER BY md5" not in db.FINGERPRINT_SQL and "md5(x::text)" not in db.FINGERPRINT_SQL
    assert "sum(hashtextextended(x::text, 0))" in db.FINGERPRINT_SQL
    assert db.fingerprint_gexec(1).endswith(" \\gexec")


@pytest.mark.parametrize("manifest, version", [
    ({"tables": {}}, 1),                              # written before versions existed
    ({"tables": {}, "fingerprint_version": 2}, 2),
    ({"tables": {}, "fingerprint_version": 3}, 3),
    ({"tables": {}, "fingerprint_version": "1"}, 1),
])
def test_a_manifest_is_compared_with_its_own_version(manifest, version):
    assert backup.fingerprint_version(manifest) == version
