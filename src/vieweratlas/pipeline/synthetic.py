"""Generated data sets in the lake: writing them with their planted truth, and scoring a
run's communities against that truth."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from vieweratlas.analysis.quality import nmi
from vieweratlas.csvsafe import safe_csv_bytes
from vieweratlas.lake import Lake
from vieweratlas.lake.schema import creator_rows
from vieweratlas.synth import SynthData, SynthStream


def write_synthetic(lake: Lake, data: SynthData) -> dict[str, int]:
    """Write a generated data set and its planted truth (``synthetic/``) into the lake."""
    presence = lake.write("presence", data.presence)
    channels = lake.write("channels", data.channels)
    if data.creators is not None and data.creators.num_rows:
        lake.write("creators", creator_rows(data.creators))
    lake.write_bytes("synthetic/truth.csv", safe_csv_bytes(data.truth))
    lake.write_bytes("synthetic/manifest.json", data.manifest_json())
    return {"presence_rows": presence.rows_written, "channel_rows": channels.rows_written}


def write_synthetic_stream(lake: Lake, data: SynthStream, snapshots: int) -> dict[str, int]:
    """:func:`write_synthetic` for a streamed data set: one lake write per ``snapshots``
    consecutive snapshots (parts never overlap in time), so memory is one part's."""
    rows = 0
    for part in data.parts(snapshots):
        rows += lake.write("presence", part).rows_written
    channels = lake.write("channels", data.channels)
    lake.write_bytes("synthetic/truth.csv", safe_csv_bytes(data.truth))
    manifest = json.dumps(data.manifest(rows), indent=2).encode()
    lake.write_bytes("synthetic/manifest.json", manifest)
    return {"presence_rows": rows, "channel_rows": channels.rows_written}


def planted_nmi(lake: Lake, nodes: pa.Table) -> float | None:
    """NMI of a run's communities against the lake's planted truth, if it has one."""
    if not lake.exists("synthetic/truth.csv"):
        return None
    truth = pacsv.read_csv(pa.BufferReader(lake.read_bytes("synthetic/truth.csv")))
    idx = pc.index_in(nodes["channel"], value_set=truth["channel"])
    known = pc.is_valid(idx)
    planted = truth["community"].take(idx.filter(known)).to_numpy()
    found = nodes["community"].filter(known).to_numpy()
    return nmi(planted, found)
