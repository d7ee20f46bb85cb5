"""The Spark graph engine: the same channel graph as the local engine, built with PySpark.

For lakes past one machine. Spark reads the lake's presence Parquet (Hive partitions
``platform=…/date=…``) directly, removes bots with the same rules, counts the shared
viewers of every pair of eligible channels with a self-join on the viewer, and hands the
pair counts — small: channels, not viewers — to the driver, where
:func:`~vieweratlas.analysis.overlap.select_edges` (the local engine's own code) picks the
edges. Both engines therefore give the same edges on the same data (a test checks it).

Skew. A viewer in ``k`` channels makes ``k·(k-1)/2`` pairs, all keyed by that viewer. The
bot rules run first, and they bound every kept viewer to at most
``max(bots.min_channels, bots.max_channel_share × channels)`` channels, so no viewer can
explode the join; what remains uneven (big channels' viewers) is split by Spark's adaptive
skew-join handling, which cuts oversized join partitions into salted sub-partitions.

Community viewers. The graph carries ``group_viewers``: after the communities are found on
the driver, one more Spark job counts each community's distinct viewers exactly, from the
cached viewer rows (see :func:`_group_viewers`).

Settings: ``analysis.spark.master`` (default ``local[*]``; empty when ``spark-submit``
starts the driver, as on EMR Serverless, so that its master and memory hold),
``analysis.spark.conf`` (any Spark option, e.g. executor memory). S3 lakes are read as
``s3a://`` (the cluster needs the hadoop-aws connector, as EMR has).
"""

from __future__ import annotations

import logging
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from vieweratlas.analysis.bots import shipped_blocklist
from vieweratlas.analysis.graph import ChannelGraph, GraphStats, GroupViewers
from vieweratlas.analysis.overlap import edge_options, select_edges
from vieweratlas.config import Settings
from vieweratlas.errors import AnalysisError, ConfigError
from vieweratlas.lake import Lake
from vieweratlas.lake.schema import TABLES
from vieweratlas.timings import Timings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

REASONS = ("blocklist", "channel_share", "concurrency")


