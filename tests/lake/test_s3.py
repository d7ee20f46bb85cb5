"""S3 specifics: URL parsing, endpoint from the environment, no directory markers, single
conditional PUTs, listing without markers — against moto's server on loopback."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lakedata import ROWS, bucket_keys, presence

from vieweratlas.errors import LakeError
from vieweratlas.lake import Lake
from vieweratlas.lake.s3 import LakeS3FileSystem, S3Endpoint, parse_s3_url

pytestmark = pytest.mark.server


@pytest.mark.parametrize(
    ("url", "bucket", "prefix", "root"),
    [
        ("s3://my-bucket", "my-bucket", "", "my-bucket"),
        ("s3://my-bucket/", "my-bucket", "", "my-bucket"),
        ("s3://my.bucket/a/b/", "my.bucket", "a/b", "my.bucket/a/b"),
    ],
)
def test_parse_s3_url(url: str, bucket: str, prefix: str, root: str) -> None:
    loc = parse_s3_url(url)
    assert (loc.bucket, loc.prefix, loc.root) == (bucket, prefix, root)


@pytest.mark.parametrize(
    "url",
    [
        "s3://",
        "s3://ab",
        "s3://Upper/x",
        "s3://bad_bucket/x",
        "s3://bucket/../etc",
        "s3://bucket/a//b",
        "s3://bucket/a/./b",
        "s3://bucket/a\\b",
        "s3://bucket/a\nb",
        "gs://bucket/x",
    ],
)
def test_parse_s3_url_rejects(url: str) -> None:
    with pytest.raises(LakeError):
        parse_s3_url(url)


def test_endpoint_from_standard_env() -> None:
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_DEFAULT_REGION": "eu-west-1"}
    ep = S3Endpoint.from_env(env)
    assert (ep.endpoint_url, ep.region) == ("http://127.0.0.1:9000", "eu-west-1")
    assert ep.pyarrow_options()["endpoint_override"] == "127.0.0.1:9000"
    assert ep.pyarrow_options()["scheme"] == "http"
    # The service-specific variable wins, AWS_REGION wins over AWS_DEFAULT_REGION.
    env2 = {**env, "AWS_ENDPOINT_URL_S3": "https://s3.local:443", "AWS_REGION": "us-west-2"}
    ep2 = S3Endpoint.from_env(env2)
    assert (ep2.endpoint_url, ep2.region) == ("https://s3.local:443", "us-west-2")
    assert S3Endpoint.from_env({}) == S3Endpoint(region="us-east-1", endpoint_url=None)
    with pytest.raises(LakeError, match="AWS_ENDPOINT_URL"):
        S3Endpoint.from_env({"AWS_ENDPOINT_URL": "ftp://x"})


def test_lake_open_uses_s3(s3_bucket: str) -> None:
    lake = Lake.open(f"s3://{s3_bucket}/atlas/")
    assert isinstance(lake.fs, LakeS3FileSystem)
    assert lake.root == f"{s3_bucket}/atlas"
    assert not lake.is_local


def test_writes_and_deletes_leave_no_directory_markers(s3_bucket: str, s3_client: object) -> None:
    lake = Lake.open(f"s3://{s3_bucket}/atlas")
    result = lake.write("presence", presence(ROWS))
    lake.write_bytes("raw/irc/date=2026-11-01/a.jsonl", b"{}\n")
    keys = bucket_keys(s3_client, s3_bucket)
    assert sorted(keys) == sorted(
        [f"atlas/{f}" for f in result.files] + ["atlas/raw/irc/date=2026-11-01/a.jsonl"]
    )
    assert all(size > 0 for size in keys.values())
    assert not any(k.endswith("/") for k in keys)
    # pyarrow's own delete_file would re-create the parent as a zero-byte marker; ours not.
    lake.delete("raw/irc/date=2026-11-01/a.jsonl")
    for f in result.files:
        lake.delete(f)
    assert bucket_keys(s3_client, s3_bucket) == {}


def test_failed_write_sends_nothing(s3_bucket: str, s3_client: object) -> None:
    lake = Lake.open(f"s3://{s3_bucket}/atlas")
    with pytest.raises(ValueError, match="half"), lake._atomic("raw/file.bin") as out:
        out.write(b"x" * 100_000)
        raise ValueError("half-way")
    assert bucket_keys(s3_client, s3_bucket) == {}


def test_listing_works_without_markers(s3_bucket: str, s3_client: object) -> None:
    """Files put by another tool (no markers at all) are listed and read by the lake."""
    buf = io.BytesIO()
    table = presence(ROWS[:2]).drop_columns(["platform"])
    pq.write_table(table, buf)
    key = "atlas/curated/presence/platform=twitch/date=2026-11-01/part-000000-ext.parquet"
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=buf.getvalue())  # type: ignore[attr-defined]
    lake = Lake.open(f"s3://{s3_bucket}/atlas")
    assert lake.exists("curated/presence")
    assert lake.list_files("curated") == [key.removeprefix("atlas/")]
    got = lake.read("presence")
    assert got.num_rows == 2
    assert set(got.column("date").to_pylist()) == {"2026-11-01"}


def test_publishing_never_replaces_an_object(s3_bucket: str, s3_client: object) -> None:
    """Data files are published create-only: an existing object is never replaced."""
    lake = Lake.open(f"s3://{s3_bucket}/atlas")
    rel = "curated/presence/platform=twitch/date=2026-11-01/part-x.parquet"
    lake.write_bytes("_staging/t/a", b"first")
    lake.write_bytes("_staging/t/b", b"second")
    assert lake.link_if_absent("_staging/t/a", rel) is True
    assert lake.link_if_absent("_staging/t/b", rel) is False
    assert lake.read_bytes(rel) == b"first"
    assert lake.link_if_absent("_staging/t/gone", rel + "2") is None
    # Ordinary files overwrite, as a local rename does.
    lake.write_bytes("analysis/latest.json", b"1")
    lake.write_bytes("analysis/latest.json", b"2")
    assert lake.read_bytes("analysis/latest.json") == b"2"


def test_missing_bucket_is_a_lake_error(s3_env: str) -> None:
    lake = Lake.open("s3://no-such-bucket-here/atlas")
    with pytest.raises(LakeError, match="no-such-bucket-here"):
        lake.write_bytes("x.txt", b"1")


def test_duckdb_scans_s3_without_httpfs(s3_bucket: str) -> None:
    lake = Lake.open(f"s3://{s3_bucket}/atlas")
    lake.write("presence", presence(ROWS))
    con = lake.connect()
    try:
        exts = con.execute(
            "SELECT count(*) FROM duckdb_extensions() WHERE extension_name = 'httpfs' AND loaded"
        ).fetchall()
        assert exts == [(0,)]
        n = con.execute("SELECT count(*) FROM presence WHERE date = '2026-11-02'").fetchall()
        assert n == [(2,)]
    finally:
        con.close()


def test_big_file_single_put(s3_bucket: str, s3_client: object) -> None:
    """A file larger than pyarrow's multipart threshold still lands as one object."""
    lake = Lake.open(f"s3://{s3_bucket}/atlas")
    n = 200_000
    big = pa.table(
        {
            "ts": pa.array([datetime(2026, 11, 1, tzinfo=UTC)] * n, pa.timestamp("us", "UTC")),
            "channel": ["c"] * n,
            "user": [f"u{i:07d}-{'x' * 40}" for i in range(n)],
            "user_id": pa.array([None] * n, pa.string()),
            "source": ["irc"] * n,
            "messages": pa.array([0] * n, pa.int32()),
            "platform": ["twitch"] * n,
        }
    )
    result = lake.write("presence", big)
    keys = bucket_keys(s3_client, s3_bucket)
    assert list(keys) == [f"atlas/{result.files[0]}"]
    assert lake.read("presence").num_rows == n


def test_unreachable_endpoint_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dead endpoint: the CLI says so in one line (exit 2), no traceback, no hang."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    for key, value in {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    from vieweratlas.cli import main

    for args in (["lake", "check"], ["sql", "SELECT count(*) FROM presence"]):
        with pytest.raises(SystemExit) as exc:
            main([*args, "--lake", "s3://some-bucket/lake"])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert "Traceback" not in err