def spark_session(settings: Settings) -> SparkSession:
    """A Spark session for ``settings`` (created once per process, reused after)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            "engine 'spark' needs PySpark: install vieweratlas[spark] (and Java 17)"
        ) from None
    cfg = settings.analysis.spark
    builder = SparkSession.builder.appName("vieweratlas")
    if cfg.master:  # empty: spark-submit (a cluster, EMR) has set the master and memory
        builder = builder.master(cfg.master).config("spark.driver.memory", cfg.driver_memory)
    builder = (
        builder.config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.adaptive.skewJoin.enabled", "true")
        .config("spark.sql.shuffle.partitions", str(cfg.shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    for key, value in cfg.conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    # A session outlives one analysis (JVM start-up is seconds); settings that may change
    # between analyses are applied to it every time.
    session.conf.set("spark.sql.shuffle.partitions", str(cfg.shuffle_partitions))
    return session


def lake_uri(lake: Lake) -> str:
    """Where Spark reads the lake: a local folder as is, S3 through the s3a connector."""
    if lake.is_local:
        return lake.root
    url = lake.url.rstrip("/")
    return "s3a://" + url.removeprefix("s3://") if url.startswith("s3://") else url


class SparkEngine:
    """Builds the channel graph with PySpark; see the module docstring."""

    name = "spark"

    def build(self, lake: Lake, settings: Settings, timings: Timings) -> ChannelGraph:
        from pyspark.sql import functions as F

        cfg = settings.analysis
        with timings.stage("spark_start"):
            spark = spark_session(settings)
        with timings.stage("read"):
            rows = self._presence(spark, lake, settings)
            # One row per key, whatever the files hold.
            rows = rows.dropDuplicates(["ts", "platform", "channel", "user"]).cache()
            overview = rows.agg(
                F.count(F.lit(1)).alias("rows"),
                F.countDistinct("ts").alias("snapshots"),
                F.countDistinct("platform", "channel").alias("channels"),
                F.countDistinct("platform", "user").alias("users"),
                F.min("ts").alias("start"),
                F.max("ts").alias("end"),
            ).first()
            if overview is None or not overview["rows"]:
                raise AnalysisError(f"lake {lake.url}: no presence rows in the selected window")
        with timings.stage("bots"):
            per_user = rows.groupBy("platform", "user").agg(
                F.countDistinct("channel").alias("channels")
            )
            n_channels, users = int(overview["channels"]), int(overview["users"])
            bots = self._bots(rows, per_user, settings, n_channels, overview["snapshots"])
            bots_table = _arrow(bots).sort_by([("channels", "descending"), ("user", "ascending")])
            humans = rows.join(bots.select("platform", "user"), ["platform", "user"], "left_anti")
            pairs_uc = humans.select("platform", "user", "channel").distinct().cache()
        with timings.stage("overlap"):
            viewers = _arrow(pairs_uc.groupBy("platform", "channel").agg(F.count("*").alias("n")))
            viewers = viewers.sort_by([("platform", "ascending"), ("channel", "ascending")])
            n = viewers["n"].to_numpy().astype(np.int64)
            if cfg.viewer_weight == "loyalty":
                log.warning(
                    "analysis.viewer_weight=loyalty: local engine only; spark uses presence"
                )
            # Every eligible channel is analysed; max_channels only limits the drawing.
            eligible = np.flatnonzero(n >= cfg.min_channel_viewers)
            take = pa.array(eligible, pa.int64())
            nodes = pa.table(
                {
                    "platform": viewers["platform"].take(take),
                    "channel": viewers["channel"].take(take),
                    "idx": pa.array(np.arange(len(eligible), dtype=np.int64)),
                }
            )
            index = _frame(spark, nodes)
            kept = pairs_uc.join(F.broadcast(index), ["platform", "channel"]).select(
                "platform", "user", "idx"
            )
            kept = kept.repartition("platform", "user").cache()
            users_any = kept.select("platform", "user").distinct().count()
            left, right = kept.alias("l"), kept.alias("r")
            counted = (
                left.join(
                    right,
                    (F.col("l.platform") == F.col("r.platform"))
                    & (F.col("l.user") == F.col("r.user"))
                    & (F.col("l.idx") < F.col("r.idx")),
                )
                .groupBy(F.col("l.idx").alias("a"), F.col("r.idx").alias("b"))
                .agg(F.count("*").alias("shared"))
                .cache()
            )
            pairs = counted.count()
            candidates = _arrow(counted.where(F.col("shared") >= cfg.overlap_threshold))
            chosen = select_edges(
                candidates["a"].to_numpy().astype(np.int64),
                candidates["b"].to_numpy().astype(np.int64),
                candidates["shared"].to_numpy().astype(np.int64),
                n[eligible],
                users=users_any,
                pairs=pairs,
                **edge_options(cfg, len(eligible)),
            )
            for frame in (rows, pairs_uc, counted):
                frame.unpersist()
        stats = GraphStats(
            presence_rows=int(overview["rows"]),
            snapshots=int(overview["snapshots"]),
            users=int(users),
            users_kept=int(users) - bots_table.num_rows,
            channels_seen=int(n_channels),
            channels_eligible=len(eligible),
            pairs_with_any_overlap=pairs,
            threshold_used=chosen.threshold,
            window_start=overview["start"],
            window_end=overview["end"],
        )
        reasons = {r: 0 for r in REASONS}
        for r in bots_table["reason"].to_pylist():
            reasons[r] += 1
        examples = {
            r: bots_table.filter(pa.compute.equal(bots_table["reason"], r))["user"]
            .slice(0, 20)
            .to_pylist()
            for r in REASONS
        }
        return ChannelGraph(
            platform=nodes["platform"],
            channel=nodes["channel"],
            viewers=chosen.viewers,
            src=chosen.src,
            dst=chosen.dst,
            shared=chosen.shared,
            weight=chosen.weight,
            stats=stats,
            bots=bots_table,
            bot_reasons=reasons,
            bot_examples=examples,
            incidence=None,
            group_viewers=_group_viewers(spark, kept, nodes),
        )

    def _presence(self, spark: SparkSession, lake: Lake, settings: Settings) -> DataFrame:
        from pyspark.sql import functions as F

        cfg = settings.analysis
        base = f"{lake_uri(lake)}/{TABLES['presence'].path}"
        if lake.is_local and not Path(base).is_dir():
            raise AnalysisError(f"lake {lake.url}: no presence table")
        frame = (
            spark.read.option("basePath", base)
            .option("recursiveFileLookup", "false")
            .parquet(base)
            .select("ts", F.col("platform").cast("string").alias("platform"), "channel", "user")
        )
        if cfg.platforms:
            frame = frame.where(F.col("platform").isin(list(cfg.platforms)))
        if cfg.since is not None:
            frame = frame.where(F.col("ts") >= F.lit(cfg.since))
        if cfg.until is not None:
            frame = frame.where(F.col("ts") < F.lit(cfg.until))
        return frame

    def _bots(
        self,
        rows: DataFrame,
        per_user: DataFrame,
        settings: Settings,
        n_channels: int,
        snapshots: int,
    ) -> DataFrame:
        """``platform, user, reason, channels`` of every account removed (first reason)."""
        from pyspark.sql import functions as F

        cfg = settings.analysis.bots
        names = set(cfg.extra)
        if cfg.blocklist:
            names |= shipped_blocklist()
        share_limit = max(cfg.min_channels, cfg.max_channel_share * n_channels)
        flagged = per_user.withColumn(
            "listed", F.col("user").isin(sorted(names)) if names else F.lit(False)
        ).withColumn("share", F.col("channels") > F.lit(share_limit))
        if snapshots > 1:
            busy = (
                rows.join(
                    per_user.where(F.col("channels") > cfg.max_concurrent).select(
                        "platform", "user"
                    ),
                    ["platform", "user"],
                )
                .groupBy("platform", "user", "ts")
                .count()
                .where(F.col("count") > cfg.max_concurrent)
                .select("platform", "user")
                .distinct()
                .withColumn("busy", F.lit(True))
            )
            flagged = flagged.join(busy, ["platform", "user"], "left").fillna(
                False, subset=["busy"]
            )
        else:
            flagged = flagged.withColumn("busy", F.lit(False))
        reason = (
            F.when(F.col("listed"), "blocklist")
            .when(F.col("share"), "channel_share")
            .when(F.col("busy"), "concurrency")
        )
        return (
            flagged.withColumn("reason", reason)
            .where(F.col("reason").isNotNull())
            .select("user", "platform", "reason", F.col("channels").cast("long"))
        )


def _group_viewers(spark: SparkSession, kept: DataFrame, nodes: pa.Table) -> GroupViewers:
    """Exact unique viewers per group of channels (a community's ``viewers``): the kept
    ``(platform, user, idx)`` rows joined to each channel's group, ``countDistinct`` per
    group — one more shuffle of the viewer rows, exact rather than a HyperLogLog estimate.
    ``kept`` stays cached for it and is released when the counter is garbage-collected."""
    from pyspark.sql import functions as F

    def count(groups: pa.Table) -> dict[int, int]:
        table = groups.select(["platform", "channel", "group"]).join(
            nodes, ["platform", "channel"], join_type="inner"
        )
        if table.num_rows == 0:
            return {}
        frame = _frame(spark, table.select(["idx", "group"]))
        counted = (
            kept.join(F.broadcast(frame), "idx")
            .groupBy("group")
            .agg(F.countDistinct("platform", "user").alias("n"))
        )
        got = _arrow(counted)
        return dict(zip(got["group"].to_pylist(), got["n"].to_pylist(), strict=True))

    weakref.finalize(count, kept.unpersist)
    return count


def _frame(spark: SparkSession, table: pa.Table) -> DataFrame:
    """A (small) Arrow table as a Spark frame: directly on Spark 4, through pandas on
    Spark 3.5 (EMR 7's; its job image installs pandas)."""
    if int(spark.version.split(".")[0]) >= 4:
        return spark.createDataFrame(table)
    return spark.createDataFrame(table.to_pandas())  # pragma: no cover - Spark 3.5


def _arrow(frame: DataFrame) -> pa.Table:
    """A (small) Spark result on the driver as an Arrow table."""
    table: Any = frame.toArrow() if hasattr(frame, "toArrow") else None
    if table is None:  # pragma: no cover - PySpark < 4
        table = pa.Table.from_pandas(frame.toPandas(), preserve_index=False)
    out: pa.Table = table
    return out
